"""playbook check: a good stack passes; every rule has a bad fixture that fails with exactly that rule."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from playbook.checks import RULES, Finding, Tools, check_path, format_findings
from playbook.checks.rules import EXEMPT_LABEL_PREFIX
from playbook.cli import cli
from playbook.delivery.scaffold import scaffold_stack
from playbook.demo.reference import DEMO_STACKS
from playbook.errors import ValidationError

DATA = Path(__file__).resolve().parents[1] / "data" / "stacks"
PATTERNS = Path(__file__).resolve().parents[2] / "patterns"
NO_TOOLS = Tools()  # every outside linter missing: each layer reports "skipped", our rules still run
PIHOLE_V6 = {key: value for key, value in DEMO_STACKS["dns-pihole"].items() if key != "exporter"}
PASSWORD = "FTLCONF_webserver_api_password"


def _require_tool(name: str) -> Tools:
    tools = Tools.discover()
    if getattr(tools, name.replace("-", "_")) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI: scripts/bootstrap --test installs it")
        pytest.skip(f"{name} not installed")
    return tools


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule for f in errors(findings)}


def skipped_tools(findings: list[Finding]) -> set[str]:
    return {f.tool for f in findings if f.severity == "note"}


@pytest.fixture
def pihole(tmp_path: Path) -> Path:
    """The demo's Pi-hole v6 stack (without its exporter), as the scaffolder writes it."""
    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE_V6)
    return tmp_path / "stacks" / "dns-pihole"


