"""What `playbook event` does, without click: the one entry point of every workflow that reacts to
GitHub.

Reads GITHUB_EVENT_NAME and the JSON at GITHUB_EVENT_PATH, parses and decides purely, and only then
imports the GitHub flow. Ignored events cost one log line and no SDK import; ``--dry-run`` prints the
decision as JSON and needs no token. ``playbook.cli.main`` calls ``run_event`` directly for a bare
``playbook event`` (what the workflows run), so that path never imports click either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from playbook.errors import ConfigError, PayloadError
from playbook.intake.triage import MAX_EVENT_BYTES as MAX_EVENT_BYTES
from playbook.intake.triage import MAX_EVENT_DEPTH as MAX_EVENT_DEPTH
from playbook.intake.triage import depth_exceeds
from playbook.settings import Settings

EXIT_REJECTED = 3
def parse_event_json(text: str, *, source: str) -> Any:
    """The event file's JSON, refusing an oversized or over-deep document with an error, not a traceback."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EVENT_BYTES:
        raise PayloadError(f"the event file {source} is {size} bytes; GitHub never sends more than {MAX_EVENT_BYTES}",
                           fix="point GITHUB_EVENT_PATH at the webhook payload GitHub wrote")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the event file {source} is not valid JSON (line {exc.lineno}, column {exc.colno})",
                          fix="point GITHUB_EVENT_PATH at the webhook payload GitHub wrote") from None
    except RecursionError:
        too_deep = True
    else:
        too_deep = depth_exceeds(payload, MAX_EVENT_DEPTH)
    if too_deep:
        raise PayloadError(f"the event file {source} nests deeper than {MAX_EVENT_DEPTH} levels",
                           fix="point GITHUB_EVENT_PATH at the webhook payload GitHub wrote")
    return payload


def _load_event(settings: Settings) -> tuple[str, Any]:
    if not settings.github_event_name:
        raise ConfigError("GITHUB_EVENT_NAME is not set",
                          fix="run inside GitHub Actions, or set GITHUB_EVENT_NAME (e.g. issue_comment)")
    if not settings.github_event_path:
        raise ConfigError("GITHUB_EVENT_PATH is not set",
                          fix="run inside GitHub Actions, or set GITHUB_EVENT_PATH to a webhook payload JSON file")
    path = Path(settings.github_event_path)
    try:
        if path.stat().st_size > MAX_EVENT_BYTES:  # refused before it is read into memory
            raise PayloadError(f"the event file {path} is larger than {MAX_EVENT_BYTES} bytes; GitHub never sends "
                               "more", fix="point GITHUB_EVENT_PATH at the webhook payload GitHub wrote")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the event file {path}: {type(exc).__name__}",
                          fix="point GITHUB_EVENT_PATH at a readable UTF-8 JSON file") from None
    payload = parse_event_json(text, source=str(path))
    if not isinstance(payload, dict):
        raise ConfigError(f"the event file {path} does not hold a JSON object",
                          fix="point GITHUB_EVENT_PATH at the webhook payload GitHub wrote")
    return settings.github_event_name, payload


def _max_feedback_chars(settings: Settings) -> int:
    """The /revise limit from playbook.yaml when there is one; the documented default otherwise."""
    if not (settings.root / "playbook.yaml").is_file():
        return 4000
    from playbook.config import load_config

    return int(load_config(settings.root).limits.revise_feedback_chars)


def _with_default_branch(settings: Settings, payload: dict[str, Any]) -> Settings:
    """The event already names the default branch of this repository: no API read for it."""
    from dataclasses import replace

    repository = payload.get("repository")
    if not isinstance(repository, dict) or repository.get("full_name") != settings.github_repository:
        return settings
    branch = repository.get("default_branch")
    return replace(settings, default_branch=branch) if isinstance(branch, str) and branch else settings


def run_event(dry_run: bool = False) -> int:
    """Handle the GitHub Actions event of this run; returns the exit code."""
    from playbook import runsummary
    from playbook.intake.events import CommentEvent, Ignore, Reject, RunCommand, decide, parse_event
    from playbook.sanitize import log_line

    summary = runsummary.current()
    settings = Settings.from_env(os.environ)
    with summary.stage("read and decide the event"):
        name, payload = _load_event(settings)
        settings = _with_default_branch(settings, payload)
        parsed = parse_event(name, payload)
        # Only slash-command comments need playbook.yaml (the /revise limit); reading it validates the
        # config, so skip it for everything else. Other events work in target repos too.
        maybe_command = isinstance(parsed, CommentEvent) and parsed.body.lstrip(" \t").startswith("/")
        limit = _max_feedback_chars(settings) if maybe_command else 4000
        action = decide(parsed, repo=settings.github_repository, bot_login=settings.bot_login,
                        max_feedback_chars=limit)
    if dry_run:
        print(json.dumps(action.to_json(), indent=2, sort_keys=True, ensure_ascii=True))
        return EXIT_REJECTED if isinstance(action, Reject) else 0
    if isinstance(action, Ignore):
        summary.outcome = f"ignored {name} event: {action.reason}"
        log_line(" ".join(f"playbook: ignored {name} event: {action.reason}".splitlines()))
        return 0
    if isinstance(action, Reject):
        summary.outcome = f"rejected {name} event: {action.reason}"
        log_line(f"playbook: rejected {name} event: {action.reason}")
        return EXIT_REJECTED
    from playbook.intake import github_flow

    target = getattr(action, "issue", None) or getattr(action, "pr", None)
    what = f"/{action.command.name}" if isinstance(action, RunCommand) else action.kind
    summary.note(f"{name} event → {what}" + (f" on #{target}" if target else ""))
    with summary.stage("handle (GitHub and model)"):
        code = int(github_flow.handle(action, settings))
    summary.outcome = "done" if code == 0 else f"finished with exit code {code}"
    return code
