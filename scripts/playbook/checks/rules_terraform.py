"""Terraform conventions: module file layout, a pinned bpg/proxmox provider, `terraform fmt`."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from playbook import _process
from playbook.checks.findings import ERROR, WARNING, Finding
from playbook.checks.rules import pattern_doc
from playbook.checks.tools import SAFE_PATH, Tools
from playbook.errors import ProcessError

LAYOUT_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
PINNED = re.compile(r'^\s*(=\s*\d+\.\d+\.\d+|~>\s*\d+\.\d+(\.\d+)?)\s*$')
USES_PROXMOX = re.compile(r'^\s*(resource|data)\s+"proxmox_|^\s*provider\s+"proxmox"', re.MULTILINE)
PROVIDER_ENTRY = re.compile(r"^\s*proxmox\s*=\s*\{(?P<body>[^}]*)\}", re.MULTILINE)
ATTRIBUTE = r'^\s*{name}\s*=\s*"(?P<value>[^"]*)"'


def _finding(rule: str, file: Path, line: int | None, message: str, fix: str, severity: str = ERROR) -> Finding:
    return Finding(rule, severity, str(file), line, message, f"{fix} (see {pattern_doc(rule)})")


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_module(directory: Path) -> list[Finding]:
    findings = []
    for name in LAYOUT_FILES:
        if not (directory / name).is_file():
            findings.append(_finding("terraform-layout", directory / name, None, f"{name} is missing",
                                     f"add {name} to {directory.name}/ (an empty outputs.tf is fine)"))
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in sorted(directory.glob("*.tf"))}
    if not any(USES_PROXMOX.search(text) for text in texts.values()):
        return findings
    entries = [(path, text, m) for path, text in texts.items() for m in PROVIDER_ENTRY.finditer(text)
               if "required_providers" in text[: m.start()]]
    if not entries:
        anchor = next(p for p, t in texts.items() if USES_PROXMOX.search(t))
        findings.append(_finding("terraform-provider-pin", directory / "versions.tf", None,
                                 f"{anchor.name} uses the Proxmox provider but required_providers has no "
                                 "`proxmox` entry",
                                 'declare proxmox = { source = "bpg/proxmox", version = "= 0.66.1" } '
                                 "in terraform { required_providers { ... } } in versions.tf"))
    for path, text, match in entries:
        line = _line_at(text, match.start())
        body = match["body"]
        source = re.search(ATTRIBUTE.format(name="source"), body, re.MULTILINE)
        version = re.search(ATTRIBUTE.format(name="version"), body, re.MULTILINE)
        if source is None or source["value"] != "bpg/proxmox":
            findings.append(_finding("terraform-provider-pin", path, line,
                                     f"proxmox provider source is {source['value'] if source else 'missing'!r}",
                                     'use source = "bpg/proxmox" (the maintained provider)'))
        if version is None or not PINNED.match(version["value"]):
            got = repr(version["value"]) if version else "missing"
            findings.append(_finding("terraform-provider-pin", path, line,
                                     f"proxmox provider version constraint is {got}",
                                     'pin it: version = "= 0.66.1" or "~> 0.66"'))
    return findings


def check_fmt(directories: list[Path], tools: Tools) -> list[Finding]:
    if not directories:
        return []
    if tools.terraform is None:
        return [_finding("terraform-fmt", directories[0], None,
                         "terraform is not installed; formatting was not checked",
                         "install terraform to run `terraform fmt -check`", severity=WARNING)]
    findings = []
    with tempfile.TemporaryDirectory(prefix="playbook-tf-") as scratch:
        config = Path(scratch) / "terraformrc"
        config.write_text("", encoding="utf-8")
        env = {"PATH": SAFE_PATH, "HOME": scratch, "TF_CLI_CONFIG_FILE": str(config),
               "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
        for directory in directories:
            try:
                done = _process.run([tools.terraform, "fmt", "-check", "-list=true", "-no-color", "."],
                                    cwd=directory, env=env, timeout=120, check=False)
            except ProcessError as exc:
                findings.append(_finding("terraform-fmt", directory, None, f"terraform could not run: "
                                         f"{exc.message}", "check the terraform installation"))
                continue
            if done.returncode == 0:
                continue
            listed = [line.strip() for line in done.stdout.splitlines() if line.strip().endswith(".tf")]
            if done.returncode == 3 and listed:
                findings.extend(_finding("terraform-fmt", directory / name, None, "file is not formatted",
                                         f"run `terraform fmt` in {directory.name}/") for name in listed)
            else:
                error = done.stderr.strip().split("\n\nThere are some problems")[0]
                findings.append(_finding("terraform-fmt", directory, None,
                                         f"terraform fmt failed: {error[-1500:] or done.stdout.strip()[-1500:]}",
                                         "correct the HCL syntax"))
    return findings
