"""Shoptet: API client, a faithful simulator of the API, importers and pipelines."""
