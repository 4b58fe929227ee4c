"""Secrets in job arguments are redacted wherever a person sees them."""

from __future__ import annotations

from conveyor.engine.redact import REDACTED, redact

KEYS = ["password", "token", "secret", "api_key"]


def test_keys_containing_a_secret_word_are_redacted_at_any_depth() -> None:
    args = [{"shop": 1, "Password": "x", "auth": {"access_token": "t", "user": "u"}}, [{"client_secret": "s"}]]
    assert redact(args, KEYS) == [
        {"shop": 1, "Password": REDACTED, "auth": {"access_token": REDACTED, "user": "u"}},
        [{"client_secret": REDACTED}],
    ]


def test_values_are_never_matched_and_the_original_is_untouched() -> None:
    kwargs = {"note": "my password is long", "token": "abc"}
    assert redact(kwargs, KEYS) == {"note": "my password is long", "token": REDACTED}
    assert kwargs["token"] == "abc"


def test_no_keys_redacts_nothing() -> None:
    assert redact({"password": "x"}, []) == {"password": "x"}
