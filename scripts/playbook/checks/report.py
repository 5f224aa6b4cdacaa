"""Findings as text for people, JSON for programs, and GitHub Actions workflow annotations."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from playbook.checks.findings import ERROR, WARNING, Finding, sort_key

FORMATS = ("text", "json", "github")


def _display(file: str, root: Path | None) -> str:
    if root is None:
        return file
    try:
        return str(Path(file).resolve().relative_to(root.resolve()))
    except ValueError:
        return file


def _counts(findings: list[Finding]) -> tuple[int, int]:
    return (sum(f.severity == ERROR for f in findings), sum(f.severity == WARNING for f in findings))


def _escape_data(text: str) -> str:
    # Workflow-command escaping: a newline in a message can never start a new `::command::`.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_findings(findings: list[Finding], fmt: str, *, root: Path | None = None) -> str:
    ordered = sorted(findings, key=sort_key)
    errors, warnings = _counts(ordered)
    if fmt == "json":
        rows = [{**asdict(f), "file": _display(f.file, root)} for f in ordered]
        return json.dumps({"findings": rows, "errors": errors, "warnings": warnings}, indent=2) + "\n"
    if fmt == "github":
        lines = []
        for f in ordered:
            props = [f"file={_escape_property(_display(f.file, root))}"]
            if f.line is not None:
                props.append(f"line={f.line}")
            props.append(f"title={_escape_property(f.rule)}")
            lines.append(f"::{f.severity} {','.join(props)}::{_escape_data(f'{f.message} — fix: {f.fix}')}")
        lines.append(f"{errors} error(s), {warnings} warning(s)")
        return "\n".join(lines) + "\n"
    if fmt == "text":
        lines = []
        for f in ordered:
            where = _display(f.file, root) + (f":{f.line}" if f.line is not None else "")
            lines.append(f"{where}: {f.severity} [{f.rule}] {f.message}")
            lines.append(f"    fix: {f.fix}")
        lines.append(f"{errors} error(s), {warnings} warning(s)" if ordered else "no findings: all patterns hold")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
