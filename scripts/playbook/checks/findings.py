"""What a check reports: one Finding per problem, with the tool, rule, file, line and fix."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
NOTE = "note"  # information only: a layer that was skipped, and why
SEVERITIES = (ERROR, WARNING, NOTE)
OUR_TOOL = "playbook"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    fix: str
    tool: str = OUR_TOOL  # which layer found it: playbook's own rules, or the linter that did

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")


def sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.file, finding.line or 0, finding.rule, finding.message)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def skipped(tool: str, rule: str, file: str, reason: str, fix: str) -> Finding:
    """A layer that could not run: said out loud, never a silent pass."""
    return Finding(rule, NOTE, file, None, f"skipped: {reason}", fix, tool=tool)