def edit_compose(stack: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = stack / "docker-compose.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def labels(data: dict[str, Any]) -> dict[str, str]:
    return data["services"]["dns-pihole"]["labels"]


def svc(data: dict[str, Any]) -> dict[str, Any]:
    return data["services"]["dns-pihole"]


# --- the good stack -------------------------------------------------------------------------------

def test_scaffolded_pihole_passes_schema_and_rules_without_docker_compose(pihole: Path) -> None:
    findings = check_path(pihole, tools=NO_TOOLS)
    assert errors(findings) == [] and [f for f in findings if f.severity == "warning"] == []
    # No silent pass: every layer whose tool is missing says so.
    assert skipped_tools(findings) == {"docker-compose", "compose-lint", "yamllint"}
    assert all(f.message.startswith("skipped: ") for f in findings)


def test_scaffolded_pihole_passes_docker_compose_config(pihole: Path) -> None:
    tools = _require_tool("docker-compose")
    findings = check_path(pihole, tools=tools)
    assert errors(findings) == [] and skipped_tools(findings) == set()
    # What remains is compose-lint's hardening advice, never an error.
    assert {(f.tool, f.severity) for f in findings} <= {("compose-lint", "warning")}


def test_docker_compose_config_rejects_what_the_schema_allows(pihole: Path) -> None:
    tools = _require_tool("docker-compose")
    edit_compose(pihole, lambda d: svc(d)["volumes"].append("undeclared:/srv"))
    findings = check_path(pihole, tools=tools)
    assert [(f.rule, f.tool, "undeclared" in f.message) for f in errors(findings)] == [
        ("compose-config", "docker-compose", True)]
    assert errors(check_path(pihole, tools=NO_TOOLS)) == []


# --- one failing example per rule -----------------------------------------------------------------

def _write(relative: str, text: str) -> Callable[[Path], None]:
    return lambda stack: (stack / relative).write_text(text)


def _compose(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda stack: edit_compose(stack, change)


def _replace_sample(old: str, new: str) -> Callable[[Path], None]:
    def apply(stack: Path) -> None:
        path = stack / ".env.sample"
        path.write_text(path.read_text().replace(old, new))
    return apply


BREAKS: list[tuple[str, str, Callable[[Path], None]]] = [
    ("image-pinned", "latest", _compose(lambda d: svc(d).update(image="pihole/pihole:latest"))),
    ("image-pinned", "no tag", _compose(lambda d: svc(d).update(image="pihole/pihole"))),
    ("image-pinned", "variable tag", lambda stack: (_compose(lambda d: svc(d).update(image="pihole/pihole:${TAG}"))(
        stack), (stack / ".env.sample").write_text((stack / ".env.sample").read_text() + "TAG=2026.07.2\n"))),
    ("restart-policy", "always", _compose(lambda d: svc(d).update(restart="always"))),
    ("healthcheck", "missing", _compose(lambda d: labels(d).pop(EXEMPT_LABEL_PREFIX + "healthcheck"))),
    ("tz-env", "missing", _compose(lambda d: svc(d)["environment"].pop("TZ"))),
    ("traefik-labels", "no labels", _compose(lambda d: [labels(d).pop(k) for k in list(labels(d))
                                                        if k.startswith("traefik.")])),
    ("traefik-labels", "web entrypoint", _compose(lambda d: labels(d).update(
        {"traefik.http.routers.dns-pihole.entrypoints": "web"}))),
    ("traefik-labels", "no certresolver", _compose(lambda d: labels(d).pop(
        "traefik.http.routers.dns-pihole.tls.certresolver"))),
    ("traefik-labels", "hard-coded host", _compose(lambda d: labels(d).update(
        {"traefik.http.routers.dns-pihole.rule": "Host(`pihole.example.com`)"}))),
    ("proxy-network", "not external", _compose(lambda d: d["networks"].update(proxy={}))),
    ("authentik-forward-auth", "no middleware", _compose(lambda d: labels(d).pop(
        "traefik.http.routers.dns-pihole.middlewares"))),
    ("prometheus-metrics", "no labels", _compose(lambda d: labels(d).pop(
        EXEMPT_LABEL_PREFIX + "prometheus-metrics"))),
    ("restic-backup", "volume not listed", _compose(lambda d: (svc(d)["volumes"].append("etc-dnsmasq:/etc/dnsmasq.d"),
                                                              d["volumes"].update({"etc-dnsmasq": {}})))),
    ("restic-backup", "unknown volume listed", _compose(lambda d: labels(d).update(
        {"backup.restic.volumes": "etc-pihole,ghost"}))),
    ("bind-mounts", "host data dir", _compose(lambda d: svc(d)["volumes"].append("/srv/pihole:/data"))),
    ("env-documented", "undocumented var", _compose(lambda d: svc(d)["environment"].update(
        FTLCONF_dns_domain_name="${DNS_DOMAIN}"))),
    ("env-secret", "changeme placeholder", _replace_sample(f"{PASSWORD}=", f"{PASSWORD}=changeme")),
    ("env-secret", "literal in compose", _compose(lambda d: svc(d)["environment"].update({PASSWORD: "hunter2"}))),
    ("env-secret", "default secret :-admin", _compose(lambda d: svc(d)["environment"].update(
        {PASSWORD: f"${{{PASSWORD}:-admin}}"}))),
    ("env-secret", "default secret without colon", _compose(lambda d: svc(d)["environment"].update(
        {PASSWORD: f"${{{PASSWORD}-changeme}}"}))),
    ("env-secret", "placeholder password in a plain variable", _replace_sample(
        "FTLCONF_dns_upstreams=9.9.9.9;149.112.112.112", "FTLCONF_dns_upstreams=password")),
    ("env-committed", ".env present", _write(".env", f"{PASSWORD}=hunter2\n")),
    ("web-port-published", "web UI on a host port", _compose(lambda d: svc(d)["ports"].append("8080:80"))),
    ("web-port-published", "https on the host", _compose(lambda d: svc(d)["ports"].append(
        {"target": 443, "published": 443}))),
    ("service-recipe", "Pi-hole v5 image", _compose(lambda d: svc(d).update(image="pihole/pihole:2024.07.0"))),
    ("service-recipe", "v5 password variable", _compose(lambda d: svc(d)["environment"].update(
        WEBPASSWORD="${FTLCONF_webserver_api_password:?x}"))),
    ("service-recipe", "no listening mode on bridge", _compose(lambda d: svc(d)["environment"].pop(
        "FTLCONF_dns_listeningMode"))),
    ("service-recipe", "listening mode LOCAL", _compose(lambda d: svc(d)["environment"].update(
        FTLCONF_dns_listeningMode="LOCAL"))),
    ("service-recipe", "no upstream resolvers", _compose(lambda d: svc(d)["environment"].pop(
        "FTLCONF_dns_upstreams"))),
    ("service-recipe", "port 53 on every interface", _compose(lambda d: svc(d).update(
        ports=["53:53/tcp", "53:53/udp"]))),
    ("service-recipe", "HTTP probe replaces the DNS healthcheck", _compose(lambda d: svc(d).update(
        healthcheck={"test": ["CMD-SHELL", "curl -fsS http://127.0.0.1/admin/ || exit 1"]}))),
    ("service-recipe", "live SQLite copied", _compose(lambda d: labels(d).pop("backup.restic.pre"))),
    ("stack-layout", "README missing", lambda stack: (stack / "README.md").unlink()),
    ("compose-schema", "unknown key", _compose(lambda d: svc(d).update(imagee="x"))),
    ("portainer-paths", "single-file bind not committed", _compose(lambda d: svc(d)["volumes"].append(
        "./custom.list:/etc/pihole/custom.list:ro"))),
    ("bind-mounts", "bind climbs out of the stack", _compose(lambda d: svc(d)["volumes"].append("./../x:/x:ro"))),
    ("portainer-paths", "env_file not stack.env", lambda stack: (_write(".env.local", "A=1\n")(stack), _compose(
        lambda d: svc(d).update(env_file=[".env.local"]))(stack))),
    ("yaml-syntax", "broken yaml", _write("docker-compose.yml", "services:\n  a: [\n")),
]


@pytest.mark.parametrize(("rule", "case", "breaker"), BREAKS, ids=[f"{r}-{c}" for r, c, _ in BREAKS])
def test_each_rule_has_a_failing_example(pihole: Path, rule: str, case: str,
                                         breaker: Callable[[Path], None]) -> None:
    breaker(pihole)
    findings = check_path(pihole, tools=NO_TOOLS)
    assert rules_of(findings) == {rule}, format_findings(findings, "text")  # exactly that rule
    text = format_findings(findings, "text")
    assert f"[{rule}]" in text


def test_every_rule_id_is_exercised_by_some_example() -> None:
    covered = {rule for rule, _, _ in BREAKS} | {rule for rule, _, _ in INFRA_BREAKS} | {
        "compose-config", "terraform-fmt", "terraform-validate",
        "portainer-stack"}  # need the real tools: test_layers.py; broken registrations: test_portainer.py
    assert covered == set(RULES)


def test_committed_single_file_bind_and_stack_env_pass(pihole: Path) -> None:
    (pihole / "custom.list").write_text("192.168.1.2 nas.lan\n")
    edit_compose(pihole, lambda d: (svc(d)["volumes"].append("./custom.list:/etc/pihole/custom.list:ro"),
                                    svc(d).update(env_file=["stack.env"])))
    assert errors(check_path(pihole, tools=NO_TOOLS)) == []


def test_bad_slug_and_wrong_parent_are_layout_errors(tmp_path: Path, pihole: Path) -> None:
    moved = tmp_path / "elsewhere" / "Pihole"
    shutil.copytree(pihole, moved)
    messages = [f.message for f in check_path(moved, tools=NO_TOOLS) if f.rule == "stack-layout"]
    assert any("slug" in m for m in messages) and any("stacks/" in m for m in messages)


def test_exemption_needs_a_reason(pihole: Path) -> None:
    edit_compose(pihole, lambda d: labels(d).update({EXEMPT_LABEL_PREFIX + "prometheus-metrics": " "}))
    assert "prometheus-metrics" in rules_of(check_path(pihole, tools=NO_TOOLS))


def test_findings_point_at_the_offending_line(pihole: Path) -> None:
    compose = pihole / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("pihole/pihole:2026.07.2", "pihole/pihole:latest"))
    image_line = next(i for i, line in enumerate(compose.read_text().splitlines(), 1) if "image:" in line)
    (finding,) = [f for f in check_path(pihole, tools=NO_TOOLS) if f.rule == "image-pinned"]
    assert finding.line == image_line and finding.file == str(compose)


# --- the acceptance case ------------------------------------------------------------------------

def test_pihole_latest_without_traefik_fails_and_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = DATA / "pihole-latest" / "stacks" / "dns-pihole"
    result = CliRunner().invoke(cli, ["check", str(stack)])
    assert result.exit_code == 1, result.output
    assert "[image-pinned]" in result.output and "pihole/pihole:latest" in result.output
    assert "[traefik-labels]" in result.output
    assert re.search(r"docker-compose\.yml:4: error \[image-pinned\]", result.output)


# --- formats ----------------------------------------------------------------------------------

SAMPLE = [
    Finding("image-pinned", "error", "stacks/a-b/docker-compose.yml", 4, "floating tag", "pin it"),
    Finding("env-documented", "warning", "stacks/a-b/.env.sample", None, "unused, x", "remove it"),
]


def test_text_format() -> None:
    text = format_findings(SAMPLE, "text")
    assert "stacks/a-b/docker-compose.yml:4: error [image-pinned] floating tag\n    fix: pin it\n" in text
    assert text.endswith("1 error(s), 1 warning(s)\n")


def test_json_format_relative_to_root(tmp_path: Path) -> None:
    inside = [Finding("healthcheck", "error", str(tmp_path / "s" / "docker-compose.yml"), 2, "m", "f")]
    data = json.loads(format_findings(inside, "json", root=tmp_path))
    assert data == {"findings": [{"rule": "healthcheck", "severity": "error", "file": "s/docker-compose.yml",
                                  "line": 2, "message": "m", "fix": "f", "tool": "playbook"}],
                    "errors": 1, "warnings": 0, "skipped": 0}


def test_github_format_annotations_and_escaping() -> None:
    hostile = Finding("image-pinned", "error", "a,b:c.yml", 3, "bad\n::add-mask::x 100%", "fix\r\nit")
    lines = format_findings(SAMPLE + [hostile], "github").splitlines()
    assert lines[0] == "::error file=a%2Cb%3Ac.yml,line=3,title=image-pinned::bad%0A::add-mask::x 100%25 — fix: fix%0D%0Ait"
    assert lines[1] == "::warning file=stacks/a-b/.env.sample,title=env-documented::unused, x — fix: remove it"
    assert lines[2] == "::error file=stacks/a-b/docker-compose.yml,line=4,title=image-pinned::floating tag — fix: pin it"
    assert not any(line.startswith("::add-mask") for line in lines)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        format_findings(SAMPLE, "xml")


def test_cli_json_and_github(pihole: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["check", str(pihole), "--kind", "apps", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["errors"] == 0
    (pihole / ".env").write_text("X=1\n")
    result = runner.invoke(cli, ["check", str(pihole), "--format", "github"])
    assert result.exit_code == 1
    assert "::error file=" in result.output and "title=env-committed::" in result.output


# --- hostile input and kinds ------------------------------------------------------------------

def test_alias_bomb_and_python_tags_are_yaml_errors(pihole: Path) -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8))
    (pihole / "docker-compose.yml").write_text(bomb)
    (finding,) = [f for f in check_path(pihole, tools=NO_TOOLS) if f.rule == "yaml-syntax"]
    assert "nodes" in finding.message
    (pihole / "docker-compose.yml").write_text("services: !!python/object/apply:os.system ['true']\n")
    assert "yaml-syntax" in rules_of(check_path(pihole, tools=NO_TOOLS))


def test_nothing_to_check_and_bad_kind(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="nothing to check"):
        check_path(tmp_path)
    with pytest.raises(ValidationError, match="unknown kind"):
        check_path(tmp_path, "web")


# --- infra --------------------------------------------------------------------------------------

GOOD_VERSIONS = 'terraform {\n  required_providers {\n    proxmox = {\n      source  = "bpg/proxmox"\n' \
                '      version = "~> 0.66"\n    }\n  }\n}\n'
GOOD_MAIN = 'resource "proxmox_virtual_environment_container" "this" {\n  node_name = var.node_name\n}\n'
GOOD_TASKS = "- name: Install curl\n  ansible.builtin.apt:\n    name: curl\n  notify: Restart x\n"


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    module = tmp_path / "terraform" / "modules" / "lxc"
    module.mkdir(parents=True)
    (module / "versions.tf").write_text(GOOD_VERSIONS)
    (module / "main.tf").write_text(GOOD_MAIN)
    (module / "variables.tf").write_text('variable "node_name" {\n  type = string\n}\n')
    (module / "outputs.tf").write_text("")
    role = tmp_path / "ansible" / "roles" / "pihole"
    for sub, text in (("tasks", GOOD_TASKS), ("defaults", "pihole_x: 1\n"),
                      ("handlers", "- name: Restart x\n  ansible.builtin.service:\n    name: x\n")):
        (role / sub).mkdir(parents=True)
        (role / sub / "main.yml").write_text(text)
    (role / "templates").mkdir()
    (role / "templates" / "a.yml").write_text("{{ not: yaml\n")
    return tmp_path


def test_good_infra_passes(infra: Path) -> None:
    findings = check_path(infra, tools=NO_TOOLS)
    assert errors(findings) == [] and {f.severity for f in findings} == {"note"}
    assert skipped_tools(findings) == {"terraform", "yamllint", "ansible-lint"}


def test_terraform_fmt_runs_when_installed(infra: Path) -> None:
    tools = Tools.discover()
    if tools.terraform is None:
        pytest.skip("terraform not installed (optional in CI; reported as skipped)")
    findings = check_path(infra, "infra", tools=tools)
    # validate needs `terraform init` (the registry), so it says it was skipped; nothing else is found.
    assert [(f.rule, f.severity) for f in findings if f.tool != "ansible-lint" or f.severity != "note"] == [
        ("terraform-validate", "note")]
    main = infra / "terraform" / "modules" / "lxc" / "main.tf"
    main.write_text(GOOD_MAIN.replace("  node_name", "      node_name"))
    (finding,) = errors(check_path(infra, "infra", tools=tools))
    assert (finding.rule, finding.file) == ("terraform-fmt", str(main))


VERSIONS_TF = "terraform/modules/lxc/versions.tf"
INFRA_BREAKS: list[tuple[str, str, str]] = [
    ("terraform-provider-pin", VERSIONS_TF, GOOD_VERSIONS.replace("~> 0.66", ">= 0.60")),
    ("terraform-provider-pin", VERSIONS_TF, GOOD_VERSIONS.replace("bpg/", "telmate/")),
    ("terraform-provider-pin", VERSIONS_TF, "terraform {}\n"),
    ("terraform-provider-pin", VERSIONS_TF, GOOD_VERSIONS.replace('      version = "~> 0.66"\n', "")),
    ("terraform-provider-pin", VERSIONS_TF, GOOD_VERSIONS.replace(
        "    }\n  }", '    }\n    random = {\n      source = "hashicorp/random"\n    }\n  }')),
    ("terraform-hcl", "terraform/modules/lxc/main.tf", 'resource "x" "y" {\n  a =\n}\n'),
    ("terraform-layout", "terraform/modules/vm/main.tf", ""),
    ("ansible-fqcn", "ansible/roles/pihole/tasks/main.yml", GOOD_TASKS.replace("ansible.builtin.apt", "apt")),
    ("ansible-fqcn", "ansible/playbooks/site.yml", "- hosts: all\n  tasks:\n    - block:\n"
                                                   "        - name: x\n          copy: {src: a, dest: b}\n"),
    ("ansible-pipe-to-shell", "ansible/roles/pihole/tasks/main.yml", GOOD_TASKS + (
        "- name: Install the thing\n  ansible.builtin.shell: curl -fsSL https://get.example.com | bash\n")),
    ("ansible-pipe-to-shell", "ansible/roles/pihole/tasks/main.yml", GOOD_TASKS + (
        "- name: Install the thing\n  ansible.builtin.shell:\n    cmd: wget -qO- https://x.example | sudo sh\n")),
    ("yaml-syntax", "ansible/roles/pihole/defaults/main.yml", "x: [\n"),
    ("ansible-role-layout", "ansible/roles/Bad-Role/tasks/main.yml", "[]\n"),
]


@pytest.mark.parametrize(("rule", "relative", "text"), INFRA_BREAKS,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(INFRA_BREAKS)])
def test_infra_rules_fail(infra: Path, rule: str, relative: str, text: str) -> None:
    (infra / relative).parent.mkdir(parents=True, exist_ok=True)
    (infra / relative).write_text(text)
    findings = errors(check_path(infra, "infra", tools=NO_TOOLS))
    assert {f.rule for f in findings} == {rule}, format_findings(findings, "text")


