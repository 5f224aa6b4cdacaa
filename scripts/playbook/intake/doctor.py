"""`playbook doctor`: check a real GitHub setup, read-only, and say exactly what to fix.

One finding per thing a first run needs, in the order a newcomer sets them up: the playbook
repository, its workflows (present and the same as this checkout), the "allow Actions to create
pull requests" setting, the labels, the secrets its workflows read (by name), the targets in
playbook.yaml, and for each target: reachable with the dispatch token, the caller workflow
installed and pinned to a playbook commit that exists, Actions allowed to open the IaC PR there,
and the secrets that workflow passes on.

API calls are fixed: 6 for the playbook repository (plus 1 per workflow file) and 5 per target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from playbook.adapters.github import ACTIONS_PR_SETTING, git_blob_sha
from playbook.config import Config
from playbook.delivery.target import WORKFLOW_PATH
from playbook.errors import PlaybookError
from playbook.intake.github_flow import LABELS

PLACEHOLDER_OWNER = "your-user"
WORKFLOWS_DIR = ".github/workflows"
ISSUE_FORM = ".github/ISSUE_TEMPLATE/bmad-request.yml"
SECRET_REF = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
CALLER_USES = re.compile(r"^\s*uses:\s*(?P<repo>[^/\s]+/[^/\s]+)/\.github/workflows/bmad-dev\.yml@(?P<ref>\S+)", re.M)
SHA = re.compile(r"^[0-9a-f]{40}$")

# Secrets the playbook workflows read that a first run can do without (name -> what is lost).
OPTIONAL_SECRETS: dict[str, str] = {
    "ANTHROPIC_API_KEY": "the Claude-routed phases fall back to Gemini (playbook.yaml fallbacks)",
    "PORTAINER_URL": "bmad-drift compares the repos only, not Portainer's live stacks",
    "PORTAINER_API_TOKEN": "bmad-drift compares the repos only, not Portainer's live stacks",
}
# Labels a first run needs before any workflow has run: the issue form applies them, and GitHub
# drops a form label that does not exist. The rest are created by the first run.
LABELS_BEFORE_FIRST_RUN = frozenset({"bmad:brief"})
# What each target's caller workflow passes on; one of each group must exist there.
TARGET_SECRETS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"), "the Claude Code CLI credential for the dev agent"),
    (("BMAD_PLAYBOOK_TOKEN",), "checks out the playbook and reports the IaC PR back on the issue"),
)


class SetupReader(Protocol):
    """Read-only GitHub calls (``adapters.github_setup.GitHubSetupReader``; a loopback fake in tests)."""

    def repository(self, repo: str) -> dict[str, Any] | None: ...
    def workflow_permissions(self, repo: str) -> dict[str, Any]: ...
    def secret_names(self, repo: str) -> set[str]: ...
    def label_names(self, repo: str) -> set[str]: ...
    def file_text(self, repo: str, path: str, ref: str | None = None) -> tuple[str, str] | None: ...
    def commit_exists(self, repo: str, sha: str) -> bool: ...
    def default_head(self, repo: str) -> str | None: ...


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # "ok", "warning" or "error"
    message: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.severity != "error"


@dataclass(frozen=True)
class Report:
    playbook_repo: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"playbook_repo": self.playbook_repo, "ok": self.ok,
                "problems": sum(not f.ok for f in self.findings),
                "findings": [asdict(f) for f in self.findings]}


def _ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def _error(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "error", message, fix)


def _guard(check: str, step: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one check; an API failure becomes its finding (with the adapter's fix) instead of a crash."""
    try:
        return step()
    except PlaybookError as exc:
        return [_error(check, exc.message, exc.fix or "see the message")]


def local_workflows(root: Path) -> dict[str, str]:
    """The bmad workflow files (and the issue form) of this checkout: repo path -> text."""
    found = {}
    for path in sorted((root / WORKFLOWS_DIR).glob("bmad-*.yml")):
        found[f"{WORKFLOWS_DIR}/{path.name}"] = path.read_text(encoding="utf-8")
    form = root / ISSUE_FORM
    if form.is_file():
        found[ISSUE_FORM] = form.read_text(encoding="utf-8")
    return found


def secrets_read(workflows: dict[str, str]) -> set[str]:
    """Secrets the playbook repository's own workflows read (reusable workflows get theirs from callers)."""
    names: set[str] = set()
    for path, text in workflows.items():
        if path.startswith(WORKFLOWS_DIR) and not _reusable_only(text):
            names.update(SECRET_REF.findall(text))
    return names - {"GITHUB_TOKEN"}


