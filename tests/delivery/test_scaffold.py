"""playbook scaffold stack: deterministic stacks that pass every check; unsafe names refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from playbook.checks import Tools, check_path
from playbook.cli import cli
from playbook.delivery.scaffold import render_stack, scaffold_stack
from playbook.errors import StateError, ValidationError

NO_TOOLS = Tools()
PW = "FTLCONF_webserver_api_password"
BIND = "${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}"
# Pi-hole v6 as patterns/services/pihole.md has it (the demo's stack, without the exporter).
PIHOLE = dict(image="pihole/pihole:2026.07.2", port=80, extra_ports=[f"{BIND}:53:53/tcp", f"{BIND}:53:53/udp"],
              volumes=["etc-pihole:/etc/pihole", "etc-dnsmasq:/etc/dnsmasq.d"],
              environment={PW: "", "FTLCONF_dns_upstreams": "9.9.9.9;149.112.112.112"},
              settings={"FTLCONF_dns_listeningMode": "ALL"}, host_variables={"DNS_BIND_ADDRESS": "192.168.1.10"},
              image_healthcheck="the image's own HEALTHCHECK resolves pi.hole with dig",
              backup_pre="pihole-FTL sqlite3 /etc/pihole/gravity.db '.backup /etc/pihole/gravity.backup.db'")


def _errors(path: Path) -> list[str]:
    return [f"{f.rule}: {f.message}" for f in check_path(path, tools=NO_TOOLS) if f.severity == "error"]


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    first = scaffold_stack(tmp_path / "a", "dns-pihole", **PIHOLE)
    second = scaffold_stack(tmp_path / "b", "dns-pihole", **dict(PIHOLE, environment={
        "FTLCONF_dns_upstreams": "9.9.9.9;149.112.112.112", PW: ""}))
    assert [p.name for p in first] == ["docker-compose.yml", ".env.sample", "README.md"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_pihole_stack_content(tmp_path: Path) -> None:
    files = render_stack("dns-pihole", **PIHOLE)
    data = yaml.safe_load(files["docker-compose.yml"])
    service = data["services"]["dns-pihole"]
    assert service["image"] == "pihole/pihole:2026.07.2"
    assert service["ports"] == [f"{BIND}:53:53/tcp", f"{BIND}:53:53/udp"]
    assert service["environment"][PW] == f"${{{PW}:?set {PW}}}"
    assert service["environment"]["FTLCONF_dns_listeningMode"] == "ALL"  # a fixed setting, in the file
    assert "healthcheck" not in service and "dig" in service["labels"]["homelab.exempt.healthcheck"]
    assert service["labels"]["backup.restic.pre"].startswith("pihole-FTL sqlite3")
    assert service["labels"]["traefik.http.routers.dns-pihole.rule"] == "Host(`${SERVICE_HOST}`)"
    assert service["labels"]["backup.restic.volumes"] == "etc-dnsmasq,etc-pihole"
    assert data["networks"] == {"proxy": {"external": True}}
    assert f"{PW}=\n" in files[".env.sample"] and "FTLCONF_dns_upstreams=9.9.9.9;149.112.112.112\n" in files[
        ".env.sample"]
    assert "\nDNS_BIND_ADDRESS=192.168.1.10\n" in files[".env.sample"]
    assert "DNS_BIND_ADDRESS" not in str(service["environment"])  # for Compose, not the container


@pytest.mark.parametrize("options", [
    PIHOLE,
    dict(image="grafana/grafana:11.1.0", port=3000, metrics_port=3000, sso=False),
    dict(image="ghcr.io/example/app:1.2.3@sha256:" + "a" * 64, port=8080, volumes=["data:/data:rw"]),
], ids=["pihole", "metrics-no-sso", "registry-digest"])
def test_scaffolded_stacks_pass_the_checker(tmp_path: Path, options: dict) -> None:
    scaffold_stack(tmp_path, "app-example", **options)
    assert _errors(tmp_path / "stacks" / "app-example") == []


def test_secret_values_are_never_written(tmp_path: Path) -> None:
    written = scaffold_stack(tmp_path, "dns-pihole", **dict(PIHOLE, environment={
        PW: "hunter2", "FTLCONF_dns_upstreams": "9.9.9.9"}))
    assert all("hunter2" not in p.read_text() for p in written)


@pytest.mark.parametrize("name", [
    "../etc", "dns-pihole/../../x", "/abs/path", "Dns-Pihole", "pihole", "dns_pihole", "dns-pihole\n",
    "dns-pihole ", "dns-pihole.", "", "dns--pihole", "-dns-pihole", "a-" + "b" * 40, "dns-pi\x00hole",
    "C:\\x", ".github-workflows",
])
def test_bad_service_names_are_rejected_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="invalid service name"):
        scaffold_stack(tmp_path, name, **PIHOLE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value"), [
    ("image", "pihole/pihole:latest"), ("image", "pihole/pihole"), ("image", "pihole/pihole:1 ; rm"),
    ("port", 0), ("port", 70000), ("extra_ports", ["53:53/sctp"]), ("volumes", ["/srv:/data"]),
    ("environment", {"lower": "x"}), ("environment", {"TZ": "x"}), ("environment", {"A": "x\nB=y"}),
    ("environment", {"FTLCONF_dns-upstreams": "x"}), ("environment", {"ftlconf_dns_upstreams": "x"}),
    ("settings", {"FTLCONF_webserver_api_password": "x"}), ("settings", {"A": "x\ny"}),
    ("extra_ports", ["${UNDOCUMENTED}:53:53/udp"]), ("image_healthcheck", " "), ("backup_pre", "echo $HOME"),
    ("host_variables", {"FTLCONF_dns_upstreams": "x"}),
])
def test_bad_arguments_are_rejected(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(ValidationError):
        scaffold_stack(tmp_path, "dns-pihole", **dict(PIHOLE, **{option: value}))
    assert list(tmp_path.iterdir()) == []


def test_existing_different_files_are_kept_unless_overwrite(tmp_path: Path) -> None:
    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE)
    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE)  # identical: fine
    with pytest.raises(StateError, match="docker-compose.yml"):
        scaffold_stack(tmp_path, "dns-pihole", **dict(PIHOLE, port=8080))
    assert '"80"' in (tmp_path / "stacks" / "dns-pihole" / "docker-compose.yml").read_text()
    scaffold_stack(tmp_path, "dns-pihole", **dict(PIHOLE, port=8080), overwrite=True)
    assert '"8080"' in (tmp_path / "stacks" / "dns-pihole" / "docker-compose.yml").read_text()


def test_cli_scaffold_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["scaffold", "stack", "dns-pihole", "--image", "pihole/pihole:2026.07.2",
                                 "--port", "80", "--extra-port", f"{BIND}:53:53/tcp", "--extra-port",
                                 f"{BIND}:53:53/udp", "--host-var", "DNS_BIND_ADDRESS=192.168.1.10",
                                 "--volume", "etc-pihole:/etc/pihole", "--env", f"{PW}=",
                                 "--env", "FTLCONF_dns_upstreams=9.9.9.9", "--setting", "FTLCONF_dns_listeningMode=ALL",
                                 "--image-healthcheck", "the image's own HEALTHCHECK resolves pi.hole with dig",
                                 "--backup-pre", "pihole-FTL sqlite3 /etc/pihole/gravity.db '.backup /etc/pihole/g.db'",
                                 "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    stack = tmp_path / "stacks" / "dns-pihole"
    assert result.output.splitlines()[0] == str(stack / "docker-compose.yml")
    checked = runner.invoke(cli, ["check", str(stack), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    assert _errors(stack) == []


def test_cli_rejects_bad_name_without_writing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["scaffold", "stack", "../evil", "--image", "a/b:1", "--port", "80",
                                      "--dest", str(tmp_path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)
    assert list(tmp_path.iterdir()) == []


# --- exporter sidecar (patterns/prometheus.md rule 3) ----------------------------------------------

PIHOLE_EXPORTER = dict(PIHOLE, exporter={"image": "ekofr/pihole-exporter:v1.2.0", "port": 9617,
                                         "environment": {"PIHOLE_HOSTNAME": "pihole", "PIHOLE_PASSWORD": ""}})


def _with_exporter(**changes: object) -> dict:
    return dict(PIHOLE_EXPORTER, exporter=dict(PIHOLE_EXPORTER["exporter"], **changes))


def test_pihole_with_exporter_passes_every_check_including_docker_compose(tmp_path: Path) -> None:
    tools = Tools.discover()
    if tools.docker_compose is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing in CI: scripts/bootstrap --test installs it")
        pytest.skip("docker-compose not installed")
    scaffold_stack(tmp_path, "dns-pihole", **PIHOLE_EXPORTER)
    findings = check_path(tmp_path / "stacks" / "dns-pihole", tools=tools)
    assert [f for f in findings if f.severity != "warning" or f.tool != "compose-lint"] == []


def test_exporter_output_is_deterministic(tmp_path: Path) -> None:
    first = scaffold_stack(tmp_path / "a", "dns-pihole", **PIHOLE_EXPORTER)
    second = scaffold_stack(tmp_path / "b", "dns-pihole", **_with_exporter(
        environment={"PIHOLE_PASSWORD": "", "PIHOLE_HOSTNAME": "pihole"}))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert render_stack("dns-pihole", **PIHOLE_EXPORTER) == render_stack("dns-pihole", **PIHOLE_EXPORTER)


def test_exporter_sidecar_content() -> None:
    files = render_stack("dns-pihole", **PIHOLE_EXPORTER)
    data = yaml.safe_load(files["docker-compose.yml"])
    assert list(data["services"]) == ["dns-pihole", "dns-pihole-exporter"]
    main, sidecar = data["services"]["dns-pihole"], data["services"]["dns-pihole-exporter"]
    assert not [k for k in main["labels"] if k.startswith(("prometheus.io/", "homelab.exempt.prometheus"))]
    assert sidecar["image"] == "ekofr/pihole-exporter:v1.2.0"
    assert sidecar["read_only"] is True and sidecar["cap_drop"] == ["ALL"]
    assert sidecar["container_name"] == "dns-pihole-exporter" and sidecar["restart"] == "unless-stopped"
    assert sidecar["networks"] == ["proxy"] and sidecar["depends_on"] == ["dns-pihole"]
    assert sidecar["environment"] == {"TZ": "${TZ}", "PIHOLE_HOSTNAME": "${PIHOLE_HOSTNAME}",
                                      "PIHOLE_PASSWORD": "${PIHOLE_PASSWORD:?set PIHOLE_PASSWORD}"}
    labels = sidecar["labels"]
    assert {k: labels[k] for k in labels if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true", "prometheus.io/port": "9617", "prometheus.io/path": "/metrics"}
    assert labels["homelab.exempt.healthcheck"].strip() and "healthcheck" not in sidecar
    assert "ports" not in sidecar and not [k for k in labels if k.startswith("traefik.")]
    sample = files[".env.sample"]
    assert "\nPIHOLE_PASSWORD=\n" in sample and "\nPIHOLE_HOSTNAME=pihole\n" in sample
    assert "dns-pihole-exporter" in files["README.md"] and "`PIHOLE_PASSWORD`" in files["README.md"]


def test_exporter_with_healthcheck_probes_metrics(tmp_path: Path) -> None:
    scaffold_stack(tmp_path, "dns-pihole", **_with_exporter(healthcheck=True))
    stack = tmp_path / "stacks" / "dns-pihole"
    sidecar = yaml.safe_load((stack / "docker-compose.yml").read_text())["services"]["dns-pihole-exporter"]
    assert "http://127.0.0.1:9617/metrics" in sidecar["healthcheck"]["test"][1]
    assert "homelab.exempt.healthcheck" not in sidecar["labels"]
    assert _errors(stack) == []


def test_exporter_secret_values_are_never_written(tmp_path: Path) -> None:
    written = scaffold_stack(tmp_path, "dns-pihole", **_with_exporter(
        environment={"PIHOLE_HOSTNAME": "dns-pihole", "PIHOLE_PASSWORD": "hunter2"}))
    assert all("hunter2" not in p.read_text() for p in written)


def test_variable_shared_with_the_app_is_documented_once(tmp_path: Path) -> None:
    scaffold_stack(tmp_path, "dns-pihole", **_with_exporter(environment={PW: "", "PIHOLE_HOSTNAME": "pihole",
                                                                         "PIHOLE_PASSWORD": ""}))
    stack = tmp_path / "stacks" / "dns-pihole"
    assert (stack / ".env.sample").read_text().count(f"{PW}=") == 1
    sidecar = yaml.safe_load((stack / "docker-compose.yml").read_text())["services"]["dns-pihole-exporter"]
    assert sidecar["environment"][PW] == f"${{{PW}:?set {PW}}}"
    assert _errors(stack) == []


@pytest.mark.parametrize("options", [
    _with_exporter(image="ekofr/pihole-exporter:latest"),
    _with_exporter(image="ekofr/pihole-exporter"),
    _with_exporter(port=0),
    _with_exporter(port=True),
    _with_exporter(port="9617"),
    _with_exporter(environment={"lower": "x"}),
    _with_exporter(environment={"TZ": "Etc/UTC"}),
    _with_exporter(environment={"A": "x\nB=y"}),
    _with_exporter(environment={PW: "differs"}),
    _with_exporter(healthcheck="yes"),
    _with_exporter(path="/metrics"),
    dict(PIHOLE_EXPORTER, exporter={"image": "ekofr/pihole-exporter:v1.2.0"}),
    dict(PIHOLE_EXPORTER, exporter="ekofr/pihole-exporter:v1.2.0"),
    dict(PIHOLE_EXPORTER, metrics_port=9617),
], ids=["floating-tag", "no-tag", "port-0", "port-bool", "port-str", "env-lower", "env-tz", "env-newline",
        "env-conflicts-with-app", "healthcheck-not-bool", "unknown-key", "no-port", "not-a-dict",
        "metrics-port-and-exporter"])
def test_bad_exporter_arguments_are_rejected(tmp_path: Path, options: dict) -> None:
    with pytest.raises(ValidationError, match="cannot scaffold"):
        scaffold_stack(tmp_path, "dns-pihole", **options)
    assert list(tmp_path.iterdir()) == []


def test_cli_scaffold_with_exporter_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["scaffold", "stack", "dns-pihole", "--image", "pihole/pihole:2026.07.2",
                                 "--port", "80", "--extra-port", f"{BIND}:53:53/udp", "--host-var",
                                 "DNS_BIND_ADDRESS=192.168.1.10", "--volume", "etc-pihole:/etc/pihole",
                                 "--env", f"{PW}=", "--env", "FTLCONF_dns_upstreams=9.9.9.9",
                                 "--setting", "FTLCONF_dns_listeningMode=ALL",
                                 "--image-healthcheck", "the image's own HEALTHCHECK resolves pi.hole with dig",
                                 "--backup-pre", "pihole-FTL sqlite3 /etc/pihole/gravity.db '.backup /etc/pihole/g.db'",
                                 "--exporter-image", "ekofr/pihole-exporter:v1.2.0", "--exporter-port", "9617",
                                 "--exporter-env", "PIHOLE_HOSTNAME=dns-pihole", "--exporter-env", "PIHOLE_PASSWORD=",
                                 "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    stack = tmp_path / "stacks" / "dns-pihole"
    data = yaml.safe_load((stack / "docker-compose.yml").read_text())
    assert data["services"]["dns-pihole-exporter"]["labels"]["prometheus.io/port"] == "9617"
    assert _errors(stack) == []
    assert runner.invoke(cli, ["check", str(stack)]).exit_code == 0


@pytest.mark.parametrize("args", [
    ["--exporter-port", "9617"],
    ["--exporter-image", "ekofr/pihole-exporter:v1.2.0"],
    ["--exporter-env", "PIHOLE_PASSWORD="],
    ["--exporter-image", "ekofr/pihole-exporter:v1.2.0", "--exporter-port", "9617", "--exporter-env", "NOEQUALS"],
], ids=["port-only", "image-only", "env-only", "env-not-pair"])
def test_cli_refuses_incomplete_exporter_options(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["scaffold", "stack", "dns-pihole", "--image", "pihole/pihole:2024.07.0",
                                      "--port", "80", *args, "--dest", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert list(tmp_path.iterdir()) == []


def test_demo_pihole_stack_uses_the_exporter(tmp_path: Path) -> None:
    from playbook.demo.agents import DEMO_STACKS

    scaffold_stack(tmp_path, "dns-pihole", **DEMO_STACKS["dns-pihole"])
    stack = tmp_path / "stacks" / "dns-pihole"
    assert "dns-pihole-exporter" in yaml.safe_load((stack / "docker-compose.yml").read_text())["services"]
    assert _errors(stack) == []
