"""Findings as text for people, JSON for programs, GitHub workflow annotations, and SARIF 2.1.0.

SARIF is what GitHub code scanning ingests: one run per tool (playbook's own rules, each linter),
each result with its rule, level, repo-relative location and fix. A layer that was skipped is
not a result but a tool execution notification on its run, so it is visible without raising an
alert.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from playbook.checks.findings import ERROR, NOTE, OUR_TOOL, WARNING, Finding, sort_key

FORMATS = ("text", "json", "github", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_URIS = {
    "compose-lint": "https://pypi.org/project/compose-lint/",
    "docker-compose": "https://docs.docker.com/compose/",
    "yamllint": "https://yamllint.readthedocs.io/",
    "ansible-lint": "https://docs.ansible.com/projects/lint/",
    "shellcheck": "https://www.shellcheck.net/",
    "terraform": "https://developer.hashicorp.com/terraform/cli",
}


def display_path(file: str, root: Path | None) -> str:
    if root is None:
        return file
    try:
        return Path(file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file


def _counts(findings: list[Finding]) -> tuple[int, int, int]:
    return (sum(f.severity == ERROR for f in findings), sum(f.severity == WARNING for f in findings),
            sum(f.severity == NOTE for f in findings))


def _summary(findings: list[Finding]) -> str:
    errors, warnings, notes = _counts(findings)
    text = f"{errors} error(s), {warnings} warning(s)"
    return text + (f", {notes} layer(s) skipped" if notes else "")


def _escape_data(text: str) -> str:
    # Workflow-command escaping: a newline in a message can never start a new `::command::`.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _label(f: Finding) -> str:
    return f.rule if f.tool == OUR_TOOL else f"{f.tool}:{f.rule}"


def format_findings(findings: list[Finding], fmt: str, *, root: Path | None = None) -> str:
    ordered = sorted(findings, key=sort_key)
    if fmt == "json":
        errors, warnings, notes = _counts(ordered)
        rows = [{**asdict(f), "file": display_path(f.file, root)} for f in ordered]
        return json.dumps({"findings": rows, "errors": errors, "warnings": warnings, "skipped": notes},
                          indent=2) + "\n"
    if fmt == "github":
        lines = []
        for f in ordered:
            props = [f"file={_escape_property(display_path(f.file, root))}"]
            if f.line is not None:
                props.append(f"line={f.line}")
            props.append(f"title={_escape_property(_label(f))}")
            level = "notice" if f.severity == NOTE else f.severity
            lines.append(f"::{level} {','.join(props)}::{_escape_data(f'{f.message} — fix: {f.fix}')}")
        lines.append(_summary(ordered))
        return "\n".join(lines) + "\n"
    if fmt == "text":
        lines = []
        for f in ordered:
            where = display_path(f.file, root) + (f":{f.line}" if f.line is not None else "")
            lines.append(f"{where}: {f.severity} [{_label(f)}] {f.message}")
            lines.append(f"    fix: {f.fix}")
        lines.append(_summary(ordered) if ordered else "no findings: all patterns hold")
        return "\n".join(lines) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(ordered, root=root), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _location(f: Finding, root: Path | None) -> dict[str, Any]:
    path = display_path(f.file, root)
    artifact: dict[str, Any] = {"uri": PurePosixPath(path).as_posix()}
    if not path.startswith("/"):
        artifact["uriBaseId"] = "%SRCROOT%"
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if f.line is not None and f.line >= 1:
        physical["region"] = {"startLine": f.line}
    return {"physicalLocation": physical}


def to_sarif(findings: list[Finding], *, root: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run per tool, skipped layers as execution notifications."""
    from playbook.checks.rules import RULES, pattern_doc

    tools = sorted({f.tool for f in findings} | {OUR_TOOL})
    runs = []
    for tool in tools:
        mine = [f for f in findings if f.tool == tool]
        results = [f for f in mine if f.severity != NOTE]
        skipped = [f for f in mine if f.severity == NOTE]
        rule_ids = sorted({f.rule for f in results})
        rules = []
        for rule_id in rule_ids:
            entry: dict[str, Any] = {"id": rule_id}
            if tool == OUR_TOOL and rule_id in RULES:
                entry["shortDescription"] = {"text": RULES[rule_id].summary}
                entry["help"] = {"text": f"see {pattern_doc(rule_id)} in homelab-playbook"}
            rules.append(entry)
        driver: dict[str, Any] = {"name": tool, "rules": rules}
        if tool in TOOL_URIS:
            driver["informationUri"] = TOOL_URIS[tool]
        run: dict[str, Any] = {
            "tool": {"driver": driver},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": "file:///" if root is None else root.resolve().as_uri() + "/"}},
            "results": [{
                "ruleId": f.rule,
                "ruleIndex": rule_ids.index(f.rule),
                "level": f.severity,
                "message": {"text": f"{f.message} — fix: {f.fix}"},
                "locations": [_location(f, root)],
            } for f in results],
            "invocations": [{
                "executionSuccessful": not skipped,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": f"{f.message} — fix: {f.fix}"},
                     "locations": [_location(f, root)]} for f in skipped],
            }],
        }
        runs.append(run)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}
