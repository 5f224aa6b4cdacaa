"""Validation against a JSON schema, reported as one line per problem (path: message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def schema_problems(schema: Mapping[str, Any], data: Any, *, top: str = "(top level)") -> list[str]:
    """Every problem, sorted by where it is; ``top`` names the document itself."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or top}: {e.message}" for e in errors]
