"""Ansible conventions on parsed YAML: the role layout, FQCN module names, no `curl | sh` installers.

ansible-lint --offline (linters.py) runs beside these for Ansible practice in general.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playbook.checks import yamldoc
from playbook.checks.findings import ERROR, WARNING, Finding
from playbook.checks.rules import pattern_doc

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ROLE_DIRS = frozenset({"tasks", "handlers", "defaults", "vars", "templates", "files", "meta", "molecule", "library"})
TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers")
BLOCK_KEYS = ("block", "rescue", "always")
# Task keywords (everything on a task that is not the module call).
TASK_KEYWORDS = frozenset({
    "name", "when", "become", "become_user", "become_method", "become_flags", "notify", "register", "loop",
    "loop_control", "tags", "vars", "block", "rescue", "always", "listen", "changed_when", "failed_when",
    "ignore_errors", "ignore_unreachable", "delegate_to", "delegate_facts", "run_once", "no_log",
    "environment", "args", "until", "retries", "delay", "check_mode", "diff", "throttle", "any_errors_fatal",
    "collections", "connection", "debugger", "module_defaults", "poll", "async", "port", "remote_user",
    "timeout", "local_action", "action",
})


def _finding(rule: str, file: Path, line: int | None, message: str, fix: str, severity: str = ERROR) -> Finding:
    return Finding(rule, severity, str(file), line, message, f"{fix} (see {pattern_doc(rule)})")


def load_yaml(path: Path) -> tuple[yamldoc.YamlDoc | None, list[Finding]]:
    try:
        return yamldoc.load(path.read_text(encoding="utf-8", errors="replace")), []
    except yamldoc.YamlProblem as exc:
        return None, [_finding("yaml-syntax", path, exc.line, f"not valid YAML: {exc.message}",
                               "correct the YAML syntax")]


def check_role(role: Path) -> list[Finding]:
    findings = []
    if not ROLE_NAME.fullmatch(role.name):
        findings.append(_finding("ansible-role-layout", role, None, f"role name {role.name!r} is not a valid "
                                 "role name", "rename it to lowercase letters, digits and underscores"))
    for required in ("tasks", "defaults"):
        if not (role / required / "main.yml").is_file():
            alt = role / required / "main.yaml"
            message = f"{required}/main.yaml should be named main.yml" if alt.is_file() else \
                f"{required}/main.yml is missing"
            findings.append(_finding("ansible-role-layout", role / required / "main.yml", None, message,
                                     f"create roles/{role.name}/{required}/main.yml"))
    for child in sorted(role.iterdir()):
        if child.is_dir() and child.name not in ROLE_DIRS:
            findings.append(_finding("ansible-role-layout", child, None, f"unexpected directory {child.name}/ "
                                     "in a role", f"use only {', '.join(sorted(ROLE_DIRS))}", severity=WARNING))
    notifies = any("notify:" in p.read_text(encoding="utf-8", errors="replace")
                   for p in sorted((role / "tasks").glob("*.y*ml")) if p.is_file())
    if notifies and not (role / "handlers" / "main.yml").is_file():
        findings.append(_finding("ansible-role-layout", role / "handlers" / "main.yml", None,
                                 "tasks notify handlers but handlers/main.yml is missing",
                                 f"create roles/{role.name}/handlers/main.yml"))
    return findings


SHELL_MODULES = frozenset({"shell", "ansible.builtin.shell", "ansible.legacy.shell", "command",
                           "ansible.builtin.command", "ansible.legacy.command", "raw", "ansible.builtin.raw"})
# A download piped straight into an interpreter: unreviewed code runs as root on every play.
PIPE_TO_SHELL = re.compile(r"\b(curl|wget|fetch)\b[^|;&]*\|\s*(sudo\s+)?(\S*/)?(ba|z|k|da)?sh\b|"
                           r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(\S*/)?python[0-9.]*\b")


def is_playbook(doc: yamldoc.YamlDoc) -> bool:
    data = doc.data
    return isinstance(data, list) and any(isinstance(p, dict) and ("hosts" in p or "import_playbook" in p)
                                          for p in data)


def check_tasks(path: Path, doc: yamldoc.YamlDoc, *, task_file: bool) -> list[Finding]:
    """FQCN module names and no download-piped-to-shell, in a task file or a playbook."""
    return check_fqcn(path, doc, task_file=task_file)


def _command_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(str(value.get(k, "")) for k in ("cmd", "_raw_params", "argv"))
    return ""


def check_fqcn(path: Path, doc: yamldoc.YamlDoc, *, task_file: bool) -> list[Finding]:
    """Short module names (`apt:`) and `curl ... | bash` in a task file or playbook."""
    findings: list[Finding] = []
    data = doc.data
    if not isinstance(data, list):
        return findings
    if task_file:
        _tasks(path, doc, data, (), findings)
        return findings
    for index, play in enumerate(data):
        if isinstance(play, dict) and ("hosts" in play or "import_playbook" in play):
            for key in TASK_LISTS:
                if isinstance(play.get(key), list):
                    _tasks(path, doc, play[key], (str(index), key), findings)
    return findings


def _tasks(path: Path, doc: yamldoc.YamlDoc, tasks: list[Any], base: tuple[str, ...],
           findings: list[Finding]) -> None:
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        here = base + (str(index),)
        for key in BLOCK_KEYS:
            if isinstance(task.get(key), list):
                _tasks(path, doc, task[key], here + (key,), findings)
        actions = [k for k in map(str, task) if k not in TASK_KEYWORDS and not k.startswith("with_")]
        for action in actions:
            if action in SHELL_MODULES and PIPE_TO_SHELL.search(_command_text(task[action])):
                findings.append(_finding(
                    "ansible-pipe-to-shell", path, doc.line(*here, action),
                    f"task {task.get('name', index)!r} pipes a download into a shell",
                    "download with ansible.builtin.get_url (checksum: sha256:...) and run the file, or "
                    "install the package with the package manager module"))
            if "." not in action:
                findings.append(_finding(
                    "ansible-fqcn", path, doc.line(*here, action), f"module {action!r} is not fully qualified",
                    f"write ansible.builtin.{action} (or the module's collection name)"))


def is_task_file(path: Path) -> bool:
    return path.parent.name in ("tasks", "handlers") and path.parent.parent.parent.name == "roles"
