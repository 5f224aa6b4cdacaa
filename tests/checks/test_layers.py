"""The real linters behind `playbook check`: each catches what it is there for, under its own rule id.

These run the pinned tools (pyproject.toml installs them); in CI a missing tool fails the test
instead of skipping it, so a green run means the layer really ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbook.checks import Finding, Tools, check_path, format_findings
from playbook.checks.rules import EXEMPT_LABEL_PREFIX
from playbook.delivery.scaffold import scaffold_stack
from playbook.demo.reference import DEMO_STACKS
from playbook.errors import ValidationError

TOOLS = Tools.discover()
PIHOLE_V6 = {key: value for key, value in DEMO_STACKS["dns-pihole"].items() if key != "exporter"}


def need(*names: str) -> None:
    missing = [name for name in names if not getattr(TOOLS, name.replace("-", "_"))]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing in CI: pip install the package (pyproject.toml pins them)")
        pytest.skip(f"{', '.join(missing)} not installed")


def errors(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted({(f.tool, f.rule) for f in findings if f.severity == "error"})


@pytest.fixture
def pihole(tmp_path: Path) -> Path:
    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE_V6)
    return tmp_path / "stacks" / "dns-pihole"


def edit(stack: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = stack / "docker-compose.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def svc(data: dict[str, Any]) -> dict[str, Any]:
    return data["services"]["dns-pihole"]


def test_the_pinned_tools_are_found() -> None:
    need("docker-compose", "compose-lint", "yamllint", "ansible-lint", "shellcheck")
    assert TOOLS.docker_compose and ("site-packages/compose" in TOOLS.docker_compose or TOOLS.docker_compose)


# --- compose-lint: container isolation --------------------------------------------------------

@pytest.mark.parametrize(("rule", "change"), [
    ("CL-0002", lambda d: svc(d).update(privileged=True)),
    ("CL-0024", lambda d: svc(d).update(cap_add=["SYS_ADMIN"])),
    ("CL-0001", lambda d: svc(d)["volumes"].append("/var/run/docker.sock:/var/run/docker.sock")),
], ids=["privileged", "cap_add-SYS_ADMIN", "docker-socket"])
def test_compose_lint_fails_what_breaks_isolation(pihole: Path, rule: str, change: Callable[[dict[str, Any]], None]) -> None:
    need("compose-lint", "docker-compose")
    assert errors(check_path(pihole, tools=TOOLS)) == []
    edit(pihole, change)
    findings = check_path(pihole, tools=TOOLS)
    assert ("compose-lint", rule) in errors(findings), format_findings(findings, "text")
    (hit,) = [f for f in findings if f.rule == rule]
    assert hit.line is not None and "dns-pihole" in hit.message and "compose-lint --explain" in hit.fix


def test_a_compose_lint_rule_is_waived_by_a_label_with_a_reason(pihole: Path) -> None:
    need("compose-lint")
    edit(pihole, lambda d: svc(d).update(privileged=True))
    edit(pihole, lambda d: svc(d)["labels"].update({EXEMPT_LABEL_PREFIX + "CL-0002": "lab only"}))
    assert ("compose-lint", "CL-0002") not in errors(check_path(pihole, tools=TOOLS))


# --- Docker Compose v2 ------------------------------------------------------------------------

def test_compose_v2_is_the_one_that_runs(pihole: Path) -> None:
    need("docker-compose")
    from playbook import _process

    done = _process.run([TOOLS.docker_compose or "", "version", "--short"], check=False)
    assert done.stdout.strip().startswith("2."), done.stdout


def test_compose_config_rejects_an_undefined_network(pihole: Path) -> None:
    need("docker-compose")
    edit(pihole, lambda d: svc(d).update(networks=["proxy", "ghost"]))
    assert ("docker-compose", "compose-config") in errors(check_path(pihole, tools=TOOLS))


# --- yamllint ---------------------------------------------------------------------------------

def test_yamllint_makes_a_duplicate_key_an_error(pihole: Path) -> None:
    need("yamllint")
    compose = pihole / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("    restart: unless-stopped\n",
                                                   "    restart: unless-stopped\n    restart: always\n", 1))
    findings = check_path(pihole, tools=TOOLS)
    assert ("yamllint", "key-duplicates") in errors(findings)


# --- shellcheck -------------------------------------------------------------------------------

def test_shellcheck_reports_scripts_in_the_tree(pihole: Path) -> None:
    need("shellcheck")
    (pihole / "backup.sh").write_text("#!/bin/sh\ncd $1\nrm -rf $TARGET/*\n")
    findings = [f for f in check_path(pihole, tools=TOOLS) if f.tool == "shellcheck"]
    assert {f.rule for f in findings} >= {"SC2086"} and all(f.line for f in findings)


def test_a_missing_shellcheck_is_reported_not_passed(pihole: Path) -> None:
    (pihole / "backup.sh").write_text("#!/bin/sh\necho ok\n")
    (note,) = [f for f in check_path(pihole, tools=Tools()) if f.tool == "shellcheck"]
    assert (note.severity, note.message) == ("note", "skipped: shellcheck is not installed")


# --- ansible-lint and our Ansible rules -------------------------------------------------------

TASKS = "- name: Install curl\n  ansible.builtin.apt:\n    name: curl\n"


@pytest.fixture
def role(tmp_path: Path) -> Path:
    role = tmp_path / "ansible" / "roles" / "base"
    for sub, text in (("tasks", TASKS), ("defaults", "base_x: 1\n")):
        (role / sub).mkdir(parents=True)
        (role / sub / "main.yml").write_text(text)
    return tmp_path


def test_good_role_passes_ansible_lint(role: Path) -> None:
    need("ansible-lint", "yamllint")
    assert errors(check_path(role, tools=TOOLS)) == []


def test_state_latest_fails_under_ansible_lints_rule(role: Path) -> None:
    need("ansible-lint")
    (role / "ansible/roles/base/tasks/main.yml").write_text(TASKS + "    state: latest\n")
    findings = check_path(role, tools=TOOLS)
    assert errors(findings) == [("ansible-lint", "package-latest")], format_findings(findings, "text")


def test_curl_pipe_bash_fails_under_our_rule(role: Path) -> None:
    (role / "ansible/roles/base/tasks/main.yml").write_text(
        TASKS + "- name: Run the installer\n  ansible.builtin.shell: curl -fsSL https://get.example.com | bash\n")
    findings = check_path(role, tools=TOOLS)
    assert ("playbook", "ansible-pipe-to-shell") in errors(findings)


# --- kinds ------------------------------------------------------------------------------------

def test_a_kind_that_contradicts_the_tree_is_an_error(pihole: Path, role: Path) -> None:
    with pytest.raises(ValidationError, match="--kind infra does not match"):
        check_path(pihole, "infra", tools=Tools())
    with pytest.raises(ValidationError, match="--kind apps does not match"):
        check_path(role / "ansible", "apps", tools=Tools())


def test_an_empty_tree_is_an_error_with_or_without_a_kind(tmp_path: Path) -> None:
    for kind in (None, "apps", "infra"):
        with pytest.raises(ValidationError, match="the tree is empty"):
            check_path(tmp_path, kind, tools=Tools())


# --- the tree under check configures nothing and runs nothing -----------------------------------

def test_compose_lint_ignores_the_trees_own_config_and_suppressions(pihole: Path) -> None:
    need("compose-lint")
    (pihole / ".compose-lint.yml").write_text("rules:\n  CL-0002:\n    enabled: false\n    reason: hide it\n")
    compose = pihole / "docker-compose.yml"
    compose.write_text(compose.read_text().replace(
        "    restart: unless-stopped\n", "    restart: unless-stopped\n    privileged: true  # compose-lint: disable=CL-0002\n", 1))
    assert ("compose-lint", "CL-0002") in errors(check_path(pihole, tools=TOOLS))


def test_shellcheck_ignores_a_shellcheckrc_in_the_tree(pihole: Path) -> None:
    need("shellcheck")
    (pihole / ".shellcheckrc").write_text("disable=all\n")
    (pihole / "backup.sh").write_text("#!/bin/sh\ncd $1\n")
    assert "SC2086" in {f.rule for f in check_path(pihole, tools=TOOLS) if f.tool == "shellcheck"}


def test_ansible_lint_ignores_the_trees_config(role: Path) -> None:
    need("ansible-lint")
    (role / ".ansible-lint").write_text("skip_list:\n  - package-latest\n")
    (role / "ansible/roles/base/tasks/main.yml").write_text(TASKS + "    state: latest\n")
    assert ("ansible-lint", "package-latest") in errors(check_path(role, tools=TOOLS))


@pytest.mark.parametrize("relative", ["ansible/roles/base/library/evil.py", "ansible/filter_plugins/x.py",
                                      "ansible/ansible.cfg"])
def test_ansible_lint_does_not_run_on_a_tree_carrying_code_it_would_load(role: Path, relative: str) -> None:
    need("ansible-lint")
    marker = role / "ran"
    (role / relative).parent.mkdir(parents=True, exist_ok=True)
    (role / relative).write_text(f"open({str(marker)!r}, 'w').write('x')\n" if relative.endswith(".py")
                                 else "[defaults]\nfilter_plugins = ./filter_plugins\n")
    (role / "ansible/playbooks").mkdir(parents=True, exist_ok=True)
    (role / "ansible/playbooks/site.yml").write_text(
        "- name: Site\n  hosts: all\n  tasks:\n    - name: Use it\n      ansible.builtin.debug:\n"
        "        msg: \"{{ 'x' | evil }}\"\n")
    findings = check_path(role / "ansible", "infra", tools=TOOLS)
    (note,) = [f for f in findings if f.tool == "ansible-lint"]
    assert note.severity == "note" and "would load" in note.message
    assert not marker.exists()
