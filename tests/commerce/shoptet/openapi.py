"""Shoptet's official OpenAPI file as a test oracle: validate what we send or receive against its schemas.

The file (``shoptet/developers`` openapi/openapi.yaml, ~54k lines) is found through, in order: the environment
variable ``CONVEYOR_SHOPTET_OPENAPI``; ``<repo>/../shared/specs/shoptet-openapi.yaml``;
``/work/shared/specs/shoptet-openapi.yaml``. Tests that need it are skipped, with the reason, when none exists.
It is parsed once per test process.

Schemas are turned into plain JSON Schema (draft 2020-12) before validation: ``$ref`` s are inlined (with their
sibling keywords, as OpenAPI 3.1 allows), and OpenAPI 3.0's ``nullable: true`` and boolean
``exclusiveMinimum``/``exclusiveMaximum`` are translated, so the helper works with 3.0 and 3.1 files alike.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

__all__ = ["component_schema", "load_spec", "response_schema", "spec_path", "validate_response", "validate_schema"]

_REPO = Path(__file__).resolve().parents[3]
_CANDIDATES = (
    _REPO.parent / "shared" / "specs" / "shoptet-openapi.yaml",
    Path("/work/shared/specs/shoptet-openapi.yaml"),
)
_spec: dict[str, Any] | None = None
_schemas: dict[tuple[str, ...], dict[str, Any]] = {}
_validators: dict[tuple[str, ...], jsonschema.protocols.Validator] = {}


def spec_path() -> Path | None:
    """Where the official spec is, or None."""
    env = os.environ.get("CONVEYOR_SHOPTET_OPENAPI")
    candidates = ([Path(env)] if env else []) + list(_CANDIDATES)
    return next((p for p in candidates if p.is_file()), None)


def load_spec() -> dict[str, Any]:
    """The parsed spec (cached for the process); skips the calling test when the file is missing."""
    global _spec
    if _spec is None:
        path = spec_path()
        if path is None:
            pytest.skip(
                "Shoptet's OpenAPI file not found: set CONVEYOR_SHOPTET_OPENAPI or put it at "
                + " or ".join(str(p) for p in _CANDIDATES)
            )
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses the 2 MB file in under a second
        with path.open(encoding="utf-8") as f:
            _spec = yaml.load(f, Loader=loader)
    return _spec


def _pointer(spec: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _to_json_schema(spec: dict[str, Any], node: Any, stack: tuple[str, ...] = ()) -> Any:
    """Inline refs and translate OpenAPI-only keywords, recursively."""
    if isinstance(node, list):
        return [_to_json_schema(spec, item, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in stack:  # a recursive schema: stop inlining, accept anything at the recursion point
            return {}
        target = _to_json_schema(spec, _pointer(spec, ref), (*stack, ref))
        siblings = {k: v for k, v in node.items() if k not in ("$ref", "description", "examples", "example")}
        if not siblings:
            return target
        return {"allOf": [target, _to_json_schema(spec, siblings, stack)]}
    out = {key: _to_json_schema(spec, value, stack) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        elif kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    return out


def _status_entry(responses: dict[Any, Any], status: int) -> Any:
    for key in (status, str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return responses[key]
    return None


def response_schema(method: str, path_template: str, status: int) -> dict[str, Any]:
    """The JSON Schema of one documented response, e.g. ``("GET", "/api/orders/{code}", 200)``.

    An error status the operation does not document is checked against Shoptet's general error envelope
    (``data`` null or object, ``errors`` per ``#/components/schemas/Errors``, ``metadata``), which every error
    response shares.
    """
    key = (method.lower(), path_template, str(status))
    if key in _schemas:
        return _schemas[key]
    spec = load_spec()
    try:
        operation = spec["paths"][path_template][method.lower()]
    except KeyError:
        raise AssertionError(f"{method.upper()} {path_template} is not in Shoptet's OpenAPI file") from None
    entry = _status_entry(operation.get("responses", {}), status)
    if entry is None:
        if status < 400:
            raise AssertionError(f"{method.upper()} {path_template} does not document status {status}")
        raw: Any = {
            "type": "object",
            "required": ["data", "errors", "metadata"],
            "properties": {
                "data": {"type": ["object", "null"]},
                "errors": {"allOf": [{"$ref": "#/components/schemas/Errors"}, {"type": "array", "minItems": 1}]},
                "metadata": {"$ref": "#/components/schemas/Metadata"},
            },
        }
    else:
        if "$ref" in entry:
            entry = _pointer(spec, entry["$ref"])
        content = entry.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        if media is None or "schema" not in media:
            raise AssertionError(f"{method.upper()} {path_template} {status} has no JSON schema in the spec")
        raw = media["schema"]
    schema = _to_json_schema(spec, copy.deepcopy(raw))
    _schemas[key] = schema
    return schema


def component_schema(name: str) -> dict[str, Any]:
    """A named schema from ``#/components/schemas``, e.g. ``orderSnapshot`` (one line of an orders snapshot)."""
    key = ("component", name)
    if key not in _schemas:
        spec = load_spec()
        if name not in spec["components"]["schemas"]:
            raise AssertionError(f"no component schema {name!r} in Shoptet's OpenAPI file")
        _schemas[key] = _to_json_schema(spec, {"$ref": f"#/components/schemas/{name}"})
    return _schemas[key]


def _validate(key: tuple[str, ...], schema: dict[str, Any], instance: Any, what: str) -> None:
    validator = _validators.get(key)
    if validator is None:
        validator = jsonschema.Draft202012Validator(schema)
        _validators[key] = validator
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors[:10]]
        more = f"\n  … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise AssertionError(f"{what} does not match Shoptet's OpenAPI schema:\n" + "\n".join(lines) + more)


def validate_response(method: str, path_template: str, status: int, body_json: Any) -> None:
    """Assert that ``body_json`` is a valid ``status`` response of ``method path_template`` per the official spec."""
    schema = response_schema(method, path_template, status)
    key = (method.lower(), path_template, str(status))
    _validate(key, schema, body_json, f"{method.upper()} {path_template} → {status}")


def validate_schema(name: str, instance: Any) -> None:
    """Assert that ``instance`` matches ``#/components/schemas/<name>``."""
    _validate(("component", name), component_schema(name), instance, f"a {name}")
