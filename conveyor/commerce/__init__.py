"""The commerce pack: sync pipelines between shop platforms and the back-office database.

Built only on Conveyor's public API (``conveyor``): if something here needs an internal, the public API is
missing a piece.
"""
