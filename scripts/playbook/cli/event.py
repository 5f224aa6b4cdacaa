"""`playbook event`: the one entry point of every workflow that reacts to GitHub.

Reads GITHUB_EVENT_NAME and the JSON at GITHUB_EVENT_PATH, parses and decides purely, and only then
imports the GitHub flow. Ignored events cost one log line and no SDK import; ``--dry-run`` prints the
decision as JSON and needs no token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from playbook.errors import ConfigError, PayloadError
from playbook.settings import Settings

EXIT_REJECTED = 3
# GitHub caps webhook payloads at 25 MB; its payloads nest about a dozen levels deep.
MAX_EVENT_BYTES = 25 * 1024 * 1024
MAX_EVENT_DEPTH = 64


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


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
        too_deep = _depth_exceeds(payload, MAX_EVENT_DEPTH)
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


@click.command("event")
@click.option("--dry-run", is_flag=True, help="Print the decided action as JSON; change nothing.")
def event(dry_run: bool) -> int:
    """Handle the GitHub Actions event of this run."""
    from playbook.intake.events import CommentEvent, Ignore, Reject, decide, parse_event
    from playbook.sanitize import log_line

    settings = Settings.from_env(os.environ)
    name, payload = _load_event(settings)
    parsed = parse_event(name, payload)
    # Only slash-command comments need playbook.yaml (the /revise limit); reading it validates the
    # config, so skip it for everything else. Other events work in target repos too.
    maybe_command = isinstance(parsed, CommentEvent) and parsed.body.lstrip(" \t").startswith("/")
    limit = _max_feedback_chars(settings) if maybe_command else 4000
    action = decide(parsed, repo=settings.github_repository, bot_login=settings.bot_login,
                    max_feedback_chars=limit)
    if dry_run:
        click.echo(json.dumps(action.to_json(), indent=2, sort_keys=True, ensure_ascii=True))
        return EXIT_REJECTED if isinstance(action, Reject) else 0
    if isinstance(action, Ignore):
        log_line(" ".join(f"playbook: ignored {name} event: {action.reason}".splitlines()))
        return 0
    if isinstance(action, Reject):
        log_line(f"playbook: rejected {name} event: {action.reason}")
        return EXIT_REJECTED
    from playbook.intake import github_flow

    return int(github_flow.handle(action, settings))
