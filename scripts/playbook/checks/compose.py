"""Compose validity: the vendored Compose Specification schema always, docker-compose when present."""

from __future__ import annotations

import json
import re
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from playbook import _process
from playbook.checks import yamldoc
from playbook.checks.findings import WARNING, Finding
from playbook.checks.stack import Stack
from playbook.checks.tools import SAFE_PATH, Tools
from playbook.errors import ProcessError

MAX_SCHEMA_FINDINGS = 20
VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)[^}]*\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
PLACEHOLDER = "placeholder"


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


def check_docker_compose(stack: Stack, tools: Tools) -> list[Finding]:
    """Run `docker-compose config -q` with every variable set to a harmless value."""
    if not stack.data:
        return []
    if tools.docker_compose is None:
        return [stack.finding(
            "compose-config",
            "docker-compose is not installed; validated against the compose-spec schema only",
            "install Debian's docker-compose (scripts/bootstrap --test does) for the full check",
            severity=WARNING,
        )]
    names = set(referenced_variables(stack))
    if stack.env_sample is not None:
        names.update(stack.env_sample.values)
    with tempfile.TemporaryDirectory(prefix="playbook-check-") as scratch:
        env_file = Path(scratch) / "check.env"
        env_file.write_text("".join(f"{name}={PLACEHOLDER}\n" for name in sorted(names)), encoding="utf-8")
        # Absolute paths: the process runs inside the stack directory, and PATH given on the
        # command line may be relative to the caller's directory.
        stack_dir = Path(stack.dir).resolve()
        argv = [tools.docker_compose, "--env-file", str(env_file), "--project-directory", str(stack_dir),
                "-f", str(Path(stack.compose_file).resolve()), "config", "-q"]
        try:
            done = _process.run(argv, cwd=stack_dir, env={"PATH": SAFE_PATH, "HOME": scratch},
                                timeout=120, check=False)
        except ProcessError as exc:
            return [stack.finding("compose-config", f"docker-compose could not run: {exc.message}",
                                  "check the docker-compose installation")]
    if done.returncode == 0:
        return []
    output = (done.stderr.strip() or done.stdout.strip())[-1500:]
    return [stack.finding(
        "compose-config",
        f"`docker-compose config -q` rejected the file: {output}",
        "correct the compose file until `docker-compose config -q` passes",
    )]
