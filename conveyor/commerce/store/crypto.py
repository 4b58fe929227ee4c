"""Shop credentials encrypted at rest with a key from the configuration.

Credentials (API tokens, OAuth tokens, client secrets) are stored as a Fernet token of their JSON: AES-128
in CBC mode with an HMAC-SHA256, so a wrong key or a tampered value fails loudly instead of decrypting to
garbage. The key never lives in the database: it comes from ``CONVEYOR_COMMERCE_SECRET_KEY`` or is passed
explicitly, and a database dump alone reveals no token.

Key rotation: the variable may hold several comma-separated keys. The first encrypts; every key is tried
when decrypting, so credentials written with an old key keep working until :func:`rotate_credentials`
(in :mod:`conveyor.commerce.store.shops`) re-encrypts them with the new one.

Generate a key with ``python -c "from conveyor.commerce.store.crypto import generate_key; print(generate_key())"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from conveyor.commerce.store.errors import CredentialsKeyError

KEY_ENV = "CONVEYOR_COMMERCE_SECRET_KEY"


def generate_key() -> str:
    """A new random key (32 bytes, url-safe base64) for ``CONVEYOR_COMMERCE_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


class CredentialCipher:
    """Encrypts and decrypts shop credentials with one key (or several, during a rotation).

    ``CredentialCipher()`` reads ``CONVEYOR_COMMERCE_SECRET_KEY``; ``CredentialCipher("key")`` or
    ``CredentialCipher(["new", "old"])`` uses the given keys. A missing or malformed key raises
    :class:`CredentialsKeyError` here, before anything is written.
    """

    def __init__(self, keys: str | Sequence[str] | None = None) -> None:
        if keys is None:
            keys = os.environ.get(KEY_ENV, "")
        if isinstance(keys, str):
            keys = keys.split(",")
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise CredentialsKeyError(
                f"no key to encrypt shop credentials: set {KEY_ENV} (generate one with "
                "`python -c 'from conveyor.commerce.store.crypto import generate_key; print(generate_key())'`)"
            )
        fernets = []
        for n, key in enumerate(cleaned, 1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                # Never echo the key itself: it may be a real key with one character wrong.
                raise CredentialsKeyError(
                    f"key #{n} for shop credentials is malformed: it must be 32 bytes of url-safe base64 "
                    f"(44 characters), as generate_key() makes; check {KEY_ENV}"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, credentials: Mapping[str, Any]) -> str:
        """The credentials as a token to store (ASCII; different on every call, as Fernet adds a random IV)."""
        plain = json.dumps(dict(credentials), separators=(",", ":"), sort_keys=True)
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> dict[str, Any]:
        """The credentials stored as ``token``; :class:`CredentialsKeyError` if no configured key opens it."""
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise CredentialsKeyError(
                f"the shop credentials cannot be decrypted: the configured key ({KEY_ENV}, or the key passed in) "
                "is not the key they were stored with (during a key change, list the new key first and the old "
                "one after it, comma-separated)"
            ) from None
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise CredentialsKeyError("the decrypted shop credentials are not a JSON object")
        return value

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key (it may have been written with any configured key)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise CredentialsKeyError(
                f"the shop credentials cannot be decrypted with any key in {KEY_ENV}, so they cannot be "
                "re-encrypted: add the key they were stored with after the new one"
            ) from None
