"""One compose stack as the rules see it: its files, parsed compose data, labels and .env.sample."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.checks import yamldoc
from playbook.checks.findings import ERROR, Finding
from playbook.checks.rules import EXEMPT_LABEL_PREFIX, pattern_doc

COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
ENV_LINE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


@dataclass
class EnvSample:
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)


def parse_env_sample(text: str) -> EnvSample:
    sample = EnvSample()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = ENV_LINE.match(line)
        if match is None:
            sample.bad_lines.append(number)
            continue
        value = match["value"].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        sample.values[match["name"]] = value
        sample.lines.setdefault(match["name"], number)
    return sample


@dataclass
class Stack:
    dir: Path
    compose_file: Path
    doc: yamldoc.YamlDoc | None
    env_sample: EnvSample | None

    @property
    def slug(self) -> str:
        return self.dir.resolve().name

    @property
    def parent_name(self) -> str:
        return self.dir.resolve().parent.name

    @property
    def data(self) -> dict[str, Any]:
        data = self.doc.data if self.doc else None
        return data if isinstance(data, dict) else {}

    def services(self) -> dict[str, dict[str, Any]]:
        services = self.data.get("services")
        if not isinstance(services, dict):
            return {}
        return {str(name): svc for name, svc in services.items() if isinstance(svc, dict)}

    def line(self, *path: object) -> int | None:
        return self.doc.line(*path) if self.doc else None

    def labels(self, service: str) -> dict[str, str]:
        return {key: value for key, (value, _) in self._labels(service).items()}

    def label_line(self, service: str, key: str) -> int | None:
        entry = self._labels(service).get(key)
        if entry is None:
            return self.line("services", service, "labels")
        return self.line(*entry[1])

    def _labels(self, service: str) -> dict[str, tuple[str, tuple[str, ...]]]:
        raw = self.services().get(service, {}).get("labels")
        base = ("services", service, "labels")
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                out[str(key)] = ("" if value is None else _scalar(value), base + (str(key),))
        elif isinstance(raw, list):
            for index, item in enumerate(raw):
                key, _, value = str(item).partition("=")
                out[key.strip()] = (value.strip(), base + (str(index),))
        return out

    def environment(self, service: str) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        """name -> (value or None when passed through, yaml path)."""
        raw = self.services().get(service, {}).get("environment")
        base = ("services", service, "environment")
        out: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                out[str(key)] = (None if value is None else _scalar(value), base + (str(key),))
        elif isinstance(raw, list):
            for index, item in enumerate(raw):
                key, sep, value = str(item).partition("=")
                out[key.strip()] = (value if sep else None, base + (str(index),))
        return out

    def exemption(self, service: str, rule: str) -> str:
        """The documented reason a rule is waived for a service, or ''."""
        return self.labels(service).get(EXEMPT_LABEL_PREFIX + rule, "").strip()

    def exempt_anywhere(self, rule: str) -> bool:
        return any(self.exemption(name, rule) for name in self.services())

    def finding(
        self,
        rule: str,
        message: str,
        fix: str,
        *,
        line: int | None = None,
        severity: str = ERROR,
        file: Path | None = None,
    ) -> Finding:
        return Finding(
            rule=rule,
            severity=severity,
            file=str(file or self.compose_file),
            line=line,
            message=message,
            fix=f"{fix} (see {pattern_doc(rule)})",
        )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_stack(compose_file: Path) -> tuple[Stack, list[Finding]]:
    """Read a stack's compose file and .env.sample; YAML errors become findings."""
    stack_dir = compose_file.parent
    findings: list[Finding] = []
    doc: yamldoc.YamlDoc | None = None
    try:
        doc = yamldoc.load(compose_file.read_text(encoding="utf-8", errors="replace"))
    except yamldoc.YamlProblem as exc:
        findings.append(Finding("yaml-syntax", ERROR, str(compose_file), exc.line,
                                f"not valid YAML: {exc.message}",
                                f"correct the YAML syntax (see {pattern_doc('yaml-syntax')})"))
    env_sample: EnvSample | None = None
    sample_path = stack_dir / ".env.sample"
    if sample_path.is_file():
        env_sample = parse_env_sample(sample_path.read_text(encoding="utf-8", errors="replace"))
    stack = Stack(stack_dir, compose_file, doc, env_sample)
    if doc is not None and not isinstance(doc.data, dict):
        findings.append(stack.finding("compose-schema", "the compose file is not a mapping",
                                      "start the file with a top-level `services:` mapping", line=1))
    return stack, findings
