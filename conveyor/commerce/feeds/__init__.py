"""Supplier feeds: download a supplier's CSV/XML feed, parse it as a stream, map its columns, and store what
each supplier has (stock, delivery days, purchase price) on the catalogue items it is linked to.

Same shape as every connector: :mod:`.client` (download), :mod:`.parsing` (formats, encodings, value rules),
:mod:`.simulator` (a supplier serving realistic feeds, with faults), :mod:`.pipelines` (import runs and
linking as jobs), store records in :mod:`conveyor.commerce.store`, pages in :mod:`conveyor.commerce.web`.
"""
