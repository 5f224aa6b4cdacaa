"""Terraform conventions on parsed HCL (python-hcl2): module layout, pinned providers, fmt, validate."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from playbook import _process
from playbook.checks.findings import ERROR, Finding, skipped
from playbook.checks.rules import pattern_doc
from playbook.checks.tools import Tools, child_env
from playbook.errors import ProcessError

LAYOUT_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
# An exact release ("0.66.1" or "= 0.66.1") or a pessimistic minor pin ("~> 0.66", "~> 0.66.1").
PINNED = re.compile(r"^\s*(=?\s*\d+\.\d+\.\d+|~>\s*\d+\.\d+(\.\d+)?)\s*$")
PROXMOX_SOURCE = "bpg/proxmox"


def _finding(rule: str, file: Path, line: int | None, message: str, fix: str, severity: str = ERROR) -> Finding:
    return Finding(rule, severity, str(file), line, message, f"{fix} (see {pattern_doc(rule)})")


def parse_hcl(path: Path) -> tuple[dict[str, Any] | None, Finding | None]:
    import hcl2
    from hcl2.utils import SerializationOptions
    from lark.exceptions import LarkError

    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = hcl2.loads(text, serialization_options=SerializationOptions(strip_string_quotes=True))
    except LarkError as exc:
        line = getattr(exc, "line", None)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, _finding("terraform-hcl", path, line if isinstance(line, int) and line > 0 else None,
                              f"not valid HCL: {first}", "correct the syntax (`terraform fmt` shows where)")
    return data, None


def _blocks(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def _labels(data: dict[str, Any], key: str) -> set[str]:
    """First labels of `resource "x" ...` / `data "x"` / `provider "x"` blocks."""
    return {str(name).strip('"') for block in _blocks(data, key) for name in block if not name.startswith("__")}


def _line_of(path: Path, name: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*=\s*\{{")
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def required_providers(path: Path, data: dict[str, Any]) -> list[tuple[str, dict[str, Any], int | None]]:
    found = []
    for block in _blocks(data, "terraform"):
        for providers in block.get("required_providers") or []:
            if not isinstance(providers, dict):
                continue
            for name, spec in providers.items():
                if not name.startswith("__"):
                    found.append((name, spec if isinstance(spec, dict) else {"version": spec}, _line_of(path, name)))
    return found


def check_module(directory: Path) -> list[Finding]:
    findings = []
    for name in LAYOUT_FILES:
        if not (directory / name).is_file():
            findings.append(_finding("terraform-layout", directory / name, None, f"{name} is missing",
                                     f"add {name} to {directory.name}/ (an empty outputs.tf is fine)"))
    parsed: dict[Path, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        data, problem = parse_hcl(path)
        if problem is not None:
            findings.append(problem)
        elif data is not None:
            parsed[path] = data
    uses_proxmox = any(label.startswith("proxmox_") for data in parsed.values()
                       for key in ("resource", "data") for label in _labels(data, key)) or \
        any("proxmox" in _labels(data, "provider") for data in parsed.values())
    entries = [(path, *entry) for path, data in parsed.items() for entry in required_providers(path, data)]
    if uses_proxmox and not any(name == "proxmox" for _, name, _, _ in entries):
        findings.append(_finding("terraform-provider-pin", directory / "versions.tf", None,
                                 "the module uses the Proxmox provider but required_providers has no `proxmox` entry",
                                 f'declare proxmox = {{ source = "{PROXMOX_SOURCE}", version = "0.66.1" }} '
                                 "in terraform { required_providers { ... } } in versions.tf"))
    for path, name, spec, line in entries:
        source, version = spec.get("source"), spec.get("version")
        if name == "proxmox" and source != PROXMOX_SOURCE:
            findings.append(_finding("terraform-provider-pin", path, line,
                                     f"proxmox provider source is {source or 'missing'!r}",
                                     f'use source = "{PROXMOX_SOURCE}" (the maintained provider)'))
        elif not source:
            findings.append(_finding("terraform-provider-pin", path, line, f"provider {name!r} has no source",
                                     'add source = "<namespace>/<name>"'))
        if not isinstance(version, str) or not PINNED.match(version):
            got = repr(version) if version is not None else "missing"
            findings.append(_finding("terraform-provider-pin", path, line,
                                     f"provider {name!r} version constraint is {got}",
                                     'pin it to a release: version = "0.66.1" (or "~> 0.66")'))
    return findings


def _env(scratch: str) -> dict[str, str]:
    config = Path(scratch) / "terraformrc"
    config.write_text("", encoding="utf-8")
    return child_env(scratch, TF_CLI_CONFIG_FILE=str(config), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")


def check_fmt(directories: list[Path], tools: Tools) -> list[Finding]:
    if not directories:
        return []
    if tools.terraform is None:
        return [skipped("terraform", "terraform-fmt", str(directories[0]), "terraform is not installed",
                        "install terraform to run `terraform fmt -check` and `terraform validate`")]
    findings = []
    with tempfile.TemporaryDirectory(prefix="playbook-tf-") as scratch:
        env = _env(scratch)
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
    return [Finding(**{**f.__dict__, "tool": "terraform"}) for f in findings]


def _tracked(path: Path) -> bool:
    """Whether git tracks anything under path; outside a work tree (cannot tell) it counts as tracked."""
    try:
        done = _process.run(["git", "ls-files", "--", path.name], cwd=path.parent,
                            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"},
                            timeout=30, check=False)
    except ProcessError:
        return True  # cannot tell: do not run it
    return done.returncode != 0 or bool(done.stdout.strip())


def check_validate(directories: list[Path], tools: Tools) -> list[Finding]:
    """`terraform validate` where the module is initialised; it needs provider plugins to run."""
    if not directories:
        return []
    if tools.terraform is None:
        return []  # check_fmt already reported terraform as missing
    # A committed .terraform/ would make validate run provider binaries from the tree under check.
    initialised = [d for d in directories if (d / ".terraform").is_dir()]
    ready = [d for d in initialised if not _tracked(d / ".terraform")]
    findings: list[Finding] = []
    if len(ready) < len(initialised):
        refused = [d for d in initialised if d not in ready]
        findings.append(skipped(
            "terraform", "terraform-validate", str(refused[0]),
            f"{len(refused)} module(s) carry a .terraform/ that is committed (or not in a git work tree): "
            "validate would run provider binaries from the tree under check",
            "remove .terraform/ from the repository (it belongs in .gitignore) and run `terraform init`"))
    if len(initialised) < len(directories):
        waiting = [d for d in directories if d not in initialised]
        findings.append(skipped(
            "terraform", "terraform-validate", str(waiting[0]),
            f"{len(waiting)} module(s) not initialised: `terraform validate` needs the provider plugins, "
            "which `terraform init` downloads from the Terraform registry",
            "run `terraform init -backend=false` where the registry is reachable (CI), then check again"))
    with tempfile.TemporaryDirectory(prefix="playbook-tf-") as scratch:
        env = _env(scratch)
        for directory in ready:
            try:
                done = _process.run([tools.terraform, "validate", "-no-color"], cwd=directory, env=env,
                                    timeout=180, check=False)
            except ProcessError as exc:
                findings.append(Finding("terraform-validate", ERROR, str(directory), None,
                                        f"terraform validate could not run: {exc.message}",
                                        "check the terraform installation", tool="terraform"))
                continue
            if done.returncode != 0:
                findings.append(Finding("terraform-validate", ERROR, str(directory), None,
                                        f"terraform validate failed: {(done.stderr or done.stdout).strip()[-1500:]}",
                                        "correct the configuration until `terraform validate` passes",
                                        tool="terraform"))
    return findings
