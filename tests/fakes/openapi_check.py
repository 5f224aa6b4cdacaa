"""Check fake GitHub responses against GitHub's official OpenAPI description.

The description (npm ``@octokit/openapi``, ``generated/api.github.com.json``) is OpenAPI 3.0.3, so
bodies are validated with ``OAS30Validator`` (draft-4 style with ``nullable``), resolving the
description's internal ``$ref``s through one ``referencing`` registry. The 13 MB file is parsed
once per process; validators are cached per (path template, method, status).

``fill_required`` builds the filler for required fields the fake has no real value for (GitHub
objects carry dozens of URL and flag fields), so every object the fake serves is complete and the
fields that matter come from the fake's state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DESCRIPTION_PATH = (
    Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
)
_BASE_URI = "urn:github:api.github.com"


class UndocumentedResponse(LookupError):
    """The description has no entry for this path template, method or status."""


@functools.lru_cache(maxsize=1)
def description() -> dict[str, Any]:
    """The parsed description; fails loudly when ``npm ci`` has not run."""
    if not DESCRIPTION_PATH.exists():
        raise AssertionError(f"{DESCRIPTION_PATH} missing: run `npm ci` (scripts/bootstrap --test)")
    with DESCRIPTION_PATH.open(encoding="utf-8") as fh:
        spec = json.load(fh)
    if not str(spec.get("openapi", "")).startswith("3.0"):
        raise AssertionError(f"expected an OpenAPI 3.0 description, got {spec.get('openapi')!r}")
    return spec


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resource = Resource.from_contents(description(), default_specification=DRAFT4)
    return Registry().with_resource(_BASE_URI, resource)


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(node: Any) -> Any:
    """Follow local ``$ref``s (``#/components/...``) until a concrete node is reached."""
    spec = description()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise UndocumentedResponse(f"non-local $ref {ref!r}")
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def has_operation(template: str, method: str) -> bool:
    return method.lower() in description()["paths"].get(template, {})


def _response(template: str, method: str, status: int) -> tuple[dict[str, Any], str | None]:
    """(response object, content type) for one documented status."""
    operation = description()["paths"].get(template, {}).get(method.lower())
    if operation is None:
        raise UndocumentedResponse(f"{method.upper()} {template} is not in GitHub's description")
    responses = operation.get("responses", {})
    key = str(status) if str(status) in responses else ("default" if "default" in responses else None)
    if key is None:
        raise UndocumentedResponse(f"{method.upper()} {template} documents no {status} response")
    response = resolve(responses[key])
    content_type = next((ct for ct in response.get("content", {}) if "json" in ct), None)
    return responses[key], content_type


@functools.lru_cache(maxsize=512)
def _validator(template: str, method: str, status: int) -> Any | None:
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    raw, content_type = _response(template, method, status)
    if content_type is None:
        return None
    if "$ref" in raw:  # a shared response under #/components/responses
        pointer = raw["$ref"][1:] + _pointer("content", content_type, "schema")
    else:
        pointer = _pointer("paths", template, method.lower(), "responses", str(status), "content", content_type, "schema")
    schema = {"$ref": f"{_BASE_URI}#{pointer}"}
    return OAS30Validator(schema, registry=_registry(), format_checker=oas30_format_checker)


def documents(template: str, method: str, status: int) -> bool:
    try:
        _response(template, method, status)
    except UndocumentedResponse:
        return False
    return True


def check_response(template: str, method: str, status: int, body: Any) -> list[str]:
    """Problems with ``body`` as the ``status`` answer of ``method template``; empty when it conforms.

    ``body`` is the decoded JSON, or None for an empty body.
    """
    try:
        validator = _validator(template, method.lower(), status)
    except UndocumentedResponse as exc:
        return [str(exc)]
    where = f"{method.upper()} {template} → {status}"
    if validator is None:
        return [] if body is None else [f"{where}: GitHub sends no body here, the fake sent one"]
    if body is None:
        return [f"{where}: GitHub sends a JSON body here, the fake sent none"]
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{where}: {path}: {error.message[:300]}")
    return problems


# --------------------------------------------------------------------------- filler for required fields

_FORMAT_DEFAULTS = {
    "date-time": "2024-01-01T00:00:00Z",
    "uri": "https://example.invalid/",
    "uri-template": "https://example.invalid/{id}",
    "email": "noreply@example.invalid",
}


def schema_of(name: str) -> dict[str, Any]:
    return description()["components"]["schemas"][name]


def fill_required(schema: Any, value: Any = None) -> Any:
    """Return ``value`` with every required property the schema demands, recursively.

    Fields already present are kept (and completed when they are objects); missing nullable
    fields become None; others get a neutral placeholder of the right type and format.
    """
    schema = resolve(schema)
    if "allOf" in schema:
        for part in schema["allOf"]:
            value = fill_required(part, value)
        return value
    for key in ("anyOf", "oneOf"):
        if key in schema:
            if value is not None:
                variants = [resolve(v) for v in schema[key]]
                if isinstance(value, dict):
                    objects = [v for v in variants if v.get("type") == "object" or "properties" in v]
                    return fill_required(objects[0], value) if objects else value
                return value
            return None if schema.get("nullable") else fill_required(schema[key][0])
    if value is None:
        if schema.get("nullable"):
            return None
        return _placeholder(schema)
    if isinstance(value, dict) and ("properties" in schema or schema.get("type") == "object"):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                value[name] = fill_required(props.get(name, {}), None)
            elif isinstance(value[name], dict) and name in props:
                value[name] = fill_required(props[name], value[name])
    return value


def _placeholder(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        return _FORMAT_DEFAULTS.get(schema.get("format", ""), "")
    if kind in ("integer", "number"):
        return int(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        return fill_required(schema, {})
    return None