@pytest.mark.parametrize("constraint", ["0.66.1", "= 0.66.1", "~> 0.66", "~> 0.66.1"])
def test_terraform_exact_and_pessimistic_pins_pass(infra: Path, constraint: str) -> None:
    (infra / VERSIONS_TF).write_text(GOOD_VERSIONS.replace("~> 0.66", constraint))
    assert errors(check_path(infra, "infra", tools=NO_TOOLS)) == []


def test_infra_layout_rules(infra: Path) -> None:
    (infra / "terraform" / "modules" / "lxc" / "outputs.tf").unlink()
    (infra / "ansible" / "roles" / "pihole" / "handlers" / "main.yml").unlink()
    found = {(f.rule, Path(f.file).name) for f in errors(check_path(infra, tools=NO_TOOLS))}
    assert found == {("terraform-layout", "outputs.tf"), ("ansible-role-layout", "main.yml")}


def test_fqcn_finding_names_the_task_line(infra: Path) -> None:
    tasks = infra / "ansible" / "roles" / "pihole" / "tasks" / "main.yml"
    tasks.write_text(GOOD_TASKS + "- name: Copy\n  copy:\n    src: a\n    dest: b\n")
    (finding,) = errors(check_path(infra, tools=NO_TOOLS))
    assert (finding.rule, finding.line) == ("ansible-fqcn", 6)


