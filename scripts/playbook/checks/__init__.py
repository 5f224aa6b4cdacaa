"""`playbook check`: machine checks for the conventions in patterns/*.md.

    check_path(path, kind=None) -> list[Finding]     kind "apps" (compose stacks) or "infra"
    format_findings(findings, "text"|"json"|"github", root=None) -> str

Any finding with severity "error" means the change breaks a pattern.

May import: the ground modules at the package top only (it runs in the target-repo jobs, next to
nothing else of ours). Planning and delivery import it; it imports neither.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from playbook.checks.findings import ERROR, WARNING, Finding, has_errors, sort_key
from playbook.checks.report import FORMATS, format_findings
from playbook.checks.rules import RULES
from playbook.checks.tools import Tools
from playbook.errors import ValidationError

__all__ = ["ERROR", "FORMATS", "KINDS", "RULES", "WARNING", "Finding", "Tools", "check_path",
           "format_findings", "has_errors"]

KINDS = ("apps", "infra")
SKIP_DIRS = frozenset({".git", "node_modules", ".terraform", ".venv", "__pycache__"})


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            yield Path(current) / name


def _compose_files(files: list[Path]) -> list[Path]:
    from playbook.checks.stack import COMPOSE_NAMES

    return [f for f in files if f.name in COMPOSE_NAMES]


def _is_infra(files: list[Path]) -> bool:
    return any(f.suffix == ".tf" or "roles" in f.parts or "ansible" in f.parts for f in files)


def guess_kind(path: Path) -> list[str]:
    files = list(_walk(path))
    kinds = []
    if _compose_files(files):
        kinds.append("apps")
    if _is_infra(files):
        kinds.append("infra")
    return kinds


def check_path(path: Path, kind: str | None = None, *, tools: Tools | None = None) -> list[Finding]:
    """Check a stack, a stacks/ tree, a target repo or an infra tree against the patterns."""
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path} does not exist", fix="pass a stack directory, a repository or a file")
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}", fix=f"use one of {', '.join(KINDS)}")
    kinds = [kind] if kind else guess_kind(path)
    if not kinds:
        raise ValidationError(
            f"nothing to check under {path}: no docker-compose.yml, *.tf or Ansible roles found",
            fix="point at stacks/<service>/ or the repository root, or pass --kind apps|infra")
    tools = tools or Tools.discover()
    findings: list[Finding] = []
    if "apps" in kinds:
        findings.extend(_check_apps(path, tools))
    if "infra" in kinds:
        findings.extend(_check_infra(path, tools))
    return sorted(set(findings), key=sort_key)


def _check_apps(path: Path, tools: Tools) -> list[Finding]:
    from playbook.checks import compose, rules_apps, rules_portainer, stack

    if path.is_file() and path.name in stack.COMPOSE_NAMES:
        compose_files = [path]
    else:
        compose_files = _compose_files(list(_walk(path)))
    registrations = rules_portainer.check_registrations([f for f in _walk(path) if f.suffix == ".tf"])
    if not compose_files and any(f.suffix == ".tf" for f in _walk(path)):
        return registrations  # terraform/ of the apps repo: Portainer stack registrations only
        return [Finding("stack-layout", ERROR, str(path / "docker-compose.yml"), None,
                        "no docker-compose.yml found", "add stacks/<service>/docker-compose.yml "
                        "(see patterns/stack-layout.md)")]
    findings: list[Finding] = list(registrations)
    for compose_file in compose_files:
        loaded, problems = stack.load_stack(compose_file)
        findings.extend(problems)
        if problems:
            findings.extend(rules_apps.check_layout(loaded))
            continue
        findings.extend(compose.check_schema(loaded))
        findings.extend(compose.check_docker_compose(loaded, tools))
        for rule in rules_apps.APP_RULES:
            findings.extend(rule(loaded))
    return findings


def _role_dir(file: Path) -> Path | None:
    """roles/<role>/... -> the role directory (files directly in roles/ are not roles)."""
    parts = file.parts
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == "roles":
            return Path(*parts[: index + 2])
    return None


def _check_infra(path: Path, tools: Tools) -> list[Finding]:
    from playbook.checks import rules_ansible, rules_terraform

    files = list(_walk(path))
    findings: list[Finding] = []
    tf_dirs = sorted({f.parent for f in files if f.suffix == ".tf"})
    for directory in tf_dirs:
        findings.extend(rules_terraform.check_module(directory))
    findings.extend(rules_terraform.check_fmt(tf_dirs, tools))
    roles = sorted({role for f in files if (role := _role_dir(f)) is not None})
    for role in roles:
        findings.extend(rules_ansible.check_role(role))
    for file in files:
        if file.suffix not in (".yml", ".yaml") or "templates" in file.parts:
            continue  # templates hold Jinja2, not YAML
        doc, problems = rules_ansible.load_yaml(file)
        findings.extend(problems)
        if doc is not None:
            findings.extend(rules_ansible.check_fqcn(file, doc, task_file=rules_ansible.is_task_file(file)))
    return findings
