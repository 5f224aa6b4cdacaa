"""`playbook check`: the layers a change passes before it deploys, one Finding format for all.

    check_path(path, kind=None) -> list[Finding]     kind "apps" (compose stacks) or "infra"
    format_findings(findings, "text"|"json"|"github"|"sarif", root=None) -> str
    deploy_diff(base, head) -> DeployDiff            what Portainer will run differently

Layers (each a real tool where one exists; a tool that cannot run reports "skipped: reason"):
apps: YAML syntax, the Compose Specification schema, `docker compose config`, compose-lint,
yamllint, our convention rules (rules_apps) and the service recipes (recipes); infra: HCL parsed
by python-hcl2 for our Terraform rules, `terraform fmt` / `validate`, our Ansible rules,
ansible-lint --offline, yamllint; shellcheck on shell scripts in either.

Any finding with severity "error" means the change must not merge.

May import: the ground modules at the package top only (it runs in the target-repo jobs, next to
nothing else of ours). Planning and delivery import it; it imports neither.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from playbook.checks.findings import ERROR, NOTE, WARNING, Finding, has_errors, skipped, sort_key
from playbook.checks.report import FORMATS, format_findings
from playbook.checks.rules import RULES
from playbook.checks.tools import Tools
from playbook.errors import ValidationError

__all__ = ["ERROR", "FORMATS", "KINDS", "NOTE", "RULES", "WARNING", "Finding", "Tools", "check_path",
           "format_findings", "has_errors"]

KINDS = ("apps", "infra")
SKIP_DIRS = frozenset({".git", "node_modules", ".terraform", ".venv", "__pycache__"})
YAML_SUFFIXES = (".yml", ".yaml")


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


def _registers_portainer_stacks(path: Path) -> bool:
    from playbook.checks.rules_portainer import RESOURCE

    return any(RESOURCE.search(f.read_text(encoding="utf-8", errors="replace"))
               for f in _walk(path) if f.suffix == ".tf")


def _kinds_to_check(path: Path, kind: str | None) -> list[str]:
    """The kinds to run; a kind that contradicts the tree, or a tree with nothing in it, is an error."""
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}", fix=f"use one of {', '.join(KINDS)}")
    found = guess_kind(path)
    if not any(True for _ in _walk(path)):
        raise ValidationError(f"nothing to check under {path}: the tree is empty",
                              fix="point at stacks/<service>/ or the repository root")
    if kind is None:
        if not found:
            raise ValidationError(
                f"nothing to check under {path}: no docker-compose.yml, *.tf or Ansible roles found",
                fix="point at stacks/<service>/ or the repository root, or pass --kind apps|infra")
        return found
    if kind == "apps" and found == ["infra"] and _registers_portainer_stacks(path):
        return ["apps"]  # homelab-apps/terraform/: Portainer stack registrations (patterns/portainer-stack.md)
    if found and kind not in found:
        raise ValidationError(
            f"--kind {kind} does not match {path}: it holds {' and '.join(found)} files "
            f"({'docker-compose.yml' if 'apps' in found else '*.tf or Ansible roles'})",
            fix=f"pass --kind {found[0]}, or leave --kind out to check what the tree holds")
    return [kind]


def check_path(path: Path, kind: str | None = None, *, tools: Tools | None = None) -> list[Finding]:
    """Check a stack, a stacks/ tree, a target repo or an infra tree against the patterns."""
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path} does not exist", fix="pass a stack directory, a repository or a file")
    kinds = _kinds_to_check(path, kind)
    tools = tools or Tools.discover()
    files = list(_walk(path))
    findings: list[Finding] = []
    if "apps" in kinds:
        findings.extend(_check_apps(path, files, tools))
    if "infra" in kinds:
        findings.extend(_check_infra(path, files, tools))
    findings.extend(_check_shell(files, tools))
    return sorted(set(findings), key=sort_key)


def _yaml_files(files: list[Path]) -> list[Path]:
    return [f for f in files if f.suffix in YAML_SUFFIXES and "templates" not in f.parts]  # templates: Jinja2


def _check_shell(files: list[Path], tools: Tools) -> list[Finding]:
    from playbook.checks import linters

    scripts = [f for f in files if f.suffix == ".sh" or (f.suffix == "" and _has_shell_shebang(f))]
    return linters.shellcheck_files(scripts, tools)


def _has_shell_shebang(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(100)
    except OSError:
        return False
    return first.startswith(b"#!") and any(shell in first for shell in (b"/sh", b"bash", b"env sh"))


def _check_apps(path: Path, files: list[Path], tools: Tools) -> list[Finding]:
    from playbook.checks import compose, linters, recipes, rules_apps, rules_portainer, stack

    compose_files = [path] if path.is_file() and path.name in stack.COMPOSE_NAMES else _compose_files(files)
    registrations = rules_portainer.check_registrations([f for f in files if f.suffix == ".tf"])
    if not compose_files and any(f.suffix == ".tf" for f in files):
        return registrations  # terraform/ of the apps repo: Portainer stack registrations only
    if not compose_files:
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
        findings.extend(linters.compose_config(loaded, tools, compose.config_variables(loaded)))
        findings.extend(linters.compose_lint(loaded, tools))
        for rule in rules_apps.APP_RULES:
            findings.extend(rule(loaded))
        findings.extend(recipes.check_recipes(loaded))
    yaml_files = _yaml_files(files) if path.is_dir() else compose_files
    findings.extend(linters.yamllint_files(yaml_files, tools))
    return findings


def _role_dir(file: Path) -> Path | None:
    """roles/<role>/... -> the role directory (files directly in roles/ are not roles)."""
    parts = file.parts
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == "roles":
            return Path(*parts[: index + 2])
    return None


def _check_infra(path: Path, files: list[Path], tools: Tools) -> list[Finding]:
    from playbook.checks import linters, rules_ansible, rules_terraform

    findings: list[Finding] = []
    tf_dirs = sorted({f.parent for f in files if f.suffix == ".tf"})
    for directory in tf_dirs:
        findings.extend(rules_terraform.check_module(directory))
    findings.extend(rules_terraform.check_fmt(tf_dirs, tools))
    findings.extend(rules_terraform.check_validate(tf_dirs, tools))
    roles = sorted({role for f in files if (role := _role_dir(f)) is not None})
    for role in roles:
        findings.extend(rules_ansible.check_role(role))
    ansible_targets: list[Path] = list(roles)
    yaml_files = _yaml_files(files)
    for file in yaml_files:
        doc, problems = rules_ansible.load_yaml(file)
        findings.extend(problems)
        if doc is None:
            continue
        task_file = rules_ansible.is_task_file(file)
        findings.extend(rules_ansible.check_tasks(file, doc, task_file=task_file))
        if not task_file and _role_dir(file) is None and rules_ansible.is_playbook(doc):
            ansible_targets.append(file)
    findings.extend(linters.yamllint_files(yaml_files, tools))
    if ansible_targets:
        root = path if path.is_dir() else path.parent
        findings.extend(linters.ansible_lint(root, ansible_targets, tools))
    elif not tf_dirs:
        findings.append(skipped("playbook", "infra", str(path), "no Terraform module or Ansible role or "
                                "playbook in this tree", "nothing to do, unless files are missing"))
    return findings
