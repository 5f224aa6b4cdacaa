"""Portainer stack registrations (patterns/portainer-stack.md): ``portainer_stack`` resources in the
apps repository's ``terraform/`` that register ``stacks/<name>/`` from the repository itself.

A small block scanner reads the HCL (like ``rules_terraform``): only the top-level ``name = value``
attributes of ``portainer_stack`` blocks and the ``required_providers`` entry are inspected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from playbook.checks.findings import ERROR, Finding
from playbook.checks.rules import pattern_doc

RULE = "portainer-stack"
RESOURCE = re.compile(r'^\s*resource\s+"portainer_stack"\s+"(?P<label>[A-Za-z0-9_-]+)"\s*\{', re.MULTILINE)
ATTRIBUTE = re.compile(r'^\s*(?P<key>[a-z_]+)\s*=\s*(?P<value>.+?)\s*(#.*)?$', re.MULTILINE)
PROVIDER_ENTRY = re.compile(r"^\s*portainer\s*=\s*\{(?P<body>[^}]*)\}", re.MULTILINE)
PINNED = re.compile(r'^\s*(=\s*\d+\.\d+\.\d+|~>\s*\d+\.\d+(\.\d+)?)\s*$')
SECRET_KEYS = ("repository_password", "repository_username", "api_key", "api_password")
STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Block:
    label: str
    line: int
    attributes: dict[str, str]


def _finding(file: Path, line: int | None, message: str, fix: str) -> Finding:
    return Finding(RULE, ERROR, str(file), line, message, f"{fix} (see {pattern_doc(RULE)})")


def _blocks(text: str) -> list[Block]:
    """Every ``resource "portainer_stack"`` block with its top-level attributes (values unparsed)."""
    blocks = []
    for match in RESOURCE.finditer(text):
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        body = text[match.end():index - 1]
        attributes: dict[str, str] = {}
        nested = 0
        for raw in body.splitlines():
            if nested == 0 and (attr := ATTRIBUTE.match(raw)):
                attributes[attr["key"]] = attr["value"]
            nested += raw.count("{") - raw.count("}")
        blocks.append(Block(match["label"], text.count("\n", 0, match.start()) + 1, attributes))
    return blocks


def _string(value: str | None) -> str | None:
    if value is None or not (value.startswith('"') and value.endswith('"')) or "${" in value:
        return None
    return value[1:-1]


def _repo_root(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / "stacks").is_dir():
            return candidate
    return None


def check_registrations(files: list[Path]) -> list[Finding]:
    """The ``portainer-stack`` rule over the Terraform files given (only files with registrations count)."""
    findings: list[Finding] = []
    registering_dirs: set[Path] = set()
    for file in sorted(f for f in files if f.suffix == ".tf"):
        text = file.read_text(encoding="utf-8", errors="replace")
        for block in _blocks(text):
            registering_dirs.add(file.parent)
            findings.extend(_check_block(file, block))
    for directory in sorted(registering_dirs):
        findings.extend(_check_provider(directory))
    return findings


def _check_block(file: Path, block: Block) -> list[Finding]:
    out: list[Finding] = []
    attrs = block.attributes
    where = f"portainer_stack.{block.label}"
    if _string(attrs.get("method")) != "repository":
        out.append(_finding(file, block.line, f'{where}: method is {attrs.get("method", "missing")}, not "repository"',
                            'set method = "repository" so Portainer pulls the stack from this repository'))
    if _string(attrs.get("deployment_type")) != "standalone":
        out.append(_finding(file, block.line, f"{where}: deployment_type is {attrs.get('deployment_type', 'missing')}",
                            'set deployment_type = "standalone" (Docker Compose on the Portainer host)'))
    name = _string(attrs.get("name"))
    if name is None or not STACK_NAME.match(name):
        out.append(_finding(file, block.line, f"{where}: name must be the stack's directory name as a plain string",
                            'name = "<category>-<app>", e.g. "media-sonarr"'))
    else:
        expected = f"stacks/{name}/docker-compose.yml"
        path = _string(attrs.get("file_path_in_repository"))
        if path != expected:
            out.append(_finding(file, block.line, f"{where}: file_path_in_repository is {path!r}, not {expected!r}",
                                f'file_path_in_repository = "{expected}"'))
        root = _repo_root(file.parent)
        if root is not None and not (root / expected).is_file():
            out.append(_finding(file, block.line, f"{where}: {expected} does not exist in this repository",
                                f"add the stack under stacks/{name}/ in the same change, or fix the name"))
        if block.label != name.replace("-", "_"):
            out.append(_finding(file, block.line, f"{where}: the resource label should be {name.replace('-', '_')!r}",
                                "label the resource with the stack name, dashes as underscores"))
    if "update_interval" not in attrs and _string(attrs.get("stack_webhook")) is None and \
            attrs.get("stack_webhook") != "true":
        out.append(_finding(file, block.line, f"{where}: GitOps updates are off",
                            'set update_interval = "5m" (or stack_webhook = true) so merges redeploy the stack'))
    for key in SECRET_KEYS:
        if key in attrs and attrs[key].startswith('"'):
            out.append(_finding(file, block.line, f"{where}: {key} is a literal string",
                                f"pass {key} from a variable (var.…) fed by the environment, never in git"))
    return out


def _check_provider(directory: Path) -> list[Finding]:
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in sorted(directory.glob("*.tf"))}
    entries = [(p, m) for p, t in texts.items() for m in PROVIDER_ENTRY.finditer(t) if "required_providers" in t]
    if not entries:
        return [_finding(directory / "versions.tf", None, "required_providers has no `portainer` entry",
                         'declare portainer = { source = "portainer/portainer", version = "~> 1.16" }')]
    out = []
    for path, match in entries:
        body = match["body"]
        source = re.search(r'source\s*=\s*"([^"]*)"', body)
        version = re.search(r'version\s*=\s*"([^"]*)"', body)
        line = texts[path].count("\n", 0, match.start()) + 1
        if source is None or source.group(1) != "portainer/portainer":
            out.append(_finding(path, line, "the portainer provider source is not portainer/portainer",
                                'source = "portainer/portainer" (the provider Portainer maintains)'))
        if version is None or not PINNED.match(version.group(1)):
            out.append(_finding(path, line, "the portainer provider version is not pinned",
                                'pin it: version = "~> 1.16" or "= 1.16.0"'))
    return out
