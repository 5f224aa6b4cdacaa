"""Compose validity by schema (the vendored Compose Specification), and the variables a stack uses.

`docker compose config` itself runs as a layer in linters.py.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from playbook.checks import yamldoc
from playbook.checks.findings import Finding
from playbook.checks.stack import Stack

MAX_SCHEMA_FINDINGS = 20
VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)[^}]*\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


@lru_cache(maxsize=1)
def compose_schema() -> dict[str, Any]:
    text = resources.files("playbook").joinpath("data/compose-spec.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(compose_schema())


def referenced_variables(stack: Stack) -> dict[str, tuple[str, ...]]:
    """Every ${VAR} / $VAR used in the compose data -> the path of its first use ($$ is a literal $)."""
    found: dict[str, tuple[str, ...]] = {}
    for path, text in yamldoc.strings(stack.data):
        for match in VARIABLE.finditer(text):
            name = match["braced"] or match["bare"]
            if name:
                found.setdefault(name, path)
    return found


def check_schema(stack: Stack) -> list[Finding]:
    if not stack.data:
        return []
    findings = []
    errors = sorted(_validator().iter_errors(stack.data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors[:MAX_SCHEMA_FINDINGS]:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        findings.append(stack.finding(
            "compose-schema",
            f"{where}: {error.message}",
            "make the file valid Compose Specification YAML (https://compose-spec.io)",
            line=stack.line(*error.absolute_path),
        ))
    if not isinstance(stack.data.get("services"), dict) or not stack.data["services"]:
        findings.append(stack.finding("compose-schema", "the compose file defines no services",
                                      "add a top-level `services:` mapping", line=1))
    return findings


PLACEHOLDER = "placeholder"


def config_variables(stack: Stack) -> dict[str, str]:
    """A value for every variable `docker compose config` needs: the .env.sample example where it
    gives one (an IP address must look like one), else a harmless placeholder."""
    sample = stack.env_sample.values if stack.env_sample is not None else {}
    names = set(referenced_variables(stack)) | set(sample)
    return {name: sample.get(name) or PLACEHOLDER for name in sorted(names)}
