"""Test doubles shared by several test modules."""

from __future__ import annotations


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it), so no assertion depends
    on how fast the machine is. Install with ``clock.set_clock(fake)`` and patch a module's sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