# --- the pattern documents ------------------------------------------------------------------------

def _frontmatter(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert text.startswith("---\n"), path
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_patterns_declare_exactly_the_implemented_rules() -> None:
    declared: set[str] = set()
    for path in sorted(PATTERNS.glob("*.md")):
        if path.name == "README.md":
            continue
        meta = _frontmatter(path)
        assert set(meta) == {"name", "title", "applies_to", "checks"}, path
        assert meta["name"] == path.stem and meta["applies_to"] in ("apps", "infra")
        assert set(meta["checks"]) <= set(RULES), path
        declared |= set(meta["checks"])
        for rule in meta["checks"]:
            assert RULES[rule].pattern in (path.stem, "README")
    assert declared == set(RULES)
    readme = (PATTERNS / "README.md").read_text()
    assert all(f"`{rule}`" in readme for rule in RULES)


# --- exporter sidecar (patterns/prometheus.md rules 3-5) ----------------------------------------

EXPORTER = "dns-pihole-exporter"


@pytest.fixture
def pihole_exporter(tmp_path: Path) -> Path:
    """The demo's Pi-hole v6 stack with its ekofr/pihole-exporter (v6 API) sidecar."""
    scaffold_stack(tmp_path, "dns-pihole", **DEMO_STACKS["dns-pihole"])
    return tmp_path / "stacks" / "dns-pihole"


def exp(data: dict[str, Any]) -> dict[str, Any]:
    return data["services"][EXPORTER]


def test_pihole_with_exporter_passes_without_and_with_docker_compose(pihole_exporter: Path) -> None:
    without = check_path(pihole_exporter, tools=NO_TOOLS)
    assert {f.severity for f in without} == {"note"}
    with_tools = check_path(pihole_exporter, tools=_require_tool("docker-compose"))
    assert errors(with_tools) == [] and {f.tool for f in with_tools} <= {"compose-lint"}


EXPORTER_BREAKS: list[tuple[str, str, Callable[[Path], None]]] = [
    ("prometheus-metrics", "metrics port published", _compose(lambda d: exp(d).update(ports=["9617:9617"]))),
    ("prometheus-metrics", "metrics port published long syntax", _compose(lambda d: exp(d).update(
        ports=[{"target": 9617, "published": "19617"}]))),
    ("prometheus-metrics", "metrics port in a published range", _compose(lambda d: exp(d).update(
        ports=["127.0.0.1:9600-9700:9600-9700/tcp"]))),
    ("prometheus-metrics", "exporter routed by Traefik", _compose(lambda d: exp(d)["labels"].update(
        {"traefik.enable": "true"}))),
    ("prometheus-metrics", "exporter off proxy", _compose(lambda d: exp(d).update(networks=["default"]))),
    ("prometheus-metrics", "exporter port not a number", _compose(lambda d: exp(d)["labels"].update(
        {"prometheus.io/port": "metrics"}))),
    ("prometheus-metrics", "exporter unlabelled", _compose(lambda d: exp(d).pop("labels"))),
    ("prometheus-metrics", "exemption does not hide a broken scrape", _compose(lambda d: (
        labels(d).update({EXEMPT_LABEL_PREFIX + "prometheus-metrics": "x"}),
        exp(d)["labels"].pop("prometheus.io/path")))),
    ("image-pinned", "exporter latest", _compose(lambda d: exp(d).update(image="ekofr/pihole-exporter:latest"))),
    ("service-recipe", "exporter speaks only the v5 API", _compose(lambda d: exp(d).update(
        image="ekofr/pihole-exporter:v0.4.0"))),
    ("restart-policy", "exporter always", _compose(lambda d: exp(d).update(restart="always"))),
    ("tz-env", "exporter without TZ", _compose(lambda d: exp(d)["environment"].pop("TZ"))),
    ("healthcheck", "exporter exemption removed", _compose(lambda d: exp(d)["labels"].pop(
        EXEMPT_LABEL_PREFIX + "healthcheck"))),
    ("env-secret", "exporter literal password", _compose(lambda d: exp(d)["environment"].update(
        PIHOLE_PASSWORD="hunter2"))),
    ("env-secret", "exporter password in sample", _replace_sample("PIHOLE_PASSWORD=", "PIHOLE_PASSWORD=changeme")),
    ("env-documented", "exporter variable undocumented", _replace_sample("PIHOLE_HOSTNAME=dns-pihole\n", "")),
]


@pytest.mark.parametrize(("rule", "case", "breaker"), EXPORTER_BREAKS, ids=[f"{r}-{c}" for r, c, _ in EXPORTER_BREAKS])
def test_exporter_rules_have_failing_examples(pihole_exporter: Path, rule: str, case: str,
                                              breaker: Callable[[Path], None]) -> None:
    breaker(pihole_exporter)
    findings = check_path(pihole_exporter, tools=NO_TOOLS)
    assert rule in rules_of(findings), format_findings(findings, "text")


def test_leftover_metrics_exemption_next_to_an_exporter_is_a_warning(pihole_exporter: Path) -> None:
    edit_compose(pihole_exporter, lambda d: labels(d).update(
        {EXEMPT_LABEL_PREFIX + "prometheus-metrics": "the image serves no metrics endpoint"}))
    findings = [f for f in check_path(pihole_exporter, tools=NO_TOOLS) if f.rule == "prometheus-metrics"]
    assert [(f.severity, EXPORTER in f.message) for f in findings] == [("warning", True)]


def test_metrics_port_check_leaves_other_published_ports_alone(pihole_exporter: Path) -> None:
    edit_compose(pihole_exporter, lambda d: exp(d).update(ports=["9618:9618", {"target": 8081}, "53/udp"]))
    assert errors(check_path(pihole_exporter, tools=NO_TOOLS)) == []


def test_app_serving_its_own_metrics_on_the_routed_port_is_fine(tmp_path: Path) -> None:
    scaffold_stack(tmp_path, "monitoring-grafana", image="grafana/grafana:11.1.0", port=3000, metrics_port=3000)
    assert errors(check_path(tmp_path / "stacks" / "monitoring-grafana", tools=NO_TOOLS)) == []


def test_a_relative_path_is_checked_like_an_absolute_one(tmp_path, monkeypatch):
    """`playbook check stacks/x` from the repository root: docker-compose must find the file."""
    from playbook.delivery.scaffold import scaffold_stack

    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE_V6)
    monkeypatch.chdir(tmp_path)
    relative = [f for f in check_path(Path("stacks/dns-pihole"), "apps") if f.severity == "error"]
    absolute = [f for f in check_path(tmp_path / "stacks/dns-pihole", "apps") if f.severity == "error"]
    assert relative == [] and absolute == []
