"""Rate limits shared by every worker: a token bucket per key, stored in ``conveyor_rate_limits``.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per ``per`` seconds; each call
takes one. The row keeps only ``tokens`` and ``updated_at``: the refill since ``updated_at`` is
computed when the bucket is next touched, so an idle bucket costs nothing and needs no timer.

Each attempt is one short transaction, run by the driver (``rate_limit_take``; the SQL and the refill
are in :mod:`conveyor.store.queries.rate_limits`), that reads the row under a row lock, refills, and
takes a token if there is one. When there is none it returns how long until there will be, and this
module sleeps *outside* the transaction, so waiting callers hold no locks. Keys may be templates
(``"shoptet:{shop}"``) filled from a decorated function's arguments or :meth:`RateLimit.bind`.

Refill is judged by the clients' clocks (:mod:`conveyor.engine.clock`); a clock behind the one that
last touched the bucket simply refills nothing until it catches up.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import re
import string
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from conveyor.engine import clock
from conveyor.errors import KeyTemplateError

if TYPE_CHECKING:
    from conveyor.app import Conveyor

P = ParamSpec("P")
R = TypeVar("R")

#: How a blocked caller waits; tests replace these (with functions that move a fake clock).
_sleep: Callable[[float], None] = time.sleep
_async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"rate limit {name} must be a number > 0, got {value!r}")
    return float(value)


def _template_fields(key: str) -> list[str]:
    """The argument names a key template refers to (``"shop:{shop.id}"`` -> ``["shop"]``)."""
    try:
        parsed = list(string.Formatter().parse(key))
    except ValueError as exc:
        raise KeyTemplateError(f"rate limit key {key!r} is not a valid template: {exc}") from None
    names: list[str] = []
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = re.split(r"[.\[]", field, maxsplit=1)[0]
        if not root.isidentifier():
            raise KeyTemplateError(
                f"rate limit key {key!r}: placeholders must name an argument, e.g. {{shop}} (got {{{field}}})"
            )
        if root not in names:
            names.append(root)
    return names


class RateLimit:
    """A token bucket shared through the database. Create it with :meth:`Conveyor.rate_limit`.

    ``with limiter:`` (or ``async with``) blocks until a permit is available; ``@limiter`` does the
    same around every call of a sync or async function, filling ``{placeholders}`` in the key from the
    call's arguments. :meth:`acquire`, :meth:`try_acquire` and :meth:`wait_time` are the parts.
    """

    def __init__(self, app: Conveyor, key: str, *, rate: float, per: float = 1.0, burst: int | None = None) -> None:
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"a rate limit key must be a non-empty string, got {key!r}")
        self.app = app
        self.key = key
        self.rate = _positive("rate", rate)
        self.per = _positive("per", per)
        if burst is None:
            self.burst = max(1.0, self.rate)
        elif isinstance(burst, bool) or not isinstance(burst, int | float) or not math.isfinite(burst) or burst < 1:
            raise ValueError(f"rate limit burst must be a number >= 1 (permits at once), got {burst!r}")
        else:
            self.burst = float(burst)
        self.fields = _template_fields(key)
        if not self.fields:
            self._check_length(key)

    def __repr__(self) -> str:
        return f"<RateLimit {self.key!r} {self.rate:g}/{self.per:g}s burst {self.burst:g}>"

    @staticmethod
    def _check_length(key: str) -> None:
        if len(key) > 255:
            raise ValueError(f"a rate limit key is at most 255 characters, got {len(key)}: {key[:40]!r}…")

    # ------------------------------------------------------------------ templates
    def bind(self, **values: Any) -> RateLimit:
        """This limiter with its key template filled: ``app.rate_limit("shop:{shop}", rate=3).bind(shop="acme")``.
        Raises :class:`~conveyor.errors.KeyTemplateError` naming a placeholder that has no value."""
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise KeyTemplateError(
                f"rate limit key {self.key!r} needs a value for {', '.join(missing)}: "
                f"pass {', '.join(f'{m}=...' for m in missing)} to bind()"
            )
        try:
            key = self.key.format_map(values)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise KeyTemplateError(f"rate limit key {self.key!r} cannot be filled: {exc!r}") from None
        self._check_length(key)
        bound = RateLimit.__new__(RateLimit)
        bound.app, bound.key, bound.rate, bound.per, bound.burst, bound.fields = (
            self.app,
            key,
            self.rate,
            self.per,
            self.burst,
            [],
        )
        return bound

    def _concrete(self) -> RateLimit:
        if self.fields:
            raise KeyTemplateError(
                f"rate limit key {self.key!r} has placeholders ({', '.join(self.fields)}): "
                "use limiter.bind(...) or decorate a function whose arguments fill them"
            )
        return self

    # ------------------------------------------------------------------ the bucket
    def _take(self) -> float:
        """One transaction: refill, take a token if one is there. 0.0 if taken, else seconds to wait."""
        return self.app.driver.rate_limit_take(
            self.key, rate=self.rate, per=self.per, burst=self.burst, now=clock.now()
        )

    def try_acquire(self) -> bool:
        """Take a permit if one is available now; never waits."""
        return self._concrete()._take() == 0.0

    def wait_time(self) -> float:
        """Seconds until a permit is available (0.0: now). Takes nothing, so it is only a hint when
        others use the same bucket."""
        limiter = self._concrete()
        return self.app.driver.rate_limit_wait(
            limiter.key, rate=limiter.rate, per=limiter.per, burst=limiter.burst, now=clock.now()
        )

    def acquire(self, timeout: float | None = None) -> None:
        """Take a permit, sleeping while there is none. With ``timeout``, raises ``TimeoutError`` as
        soon as it is clear that no permit will come within ``timeout`` seconds."""
        limiter = self._concrete()
        deadline = None if timeout is None else clock.now() + timeout
        while (wait := limiter._take()) > 0.0:
            _sleep(limiter._check_deadline(wait, deadline))

    async def acquire_async(self, timeout: float | None = None) -> None:
        """:meth:`acquire` for coroutines: the database call runs in a thread, the wait is async."""
        limiter = self._concrete()
        deadline = None if timeout is None else clock.now() + timeout
        while (wait := await asyncio.to_thread(limiter._take)) > 0.0:
            await _async_sleep(limiter._check_deadline(wait, deadline))

    def _check_deadline(self, wait: float, deadline: float | None) -> float:
        if deadline is not None and clock.now() + wait > deadline:
            raise TimeoutError(
                f"rate limit {self.key!r}: no permit within the timeout (next in {wait:.3f}s; "
                f"{self.rate:g} per {self.per:g}s)"
            )
        return wait

    # ------------------------------------------------------------------ context manager, decorator
    def __enter__(self) -> RateLimit:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Nothing to give back: a permit is spent when taken."""

    async def __aenter__(self) -> RateLimit:
        await self.acquire_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Nothing to give back: a permit is spent when taken."""

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function: every call first takes a permit from the bucket whose
        key is this template filled from the call's arguments (defaults included)."""
        sig = inspect.signature(fn)
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        unknown = [f for f in self.fields if f not in sig.parameters]
        if unknown and not takes_any:
            raise KeyTemplateError(
                f"rate limit key {self.key!r} names {', '.join(unknown)}, which {fn.__qualname__}() has no "
                f"argument for (its arguments: {', '.join(sig.parameters) or 'none'})"
            )

        def for_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RateLimit:
            if not self.fields:
                return self
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            for p in sig.parameters.values():
                if p.kind is inspect.Parameter.VAR_KEYWORD:
                    values.update(values.pop(p.name, {}))
            missing = [f for f in self.fields if f not in values]
            if missing:
                raise KeyTemplateError(
                    f"rate limit key {self.key!r}: the call of {fn.__qualname__}() has no argument {', '.join(missing)}"
                )
            return self.bind(**values)

        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                await for_call(args, kwargs).acquire_async()
                return await afn(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for_call(args, kwargs).acquire()
            return fn(*args, **kwargs)

        return wrapper


__all__ = ["RateLimit"]