def _reusable_only(text: str) -> bool:
    import yaml

    doc = yaml.safe_load(text) or {}
    triggers = doc.get("on", doc.get(True)) if isinstance(doc, dict) else None
    return isinstance(triggers, dict) and set(triggers) == {"workflow_call"}


# --------------------------------------------------------------------------- the checks


def check_playbook(reader: SetupReader, repo: str, workflows: dict[str, str]) -> list[Finding]:
    info = reader.repository(repo)
    if info is None:
        return [_error("playbook-repo", f"{repo} is not visible with GITHUB_TOKEN",
                       f"check the name (--playbook-repo owner/name) and give GITHUB_TOKEN access to {repo}")]
    found = [_ok("playbook-repo", f"{repo} is reachable (default branch {info['default_branch']})")]
    found += _guard("workflows", lambda: check_workflows(reader, repo, workflows))
    found += _guard("actions-pull-requests", lambda: check_pr_setting(reader, repo))
    found += _guard("labels", lambda: check_labels(reader, repo))
    found += _guard("secrets", lambda: check_secrets(reader, repo, secrets_read(workflows)))
    return found


def check_workflows(reader: SetupReader, repo: str, workflows: dict[str, str]) -> list[Finding]:
    missing, stale = [], []
    for path, text in workflows.items():
        remote = reader.file_text(repo, path)
        if remote is None:
            missing.append(path)
        elif remote[1] != git_blob_sha(text):
            stale.append(path)
    found = []
    if missing:
        found.append(_error("workflows", f"missing on GitHub: {', '.join(missing)}",
                            f"commit and push them to the default branch of {repo} (git push origin HEAD)"))
    if stale:
        found.append(_error("workflows", f"not the same on GitHub as in this checkout: {', '.join(stale)}",
                            f"push this checkout to {repo} (or `git pull` if GitHub has the newer ones)"))
    if not found:
        found.append(_ok("workflows", f"{len(workflows)} workflow files on GitHub match this checkout"))
    return found


def check_pr_setting(reader: SetupReader, repo: str, pull: str = "planning PR") -> list[Finding]:
    settings = reader.workflow_permissions(repo)
    if not settings.get("can_approve_pull_request_reviews"):
        return [_error("actions-pull-requests", f"GitHub Actions may not create pull requests in {repo} "
                       f"(the {pull} would fail)", f"in {repo}: {ACTIONS_PR_SETTING} (tick it, Save)")]
    return [_ok("actions-pull-requests", f"GitHub Actions may create pull requests in {repo}")]


def check_labels(reader: SetupReader, repo: str) -> list[Finding]:
    have = {n.lower() for n in reader.label_names(repo)}
    missing = [spec for spec in LABELS if spec.name.lower() not in have]
    needed = [s for s in missing if s.name in LABELS_BEFORE_FIRST_RUN]
    found = []
    for spec in needed:
        found.append(_error("labels", f"label {spec.name} is missing: the issue form's label is dropped and no "
                            "request starts", f"create it: gh label create {spec.name} --repo {repo} "
                            f"--color {spec.color} --description \"{spec.description}\""))
    later = [s.name for s in missing if s not in needed]
    if later:
        found.append(Finding("labels", "warning", f"not created yet (the first run creates them): {', '.join(later)}"))
    if not missing:
        found.append(_ok("labels", f"all {len(LABELS)} labels exist"))
    return found


def check_secrets(reader: SetupReader, repo: str, needed: Iterable[str]) -> list[Finding]:
    have = reader.secret_names(repo)
    found = []
    for name in sorted(needed):
        if name in have:
            found.append(_ok("secrets", f"secret {name} exists"))
        elif name in OPTIONAL_SECRETS:
            found.append(Finding("secrets", "warning", f"secret {name} is not set: {OPTIONAL_SECRETS[name]}",
                                 f"add it in {repo}: Settings → Secrets and variables → Actions"))
        else:
            found.append(_error("secrets", f"secret {name} is missing (the workflows read it)",
                                f"add it in {repo}: Settings → Secrets and variables → Actions → "
                                f"New repository secret named {name} (or: gh secret set {name} --repo {repo})"))
    return found


