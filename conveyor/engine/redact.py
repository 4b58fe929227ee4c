"""Redaction of secrets in job arguments.

Job arguments often carry credentials (an API token for a shop, a password for an SFTP feed). Whatever
shows arguments to a person — the API, the dashboard, the CLI, log lines — passes them through
:func:`redact` first. The stored job keeps the real values: the task needs them.

A key is secret when, with case and separators (``_``, ``-``, ``.``, spaces) ignored, it contains one of the
configured keys: with the default ``api_key``, ``apiKey``, ``API-KEY`` and ``shop_api_key`` all match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "[redacted]"

#: The default of ``Settings.redact_keys`` (``CONVEYOR_REDACT_KEYS``).
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "authorization",
    "private_key",
    "credential",
)

_SEPARATORS = re.compile(r"[\s_.\-]+")


def normalize_key(key: str) -> str:
    """``"Private-Key"`` -> ``"privatekey"``: what key matching compares."""
    return _SEPARATORS.sub("", key).lower()


def is_secret_key(key: str, keys: Sequence[str]) -> bool:
    """Whether values under ``key`` are redacted with the configured ``keys``."""
    return _secret(key, [normalize_key(k) for k in keys])


def _secret(key: str, needles: Sequence[str]) -> bool:
    k = normalize_key(key)
    return any(n and n in k for n in needles)


def redact(value: Any, keys: Sequence[str]) -> Any:
    """A copy of ``value`` where every mapping entry whose key contains one of ``keys`` (ignoring case and
    separators) is replaced by ``"[redacted]"``, at any depth of nested dicts and lists."""
    needles = [normalize_key(k) for k in keys]
    return _walk(value, needles)


def _walk(value: Any, needles: Sequence[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _secret(str(k), needles) else _walk(v, needles) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, needles) for v in value]
    return value


_MISSING = object()


def restore_redacted(edited: Mapping[str, Any], stored: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``edited`` (a redacted mapping a person changed and sent back) with every secret entry that still
    reads ``"[redacted]"`` taken from ``stored`` instead: the placeholder means "unchanged", never a new
    value. A placeholder with nothing stored under its key is dropped."""
    needles = [normalize_key(k) for k in keys]
    out = _restore(edited, stored, needles)
    assert isinstance(out, dict)
    return out


def _restore(edited: Any, stored: Any, needles: Sequence[str]) -> Any:
    if isinstance(edited, list):
        olds = stored if isinstance(stored, list) else []
        return [_restore(v, olds[i] if i < len(olds) else None, needles) for i, v in enumerate(edited)]
    if not isinstance(edited, dict):
        return edited
    before = stored if isinstance(stored, dict) else {}
    out: dict[str, Any] = {}
    for k, v in edited.items():
        old = before.get(k, _MISSING)
        if v == REDACTED and _secret(str(k), needles):
            if old is not _MISSING:
                out[k] = old
            continue
        out[k] = _restore(v, None if old is _MISSING else old, needles)
    return out
