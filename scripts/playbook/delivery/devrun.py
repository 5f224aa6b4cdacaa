"""One dev run in a target repository: story + context → Claude Code CLI → diff policy → result.

This is the step of the target-repo job that holds a model credential but no write
token. It leaves two files in ``out_dir`` for the publishing step (which runs with
the token and never runs the CLI):

* ``result.json`` — story, kind, the CLI's session / turns / cost / subtype, whether
  the run was incomplete and why, the files changed, every policy violation, and
  the dispatch payload when the run came from one;
* ``changes.patch`` — ``git diff --binary`` of what is left after path violations
  were reverted (untracked files included).

Files written before a turn limit, an error or a timeout are kept and reported as
incomplete: a partial stack in a draft PR is more useful than nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.adapters.agent_user import AgentUser
from playbook.adapters.claude_cli import ClaudeResult, FileScope, run_claude
from playbook.config import TARGET_KINDS, Config
from playbook.delivery import diffpolicy, secretscan
from playbook.delivery.scratch import Scratch, apply_back, confine, shut_paths
from playbook.errors import ModelOutputError, PayloadError, ValidationError
from playbook.planning import artifacts
from playbook.planning.context import Piece, fit
from playbook.ports import Usage
from playbook.settings import Settings

RESULT_FILE = "result.json"
PATCH_FILE = "changes.patch"
PROMPT_FILE = "prompt.md"
RESULT_SCHEMA_VERSION = 1
MAX_CURRENT_DIFF_CHARS = 40_000  # the PR's current diff, given with `/revise` feedback

EXAMPLES_PER_RUN = 2
EXAMPLE_FILE_CHARS = 6000

# Where example units live per kind: a unit is one directory a story usually adds one of.
EXAMPLE_ROOTS: dict[str, tuple[str, ...]] = {
    "apps": ("stacks",),
    "infra": ("terraform/modules", "ansible/roles", "terraform", "packer"),
}

Runner = Callable[..., ClaudeResult]


@dataclass(frozen=True)
class DevResult:
    story_id: str
    kind: str
    claude: ClaudeResult
    files: tuple[str, ...]
    violations: tuple[str, ...]
    reverted: tuple[str, ...]
    out_dir: Path
    payload: Mapping[str, Any] | None = field(default=None, compare=False)
    refused: tuple[str, ...] = ()  # secret-bearing files or content, never published
    denied: tuple[str, ...] = ()  # tool calls the CLI refused (the attempts outside the box)

    @property
    def incomplete_reason(self) -> str | None:
        return self.claude.incomplete_reason


# --------------------------------------------------------------------------- inputs


def resolve_story_path(story_path: Path, playbook_dir: Path) -> Path:
    """The story file, refused before reading unless it sits under the stories directory.

    A relative path is taken relative to the playbook checkout.
    """
    from playbook.delivery.payloads import safe_story_path

    root = playbook_dir.resolve()
    candidate = story_path if story_path.is_absolute() else root / story_path
    base = (root / artifacts.IMPLEMENTATION_DIR).resolve()
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base):
        raise PayloadError(
            "unsafe story path: it resolves outside the stories directory",
            fix=f"name a story file under {artifacts.IMPLEMENTATION_DIR}/ of the playbook checkout",
        )
    return safe_story_path(root, resolved.relative_to(root).as_posix())


def story_path_from_event(event_file: Path) -> tuple[dict[str, Any], Path]:
    """The validated ``client_payload`` of a ``bmad-story`` repository_dispatch event."""
    from playbook.delivery.payloads import validate_story_payload

    try:
        event = json.loads(event_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PayloadError(f"{event_file}: not a readable JSON event ({type(exc).__name__})",
                           fix="pass the file GitHub Actions names in GITHUB_EVENT_PATH") from None
    if not isinstance(event, dict) or "client_payload" not in event:
        raise PayloadError(f"{event_file}: not a repository_dispatch event (no client_payload)",
                           fix="run this step only on `repository_dispatch` with types: [bmad-story]")
    action = event.get("action")
    if action is not None and action != "bmad-story":
        raise PayloadError("the repository_dispatch event type is not bmad-story",
                           fix="run this step only on `repository_dispatch` with types: [bmad-story]")
    payload = validate_story_payload(event["client_payload"])
    return payload, Path(payload["story_path"])


def resolve_kind(story: artifacts.Story, kind: str | None) -> str:
    """The target kind of this run: given, or the story's own when it names one repo."""
    if kind is None:
        if story.target == "both":
            raise ValidationError(f"story {story.id} targets both repositories",
                                  fix="pass --kind infra or --kind apps (one run per target repository)")
        return story.target
    if kind not in TARGET_KINDS:
        raise ValidationError(f"unknown kind {kind!r}", fix="use --kind infra or --kind apps")
    if story.target not in (kind, "both"):
        raise ValidationError(f"story {story.id} targets {story.target}, not {kind}",
                              fix=f"run it in the {story.target} repository, or /route the story first")
    return kind


