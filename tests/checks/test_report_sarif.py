"""`playbook check --format sarif` is SARIF 2.1.0: validated against the official OASIS schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator

from playbook.checks import Finding, Tools, check_path, format_findings
from playbook.cli import cli
from playbook.delivery.scaffold import scaffold_stack
from playbook.demo.reference import DEMO_STACKS

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text())


def validate(log: dict) -> None:
    errors = sorted(Draft4Validator(SCHEMA).iter_errors(log), key=lambda e: list(e.absolute_path))
    assert errors == [], "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_is_the_official_one_and_rejects_a_broken_log() -> None:
    assert SCHEMA["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    with pytest.raises(AssertionError):
        validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]})  # driver needs a name


def test_findings_of_every_tool_and_severity_validate(tmp_path: Path) -> None:
    findings = [
        Finding("image-pinned", "error", str(tmp_path / "stacks/a-b/docker-compose.yml"), 4, "floating tag", "pin it"),
        Finding("CL-0002", "error", str(tmp_path / "stacks/a-b/docker-compose.yml"), 7, "privileged", "drop it",
                tool="compose-lint"),
        Finding("env-documented", "warning", str(tmp_path / "stacks/a-b/.env.sample"), None, "unused", "remove"),
        Finding("shellcheck", "note", str(tmp_path / "x.sh"), None, "skipped: shellcheck is not installed",
                "install it", tool="shellcheck"),
    ]
    log = json.loads(format_findings(findings, "sarif", root=tmp_path))
    validate(log)
    runs = {run["tool"]["driver"]["name"]: run for run in log["runs"]}
    assert set(runs) == {"playbook", "compose-lint", "shellcheck"}
    ours = runs["playbook"]
    assert [(r["ruleId"], r["level"]) for r in ours["results"]] == [("env-documented", "warning"),
                                                                    ("image-pinned", "error")]
    location = ours["results"][1]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "stacks/a-b/docker-compose.yml", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 4}}
    skipped = runs["shellcheck"]
    assert skipped["results"] == [] and skipped["invocations"][0]["executionSuccessful"] is False
    assert skipped["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].startswith("skipped:")


def test_cli_sarif_of_a_real_check_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scaffold_stack(tmp_path, "dns-pihole", **DEMO_STACKS["dns-pihole"])
    compose = tmp_path / "stacks/dns-pihole/docker-compose.yml"
    compose.write_text(compose.read_text().replace("pihole/pihole:2026.07.2", "pihole/pihole:latest"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "stacks/dns-pihole", "--format", "sarif"])
    assert result.exit_code == 1, result.output
    log = json.loads(result.output)
    validate(log)
    ours = next(run for run in log["runs"] if run["tool"]["driver"]["name"] == "playbook")
    assert {r["ruleId"] for r in ours["results"]} == {"image-pinned"}
    assert ours["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "stacks/dns-pihole/docker-compose.yml"


def test_sarif_without_tools_validates_and_lists_every_skip(tmp_path: Path) -> None:
    scaffold_stack(tmp_path, "dns-pihole", **DEMO_STACKS["dns-pihole"])
    log = json.loads(format_findings(check_path(tmp_path / "stacks/dns-pihole", tools=Tools()), "sarif",
                                     root=tmp_path))
    validate(log)
    skipped = {run["tool"]["driver"]["name"] for run in log["runs"] if not run["invocations"][0]["executionSuccessful"]}
    assert skipped == {"docker-compose", "compose-lint", "yamllint"}