def check_target(kind: str, target: str, *, playbook_repo: str, reader: SetupReader,
                 dispatcher: SetupReader | None, playbook_head: str | None) -> list[Finding]:
    check = f"target:{kind}"
    if target.split("/", 1)[0] == PLACEHOLDER_OWNER:
        return [_error(check, f"playbook.yaml targets.{kind}.repo is still the placeholder {target}",
                       f"set targets.{kind}.repo in playbook.yaml to your repository (owner/name), commit and push")]
    found: list[Finding] = []
    if dispatcher is None:
        found.append(_error(check, f"cannot check that {target} accepts dispatches: BMAD_DISPATCH_TOKEN is not set",
                            "run doctor with BMAD_DISPATCH_TOKEN set to the token stored in that secret"))
    else:
        try:
            seen = dispatcher.repository(target)
            why = ""
        except PlaybookError as exc:
            seen, why = None, f" ({exc.message})"
        if seen is None:
            found.append(_error(check, f"{target} is not reachable with the dispatch token{why}",
                                f"give BMAD_DISPATCH_TOKEN Contents: read and write on {target}"))
        elif (seen.get("permissions") or {}).get("push") is False:
            found.append(_error(check, f"the dispatch token can read {target} but not write to it "
                                "(repository_dispatch needs write)",
                                f"give BMAD_DISPATCH_TOKEN Contents: read and write on {target}"))
        else:
            found.append(_ok(check, f"{target} is reachable with the dispatch token"))
    found += _guard(check, lambda: _check_caller(check, kind, target, playbook_repo, reader, playbook_head))
    found += _guard(check, lambda: [replace(f, check=check) for f in check_pr_setting(reader, target, "IaC PR")])
    found += _guard(check, lambda: _check_target_secrets(check, target, reader))
    return found


def _check_caller(check: str, kind: str, target: str, playbook_repo: str, reader: SetupReader,
                  playbook_head: str | None) -> list[Finding]:
    install = (f"from the playbook checkout: playbook init-target --kind {kind} --repo-dir <your clone of {target}> "
               f"--playbook-repo {playbook_repo} --playbook-ref <playbook commit>, then commit and push {target}")
    caller = reader.file_text(target, WORKFLOW_PATH.as_posix())
    if caller is None:
        return [_error(check, f"{target} has no {WORKFLOW_PATH.as_posix()} (stories would never run there)", install)]
    match = CALLER_USES.search(caller[0])
    if match is None:
        return [_error(check, f"{target}'s {WORKFLOW_PATH.as_posix()} does not call bmad-dev.yml", install)]
    repo, ref = match.group("repo"), match.group("ref")
    if repo.lower() != playbook_repo.lower():
        return [_error(check, f"{target}'s caller workflow uses {repo}, not {playbook_repo}", install)]
    if not SHA.fullmatch(ref):
        return [_error(check, f"{target}'s caller workflow is pinned to {ref!r}, not a commit SHA", install)]
    if not reader.commit_exists(playbook_repo, ref):
        return [_error(check, f"{target}'s caller workflow is pinned to {ref[:12]}, which is not a commit of "
                       f"{playbook_repo}", install)]
    if playbook_head and ref != playbook_head:
        return [Finding(check, "warning", f"{target}'s caller workflow is pinned to {ref[:12]}; {playbook_repo} is "
                        f"now at {playbook_head[:12]}", f"to upgrade: {install.replace('<playbook commit>', playbook_head)}")]
    return [_ok(check, f"{target}'s caller workflow is installed and pinned to {ref[:12]}")]


def _check_target_secrets(check: str, target: str, reader: SetupReader) -> list[Finding]:
    have = reader.secret_names(target)
    found = []
    for names, why in TARGET_SECRETS:
        if not have.intersection(names):
            found.append(_error(check, f"{target} has no secret {' or '.join(names)} ({why})",
                                f"add it in {target}: Settings → Secrets and variables → Actions "
                                f"(or: gh secret set {names[0]} --repo {target})"))
    if not found:
        found.append(_ok(check, f"{target} has the secrets its caller workflow passes on"))
    return found


def run_doctor(*, root: Path, config: Config, playbook_repo: str, reader: SetupReader,
               dispatcher: SetupReader | None) -> Report:
    workflows = local_workflows(root)
    findings = check_playbook(reader, playbook_repo, workflows)
    reachable = findings[0].ok
    playbook_head = None
    if reachable:
        try:
            playbook_head = reader.default_head(playbook_repo)
        except PlaybookError:
            playbook_head = None  # the pin is still checked; only the "newer commit" hint is skipped
    for kind, target in sorted(config.targets.items()):
        findings += check_target(kind, target.repo, playbook_repo=playbook_repo, reader=reader, dispatcher=dispatcher,
                                 playbook_head=playbook_head if reachable else None)
    return Report(playbook_repo, tuple(findings))
