"""Secrets in job arguments are redacted wherever a person sees them."""

from __future__ import annotations

from conveyor.engine.redact import REDACTED, redact, restore_redacted

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


def test_the_default_keys_match_whatever_the_case_and_separators() -> None:
    from conveyor.config import Settings

    keys = Settings().redact_keys
    value = {
        "apiKey": "a",
        "API-KEY": "b",
        "Authorization": "Bearer c",
        "passwd": "d",
        "private_key": "e",
        "privateKey": "f",
        "credentials": {"user": "u", "pass": "g"},
        "db.password": "h",
        "shop": "acme",
    }
    out = redact(value, keys)
    assert [k for k, v in out.items() if v != REDACTED] == ["shop"]


def test_configured_keys_are_matched_ignoring_their_own_separators() -> None:
    assert redact({"sftpPassphrase": "x", "sftp_user": "u"}, ["SFTP-passphrase"]) == {
        "sftpPassphrase": REDACTED,
        "sftp_user": "u",
    }


def test_a_redacted_placeholder_sent_back_keeps_the_stored_secret() -> None:
    stored = {"password": "hunter2", "chunk": 250, "sftp": {"token": "t0k", "host": "h"}, "accounts": [{"secret": "s"}]}
    edited = {**redact(stored, KEYS), "chunk": 300}
    edited["sftp"] = {**edited["sftp"], "host": "h2"}
    assert restore_redacted(edited, stored, KEYS) == {
        "password": "hunter2",
        "chunk": 300,
        "sftp": {"token": "t0k", "host": "h2"},
        "accounts": [{"secret": "s"}],
    }


def test_a_new_secret_replaces_the_stored_one_and_a_placeholder_with_nothing_stored_is_dropped() -> None:
    stored = {"password": "old"}
    assert restore_redacted({"password": "new", "token": REDACTED}, stored, KEYS) == {"password": "new"}


def test_the_placeholder_under_a_key_that_is_not_secret_is_a_plain_value() -> None:
    assert restore_redacted({"note": REDACTED}, {"note": "x"}, KEYS) == {"note": REDACTED}
