"""Key templates (``"shop:{shop_id}"``) filled from a job's arguments, and unique-job rules."""

from __future__ import annotations

import inspect
import json
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import KeyTemplateError

_formatter = string.Formatter()

#: States in which a unique job blocks a duplicate, by default: while it waits or runs.
DEFAULT_UNIQUE_STATES = ("available", "scheduled", "executing", "retryable")
_ALL_STATES = {"available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled"}


@dataclass(frozen=True)
class Unique:
    """Enqueueing a duplicate returns the existing job's id and writes nothing.

    ``key``: template over the job's arguments (``"orders:{shop_id}"``); default: the task name and all
    its arguments. ``period``: seconds; duplicates are detected within aligned windows of this length
    (``None``: as long as the existing job is in one of ``states``). Enforced by a unique index, so it
    holds under concurrent enqueues from any number of processes.
    """

    key: str | None = None
    period: float | None = None
    states: Sequence[str] = field(default=DEFAULT_UNIQUE_STATES)

    def __post_init__(self) -> None:
        bad = set(self.states) - _ALL_STATES
        if bad or not self.states:
            raise ValueError(f"Unique.states must be job states, got {sorted(bad) or 'nothing'}")
        if self.period is not None and self.period <= 0:
            raise ValueError("Unique.period must be > 0 seconds (or None for no window)")

    @property
    def states_text(self) -> str:
        return "," + ",".join(sorted(set(self.states))) + ","


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in _formatter.parse(template) if name]


class KeyTemplate:
    """Fills ``{name}`` placeholders from the arguments a call binds to ``fn``'s signature."""

    def __init__(self, template: str, fn: Callable[..., Any], what: str, task: str) -> None:
        if not template:
            raise ValueError(f"{what} of task {task!r} must not be empty")
        self.template, self.what, self.task = template, what, task
        self.signature = inspect.signature(fn)
        self.fields = template_fields(template)
        known = set(self.signature.parameters)
        has_var_kw = any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())
        for name in self.fields:
            root = name.split(".")[0].split("[")[0]
            if root not in known and not has_var_kw:
                raise KeyTemplateError(self._missing(root))

    def _missing(self, name: str) -> str:
        params = ", ".join(self.signature.parameters) or "none"
        return (
            f"{self.what} {self.template!r} of task {self.task!r} names {name!r}, "
            f"which is not an argument of the task (arguments: {params})"
        )

    def render(self, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise KeyTemplateError(f"cannot build the {self.what} of task {self.task!r}: {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        for p in self.signature.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                values.update(values.pop(p.name, {}))
        try:
            return self.template.format(**values)
        except (KeyError, IndexError, AttributeError) as exc:
            raise KeyTemplateError(self._missing(str(exc).strip("'"))) from None


def default_unique_key(task: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    return f"{task}:{json.dumps([list(args), kwargs], sort_keys=True, separators=(',', ':'))}"


def with_period(key: str, period: float | None, now: float) -> str:
    """Align uniqueness to windows of ``period`` seconds (River's approach): one key per window."""
    if period is None:
        return key
    return f"{key}@{int(now // period)}"
