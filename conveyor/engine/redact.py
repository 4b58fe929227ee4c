"""Redaction of secrets in job arguments.

Job arguments often carry credentials (an API token for a shop, a password for an SFTP feed). Whatever
shows arguments to a person — the API, the dashboard, the CLI, log lines — passes them through
:func:`redact` first. The stored job keeps the real values: the task needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REDACTED = "[redacted]"


def _secret(key: str, needles: Sequence[str]) -> bool:
    k = key.lower()
    return any(n and n in k for n in needles)


def redact(value: Any, keys: Sequence[str]) -> Any:
    """A copy of ``value`` where every mapping entry whose key contains one of ``keys`` (case-insensitive)
    is replaced by ``"[redacted]"``, at any depth of nested dicts and lists."""
    needles = [k.lower() for k in keys]
    return _walk(value, needles)


def _walk(value: Any, needles: Sequence[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _secret(str(k), needles) else _walk(v, needles) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, needles) for v in value]
    return value