# --------------------------------------------------------------------------- context


def read_patterns(playbook_dir: Path, kind: str) -> str:
    from playbook.patterns import load_patterns

    return "\n".join(f"### patterns/{p.filename}\n\n{p.body}\n" for p in load_patterns(playbook_dir / "patterns", kind))


def read_recipes(playbook_dir: Path, kind: str, story_text: str) -> str:
    """The service recipes (patterns/services/) for the services the story names; apps only."""
    from playbook.patterns import load_recipes, recipes_for

    if kind != "apps":
        return ""
    chosen = recipes_for(story_text, load_recipes(playbook_dir / "patterns"))
    return "\n".join(f"### patterns/{r.pattern.filename}\n\n{r.pattern.body}\n" for r in chosen)


def read_examples(repo_dir: Path, kind: str, service: str) -> str:
    """Up to two existing units (stacks, modules, roles) of the target repo, as text."""
    units: list[Path] = []
    for root in EXAMPLE_ROOTS[kind]:
        directory = repo_dir / root
        if not directory.is_dir() or directory.is_symlink():
            continue
        for unit in sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink()):
            if unit.name in (service, "modules", "roles") or unit.name.startswith("."):
                continue
            if unit not in units:
                units.append(unit)
    parts = []
    for unit in units[:EXAMPLES_PER_RUN]:
        for path in sorted(p for p in unit.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(repo_dir).as_posix()
            if secretscan.is_secret_file(rel) or "/.git/" in f"/{rel}":
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            parts.append(f"### {rel}\n\n```\n{text[:EXAMPLE_FILE_CHARS]}\n```\n")
    return "\n".join(parts)


def _read_optional(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8") if path.is_file() and not path.is_symlink() else ""
    except (UnicodeDecodeError, OSError):
        return ""


def _placement(playbook_dir: Path, service: str) -> str:
    from playbook.errors import ValidationError
    from playbook.topology import placement, registry

    path = playbook_dir / registry.REGISTRY_PATH
    try:
        return placement.placement_note(registry.load(path), service) if path.is_file() else ""
    except ValidationError:
        return ""  # an invalid registry is reported by `playbook topology validate`, not by the dev run


def build_prompt(
    story: artifacts.Story, story_text: str, *, request_dir: str, kind: str, playbook_dir: Path, repo_dir: Path,
    allowed_prefixes: tuple[str, ...], budget_tokens: int, feedback: str = "", current_diff: str = "",
) -> str:
    """The dev-story skill (``skills/dev-story/SKILL.md``) rendered with the whole context, inline.

    Context is fitted to the budget in priority order (story, architecture, patterns, examples,
    topology). Inline rather than a file the CLI is told to Read: no turns spent reading, nothing
    written into the target repository that the diff policy would have to ignore, and long prompts
    travel on stdin (see ``claude_cli.ARGV_PROMPT_LIMIT``).
    """
    from playbook.patterns import load_patterns
    from playbook.planning.skills import render_skill

    skill = _dev_skill(playbook_dir)
    planning = playbook_dir / artifacts.PLANNING_DIR / request_dir
    pattern_docs = [{"name": f"patterns/{p.filename}", "title": p.title, "body": p.body}
                    for p in load_patterns(playbook_dir / "patterns", kind)]
    pieces = [
        Piece("story", story_text, required=True),
        Piece("architecture", _read_optional(planning / "architecture.md")),
        Piece("patterns", read_patterns(playbook_dir, kind)),
        Piece("recipes", read_recipes(playbook_dir, kind, story_text)),
        Piece("examples", read_examples(repo_dir, kind, story.service)),
        Piece("placement", _placement(playbook_dir, story.service)),
        Piece("topology", _read_optional(playbook_dir / "_bmad-output" / "topology.yaml")),
    ]
    fitted = fit(pieces, budget_tokens)
    if "patterns" in fitted.dropped:
        pattern_docs = []
    elif "patterns" in fitted.trimmed:
        pattern_docs = [{"name": "patterns", "title": "Patterns (trimmed to fit the budget)",
                         "body": fitted.texts["patterns"]}]
    recipes = fitted.texts.get("recipes", "").strip()
    if recipes:  # current, known-good settings for the services of this story (patterns/services/)
        pattern_docs = [*pattern_docs, {"name": "patterns/services", "title": "Service recipes", "body": recipes}]
    variables = {
        "request": {"id": request_dir.split("-", 1)[0], "title": story.title, "body": "",
                    "slug": request_dir.split("-", 1)[-1]},
        "artifacts": {"brief": "", "prd": "", "ux_design": "", "architecture": fitted.texts.get("architecture", ""),
                      "epics": "", "research": "", "project_context": ""},
        "story": {"id": story.id, "title": story.title, "body": fitted.texts["story"]},
        "patterns": pattern_docs,
        "examples": fitted.texts.get("examples", ""),
        # where it runs (placement from the registry) leads the topology section of the skill
        "topology": "\n\n".join(t for t in (fitted.texts.get("placement", "").strip(),
                                             fitted.texts.get("topology", "").strip()) if t),
        # `/revise <feedback>` on the IaC PR: the skill's revision section gets the feedback and the PR's diff
        "feedback": feedback,
        "previous": current_diff[:MAX_CURRENT_DIFF_CHARS] if feedback else "",
        "revision": 2 if feedback else 1,
    }
    prefixes = ", ".join(f"`{p}`" for p in allowed_prefixes)
    out = [
        f"Implement story {story.id} (\"{story.title}\") in this {kind} repository. Write only under {prefixes}; "
        f"the service is `{story.service}`.",
        render_skill(skill, variables).strip(),
    ]
    if fitted.dropped or fitted.trimmed:
        out.append(f"(Context trimmed to fit the budget: trimmed {list(fitted.trimmed)}, "
                   f"dropped {list(fitted.dropped)}.)")
    return "\n\n".join(out) + "\n"


def _dev_skill(playbook_dir: Path) -> Any:
    """skills/dev-story/SKILL.md from the playbook checkout, validated like every skill."""
    from playbook.config import load_config
    from playbook.errors import SkillError
    from playbook.planning.skills import SKILL_FILE, parse_skill

    path = playbook_dir / "skills" / "dev-story" / SKILL_FILE
    if not path.is_file():
        raise SkillError(f"{path}: the dev-story skill is missing from the playbook checkout",
                         fix="check out the whole playbook repository (skills/ included) for the dev run")
    return parse_skill(path, aliases=set(load_config(playbook_dir).models))


def system_rules(kind: str, allowed_prefixes: tuple[str, ...]) -> str:
    return (
        f"You are implementing infrastructure-as-code in a homelab {kind} repository, headless, with no "
        f"person to answer questions. Only create or edit files under {', '.join(allowed_prefixes)}. Never "
        "touch .github/, .git/, CI files or files outside those directories; never create symlinks; never "
        "run git, network or package-manager commands. Never put real secrets in files: use variables and "
        "sample files as the patterns describe. Changes outside the allowed paths are discarded "
        "automatically. If something is unclear, choose the simplest option that satisfies the patterns "
        "and mention it in your summary."
    )


# --------------------------------------------------------------------------- the run


def run_dev(
    *,
    story_path: Path,
    playbook_dir: Path,
    repo_dir: Path,
    kind: str | None,
    settings: Settings,
    config: Config,
    out_dir: Path,
    runner: Runner = run_claude,
    model: str | None = None,
    payload: Mapping[str, Any] | None = None,
    agent: AgentUser | None = None,
    protected: Sequence[Path] = (),
    scratch_parent: Path | None = None,
    feedback: str = "",
    base_ref: str = "",
) -> DevResult:
    """Run the CLI on a scratch copy of ``repo_dir``; only the judged patch comes back.

    ``agent`` runs the CLI as that unprivileged user; ``protected`` are paths it must not
    reach (the runner's home and temp, the file-command files): checked as that user before
    the run, and denied by path rules in any case, as are the playbook checkout and ``out_dir``.
    ``feedback`` (a `/revise` on the IaC PR) re-runs the story on the checked-out story branch, with the
    branch's diff against ``base_ref`` as the previous revision.
    """
    story_file = resolve_story_path(story_path, playbook_dir)  # before anything is read
    story_text = story_file.read_text(encoding="utf-8")
    story = artifacts.story_from_text(story_text, path=str(story_file))
    kind = resolve_kind(story, kind)
    if payload is not None:
        check_story_matches(story, payload, story_file.relative_to(playbook_dir.resolve()).as_posix())
    allowed = diffpolicy.story_paths(kind, story.service, config.target(kind).paths)
    repo_dir = repo_dir.resolve()
    if out_dir.resolve().is_relative_to(repo_dir):
        # The diff policy would count (and revert) the result files as part of the change.
        raise ValidationError(f"--out {out_dir} is inside the target repository {repo_dir}",
                              fix="write the dev result outside the target checkout, e.g. --out ../dev-result")
    _snapshot_git_config(repo_dir)  # refuses a directory that is not a checkout
    current_diff = ""
    if feedback and base_ref:
        from playbook.adapters import git as gitlib

        current_diff = gitlib.git(repo_dir, "diff", f"{base_ref}...HEAD")
    out_dir.mkdir(parents=True, exist_ok=True)
    shut = shut_paths(playbook_dir=playbook_dir, out_dir=out_dir, repo_dir=repo_dir, protected=protected)
    scratch = confine(repo_dir, shut=shut, agent=agent, what="dev run", write_prefixes=allowed, parent=scratch_parent)
    try:
        return _run_in_scratch(story, story_text, story_file, kind=kind, allowed=allowed, scratch=scratch,
                               repo_dir=repo_dir, playbook_dir=playbook_dir.resolve(), settings=settings,
                               config=config, out_dir=out_dir, runner=runner, model=model, payload=payload,
                               agent=agent, shut=shut, feedback=feedback, current_diff=current_diff)
    finally:
        scratch.remove()


def check_story_matches(story: artifacts.Story, payload: Mapping[str, Any], story_path: str) -> None:
    """The story read at ``merge_sha`` must be the one the payload names: issue, id and target."""
    problems = []
    # a local request has no issue; its payload names the request number (as dispatch.plan_dispatches does)
    if (story.issue or int(story.request.split("-", 1)[0])) != payload.get("issue"):
        problems.append(f"the story belongs to issue #{story.issue}, the payload names #{payload.get('issue')}")
    epic, number = story_path.rsplit("/", 1)[-1].split("-")[1:3]
    if story.id != f"{epic}.{number}":
        problems.append(f"the story's id {story.id} does not match its file name")
    if story.target not in (payload.get("target"), "both"):
        problems.append(f"the story targets {story.target}, the payload names {payload.get('target')}")
    if payload.get("story_path") != story_path:
        problems.append("the payload's story_path is not the story that was read")
    if problems:
        raise PayloadError("the bmad-story payload does not match the story at merge_sha: " + "; ".join(problems),
                           fix="re-dispatch the story from the playbook issue with `/dispatch <story>`")


def _run_in_scratch(
    story: artifacts.Story, story_text: str, story_file: Path, *, kind: str, allowed: tuple[str, ...],
    scratch: Scratch, repo_dir: Path, playbook_dir: Path, settings: Settings, config: Config, out_dir: Path,
    runner: Runner, model: str | None, payload: Mapping[str, Any] | None, agent: AgentUser | None,
    shut: Sequence[Path], feedback: str = "", current_diff: str = "",
) -> DevResult:
    work = scratch.work
    git_config = _snapshot_git_config(work)
    request_dir = story_file.parent.name
    prompt = build_prompt(story, story_text, request_dir=request_dir, kind=kind, playbook_dir=playbook_dir,
                          repo_dir=work, allowed_prefixes=allowed, budget_tokens=config.limits.context_tokens,
                          feedback=feedback, current_diff=current_diff)
    (out_dir / PROMPT_FILE).write_text(prompt, encoding="utf-8")
    scope = FileScope(write_prefixes=allowed, denied_dirs=tuple(str(p) for p in shut if p.is_absolute()))

    try:
        claude = runner(
            prompt,
            cwd=work,
            settings=settings,
            max_turns=config.dev.max_turns,
            timeout_seconds=config.dev.timeout_seconds,
            append_system_prompt=system_rules(kind, allowed),
            model=model,
            scope=scope,
            agent=agent,
            home=scratch.home,
        )
    except ModelOutputError as exc:
        # The CLI may have written files before failing; keep them and report incomplete.
        claude = ClaudeResult(subtype="error_output", is_error=True, result=None, session_id="", num_turns=0,
                              total_cost_usd=0.0, usage=Usage(), returncode=-1, errors=(exc.message[:500],))

    violations: list[str] = []
    if _restore_git_config(work, git_config):
        violations.append(".git/config: changed during the run; restored (git metadata is never changed by a dev run)")
    reverted: list[str] = []
    for change in diffpolicy.collect_changes(work):
        problems = diffpolicy.change_violations(change, allowed, kind)
        if problems:
            diffpolicy.revert(work, change)
            reverted.append(change.path)
            violations += [f"{p} (reverted)" for p in problems]
    denied = tuple(describe_denial(d, work) for d in claude.permission_denials)
    for attempt in denied:  # "Tool: target" → "target: Tool refused ..." (the path first, like every violation)
        tool, _, target = attempt.partition(": ")
        violations.append(f"{target}: {tool} refused by the CLI's permission rules")
    refused: list[str] = []
    for change in diffpolicy.collect_changes(work):
        findings = _secret_findings(work, change, config.dev.max_file_bytes)
        if findings:
            diffpolicy.revert(work, change)
            refused.append(change.path)
            violations += [f"{f} (refused: never committed)" for f in findings]
    remaining = diffpolicy.collect_changes(work)
    violations += diffpolicy.check_changes(remaining, kind=kind, allowed_prefixes=allowed,
                                           max_files=config.dev.max_files, max_file_bytes=config.dev.max_file_bytes)
    patch = out_dir / PATCH_FILE
    diffpolicy.write_patch(work, patch)
    apply_back(patch, repo_dir)

    result = DevResult(story.id, kind, claude, tuple(c.path for c in remaining), tuple(violations),
                       tuple(reverted), out_dir, payload, refused=tuple(refused), denied=denied)
    _write_json(out_dir / RESULT_FILE, result_record(result, story_path=story_file.relative_to(playbook_dir).as_posix()))
    return result


def _secret_findings(work: Path, change: diffpolicy.Change, max_file_bytes: int) -> list[str]:
    rule = secretscan.is_secret_file(change.path)
    if rule:
        return [f"{change.path}: {rule}"]
    target = work / change.path
    if change.deleted or change.is_symlink or not target.is_file() or change.size > max_file_bytes:
        return []  # an over-cap file fails the run as a whole and is never published
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    return [str(f) for f in secretscan.scan_text(change.path, text)]


def describe_denial(denial: Mapping[str, Any], work: Path) -> str:
    """One refused tool call as ``Tool: target`` (repo-relative inside the copy)."""
    tool = str(denial.get("tool_name") or "?")
    tool_input = denial.get("tool_input") if isinstance(denial.get("tool_input"), dict) else {}
    assert isinstance(tool_input, dict)
    target = str(tool_input.get("file_path") or tool_input.get("path") or tool_input.get("command")
                 or tool_input.get("pattern") or "")
    prefix = str(work) + "/"
    if target.startswith(prefix):
        target = target[len(prefix):]
    return f"{tool}: {target}"[:300]


def result_record(result: DevResult, *, story_path: str) -> dict[str, Any]:
    claude = result.claude
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "story": result.story_id,
        "story_path": story_path,
        "kind": result.kind,
        "session_id": claude.session_id,
        "num_turns": claude.num_turns,
        "cost_usd": claude.total_cost_usd,
        "usage": {"input_tokens": claude.usage.input_tokens, "output_tokens": claude.usage.output_tokens},
        "subtype": claude.subtype,
        "is_error": claude.is_error,
        "incomplete": result.incomplete_reason is not None,
        "incomplete_reason": result.incomplete_reason,
        "summary": (claude.result or "")[:4000],
        "files": list(result.files),
        "reverted": list(result.reverted),
        "refused": list(result.refused),
        "denied": list(result.denied),
        "violations": list(result.violations),
        "payload": dict(result.payload) if result.payload is not None else None,
    }


def write_failure(out_dir: Path, payload: Mapping[str, Any] | None, error: Exception) -> None:
    """result.json for a run that never finished: what failed and the fix, for the owner."""
    from playbook.errors import PlaybookError

    cause = error.message if isinstance(error, PlaybookError) else type(error).__name__
    fix = getattr(error, "fix", None)
    violations = list(getattr(error, "violations", None) or [])
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / RESULT_FILE, {
        "schema_version": RESULT_SCHEMA_VERSION, "failed": f"{cause}" + (f" (fix: {fix})" if fix else ""),
        "violations": violations, "payload": dict(payload) if payload is not None else None,
    })


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _snapshot_git_config(repo_dir: Path) -> bytes | None:
    """.git/config before the run: git reads hooks and helpers from it, so it must not change."""
    if not (repo_dir / ".git").is_dir():
        raise ValidationError(f"{repo_dir} is not the root of a git checkout",
                              fix="pass --repo-dir pointing at the checked-out target repository")
    path = repo_dir / ".git" / "config"
    return path.read_bytes() if path.is_file() else None


def _restore_git_config(repo_dir: Path, before: bytes | None) -> bool:
    path = repo_dir / ".git" / "config"
    after = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    if after == before and not path.is_symlink():
        return False
    if path.is_symlink():
        path.unlink()
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(before)
    return True
