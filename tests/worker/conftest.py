"""Every worker test runs with the state table enforced (see tests/transitions.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _transitions(transitions_checked: object) -> object:
    return transitions_checked
