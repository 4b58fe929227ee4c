"""Coordination: named locks, job locks and unique jobs, rate limits, batches and progress."""
