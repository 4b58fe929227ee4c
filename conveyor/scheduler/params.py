"""Validate a schedule's params against its task: the function's signature, with pydantic doing the types.

A parameter annotated with a pydantic model is validated by that model; ``**kwargs`` accepts extra keys.
Returned params are the validated values in JSON form ("24" for an ``int`` parameter becomes 24).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticSerializationError

from conveyor.engine.job import encode_payload
from conveyor.errors import ConveyorError
from conveyor.scheduler.errors import InvalidParamsError


@lru_cache(maxsize=1024)
def _model_for(fn: Callable[..., Any]) -> tuple[type[BaseModel], frozenset[str]] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    required: set[str] = set()
    extra = "forbid"
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            extra = "allow"
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        annotation = hints.get(p.name, Any)
        if p.default is p.empty:
            fields[p.name] = (annotation, ...)
            required.add(p.name)
        else:
            fields[p.name] = (annotation, p.default)
    config = ConfigDict(extra=extra, arbitrary_types_allowed=True)  # type: ignore[typeddict-item]
    model = create_model(f"Params_{getattr(fn, '__name__', 'task')}", __config__=config, **fields)
    return model, frozenset(required)


def validate_params(
    key: str, task_name: str, fn: Callable[..., Any] | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``params`` (the complete keyword arguments) against ``fn``; raise :class:`InvalidParamsError`."""
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise InvalidParamsError(f"schedule {key!r}: params must be a mapping of parameter names to values")
    if fn is None or (built := _model_for(fn)) is None:
        try:
            encode_payload(task_name or key, [], dict(params), 1 << 62)
        except ConveyorError as exc:
            raise InvalidParamsError(f"schedule {key!r}: {exc}") from None
        return dict(params)
    model, _required = built
    try:
        validated = model.model_validate(dict(params))
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e["loc"]) or "params"
            if e["type"] == "extra_forbidden":
                problems.append(f"{where}: the task has no such parameter")
            elif e["type"] == "missing":
                problems.append(f"{where}: required by the task but not given")
            else:
                problems.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
        raise InvalidParamsError(
            f"schedule {key!r}: params do not fit task {task_name!r}: " + "; ".join(problems)
        ) from None
    try:
        dumped = validated.model_dump(mode="json")
    except PydanticSerializationError as exc:
        raise InvalidParamsError(f"schedule {key!r}: params must be JSON-serialisable: {exc}") from None
    return {k: dumped[k] for k in params if k in dumped}
