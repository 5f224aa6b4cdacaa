"""playbook scaffold stack: deterministic stacks that pass every check; unsafe names refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from playbook.checks import Tools, check_path
from playbook.cli import cli
from playbook.errors import StateError, ValidationError
from playbook.scaffold import render_stack, scaffold_stack

NO_TOOLS = Tools(docker_compose=None, terraform=None)
PIHOLE = dict(image="pihole/pihole:2024.07.0", port=80, extra_ports=["53:53/tcp", "53:53/udp"],
              volumes=["etc-pihole:/etc/pihole", "etc-dnsmasq:/etc/dnsmasq.d"],
              environment={"WEBPASSWORD": "", "PIHOLE_DNS_": "1.1.1.1;9.9.9.9"})


def _errors(path: Path) -> list[str]:
    return [f"{f.rule}: {f.message}" for f in check_path(path, tools=NO_TOOLS) if f.severity == "error"]


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    first = scaffold_stack(tmp_path / "a", "dns-pihole", **PIHOLE)
    second = scaffold_stack(tmp_path / "b", "dns-pihole", **dict(PIHOLE, environment={
        "PIHOLE_DNS_": "1.1.1.1;9.9.9.9", "WEBPASSWORD": ""}))
    assert [p.name for p in first] == ["docker-compose.yml", ".env.sample", "README.md"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_pihole_stack_content(tmp_path: Path) -> None:
    files = render_stack("dns-pihole", **PIHOLE)
    data = yaml.safe_load(files["docker-compose.yml"])
    service = data["services"]["dns-pihole"]
    assert service["image"] == "pihole/pihole:2024.07.0"
    assert service["ports"] == ["53:53/tcp", "53:53/udp"]
    assert service["environment"]["WEBPASSWORD"] == "${WEBPASSWORD:?set WEBPASSWORD}"
    assert service["labels"]["traefik.http.routers.dns-pihole.rule"] == "Host(`${SERVICE_HOST}`)"
    assert service["labels"]["backup.restic.volumes"] == "etc-dnsmasq,etc-pihole"
    assert data["networks"] == {"proxy": {"external": True}}
    assert "WEBPASSWORD=\n" in files[".env.sample"] and "PIHOLE_DNS_=1.1.1.1;9.9.9.9\n" in files[".env.sample"]


@pytest.mark.parametrize("options", [
    PIHOLE,
    dict(image="grafana/grafana:11.1.0", port=3000, metrics_port=3000, sso=False),
    dict(image="ghcr.io/example/app:1.2.3@sha256:" + "a" * 64, port=8080, volumes=["data:/data:rw"]),
], ids=["pihole", "metrics-no-sso", "registry-digest"])
def test_scaffolded_stacks_pass_the_checker(tmp_path: Path, options: dict) -> None:
    scaffold_stack(tmp_path, "app-example", **options)
    assert _errors(tmp_path / "stacks" / "app-example") == []


def test_secret_values_are_never_written(tmp_path: Path) -> None:
    written = scaffold_stack(tmp_path, "dns-pihole", **dict(PIHOLE, environment={"WEBPASSWORD": "hunter2"}))
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
    result = runner.invoke(cli, ["scaffold", "stack", "dns-pihole", "--image", "pihole/pihole:2024.07.0",
                                 "--port", "80", "--extra-port", "53:53/tcp", "--extra-port", "53:53/udp",
                                 "--volume", "etc-pihole:/etc/pihole", "--env", "WEBPASSWORD=",
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
