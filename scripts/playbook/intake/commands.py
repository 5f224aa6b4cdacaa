"""The slash-command grammar: first line only, exact lowercase token, nothing guessed.

A comment is a command when its FIRST line, after optional ASCII spaces or tabs, is ``/`` + a name
from ``COMMANDS`` followed by the end of the line or an ASCII space. There is no case folding and no
Unicode normalisation: ``/Approve``, fullwidth ``／approve``, Cyrillic ``аpprove``, ``/approve``
followed by a zero-width space, quoted (``> /approve``) or code (`` `/approve` ``) lines are plain
text. Later lines never start a command, so two commands in one comment run only the first (and only
``/revise`` reads them, as its feedback).

A recognised command with bad arguments is still a ``Command``, with ``error`` set to the usage line,
so the reply can say what was wrong; the grammar never guesses what was meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from playbook.sanitize import strip_hidden

STORY_ID = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
REVISION = re.compile(r"r?([1-9][0-9]{0,5})")
TARGETS = ("infra", "apps", "both")

FIRST_LINE = re.compile(r"[ \t]*/(?P<name>[a-z]+)(?P<rest>(?: .*)?)")


@dataclass(frozen=True)
class Command:
    """A parsed command. ``text`` is the ``/revise`` feedback or the ``/ops`` question (hidden content
    stripped), else ''."""

    name: str
    args: tuple[str, ...] = ()
    text: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "args": list(self.args), "text": self.text, "error": self.error}


# An argument parser gets (words on the first line, feedback text, max feedback chars) and returns
# (args, text, error).
ArgParser = Callable[[list[str], str, int], tuple[tuple[str, ...], str, str | None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    parse: ArgParser
    # Can run a planning phase (a model call, maybe the Claude Code CLI): the command workflow
    # installs the CLI only for these (tests/test_locked_setup.py keeps the two in step).
    runs_model: bool = False


def _no_args(spec_usage: str) -> ArgParser:
    def parse(words: list[str], _text: str, _limit: int) -> tuple[tuple[str, ...], str, str | None]:
        if words:
            return (), "", f"usage: {spec_usage} (takes no arguments)"
        return (), "", None

    return parse


def _approve(words: list[str], _text: str, _limit: int) -> tuple[tuple[str, ...], str, str | None]:
    """``/approve [r<N>] [override]``: args are the revision (or '') and, when given, 'override'."""
    if not words:
        return (), "", None
    override = words[-1] == "override"
    rest = words[:-1] if override else words
    match = REVISION.fullmatch(rest[0]) if len(rest) == 1 else None
    if (rest and match is None) or len(rest) > 1:
        return (), "", ("usage: /approve [r<N>] [override] — optionally name the revision you reviewed, e.g. "
                        "/approve r2; `override` approves stories the readiness check did not pass")
    revision = match.group(1) if match else ""
    return ((revision, "override") if override else (revision,)), "", None


def _revise(_words: list[str], text: str, limit: int) -> tuple[tuple[str, ...], str, str | None]:
    if not text:
        return (), "", "usage: /revise <what to change>"
    if len(text) > limit:
        return (), "", (
            f"/revise feedback is {len(text)} characters; the limit is {limit}. "
            "Shorten it (or split it over several /revise comments)."
        )
    return (), text, None


def _ops(_words: list[str], text: str, limit: int) -> tuple[tuple[str, ...], str, str | None]:
    if not text:
        return (), "", "usage: /ops <question> — e.g. /ops which node publishes port 53?"
    if len(text) > limit:
        return (), "", f"/ops question is {len(text)} characters; the limit is {limit}. Shorten it."
    return (), text, None


def _route(words: list[str], _text: str, _limit: int) -> tuple[tuple[str, ...], str, str | None]:
    if len(words) == 2 and STORY_ID.fullmatch(words[0]) and words[1] in TARGETS:
        return (words[0], words[1]), "", None
    return (), "", "usage: /route <story-id> infra|apps|both — e.g. /route 1.2 apps"


def _dispatch(words: list[str], _text: str, _limit: int) -> tuple[tuple[str, ...], str, str | None]:
    if not words:
        return (), "", None
    if len(words) == 1 and STORY_ID.fullmatch(words[0]):
        return (words[0],), "", None
    return (), "", "usage: /dispatch [story-id] — e.g. /dispatch 1.2, or /dispatch for every approved story"


SKILL_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _run(words: list[str], _text: str, _limit: int) -> tuple[tuple[str, ...], str, str | None]:
    if 1 <= len(words) <= 2 and SKILL_NAME.fullmatch(words[0]) and (len(words) == 1 or STORY_ID.fullmatch(words[1])):
        return tuple(words), "", None
    return (), "", "usage: /run <skill> [story-id] — e.g. /run validate-prd, or /run code-review 1.2 (/help lists the skills)"


# The one table: the grammar, the argument checks and the /help text all come from it.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("approve", "/approve [r<N>] [override]", "approve the current phase (optionally the revision you "
                "read; `override` passes a failed readiness check)", _approve, runs_model=True),
    CommandSpec("revise", "/revise <what to change>", "regenerate the current phase with your feedback "
                "(the rest of the comment counts)", _revise, runs_model=True),
    CommandSpec("retry", "/retry", "run the current phase again after a failure", _no_args("/retry"),
                runs_model=True),
    CommandSpec("status", "/status", "show where the request stands", _no_args("/status")),
    CommandSpec("help", "/help", "show this list", _no_args("/help")),
    CommandSpec("cancel", "/cancel", "stop working on this request", _no_args("/cancel")),
    CommandSpec("route", "/route <story-id> infra|apps|both", "send a story to another target repo", _route),
    CommandSpec("dispatch", "/dispatch [story-id]", "send approved stories (or one) to their target repos "
                "again", _dispatch),
    CommandSpec("cost", "/cost", "show token usage and estimated cost so far", _no_args("/cost")),
    CommandSpec("ops", "/ops <question>", "ask about the homelab: a read-only answer from the topology registry "
                "and the repos (the rest of the comment counts)", _ops),
    CommandSpec("run", "/run <skill> [story-id]", "run one skill on this request and commit its output", _run),
)
_BY_NAME = {spec.name: spec for spec in COMMANDS}


def parse_command(body: str, *, max_feedback_chars: int) -> Command | None:
    """Parse a comment body; ``None`` when the first line is not a command."""
    first, _, rest_of_body = body.partition("\n")
    first = first.removesuffix("\r")
    match = FIRST_LINE.fullmatch(first)
    if match is None or match.group("name") not in _BY_NAME:
        return None
    spec = _BY_NAME[match.group("name")]
    same_line = match.group("rest").strip(" \t")
    words = [w for w in re.split(r"[ \t]+", same_line) if w]
    feedback = ""
    if spec.name in ("revise", "ops"):
        feedback = strip_hidden(same_line + "\n" + rest_of_body).strip()
    args, text, error = spec.parse(words, feedback, max_feedback_chars)
    return Command(spec.name, args, text, error)


def help_text(runnable_skills: tuple[str, ...] = ()) -> str:
    """The /help reply, generated from ``COMMANDS`` (and the skills `/run` can run)."""
    width = max(len(spec.usage) for spec in COMMANDS)
    lines = [
        "Commands (put one on the FIRST line of a new comment, lowercase; other lines are ignored, "
        "except as /revise feedback):",
        "",
        "```text",
        *(f"{spec.usage.ljust(width)}  {spec.summary}" for spec in COMMANDS),
        "```",
        "",
        "Only people with write, maintain or admin permission on this repository can run them.",
    ]
    if runnable_skills:
        lines += ["", "Skills you can `/run` (each commits `runs/<skill>.md` on the request branch):", "",
                  ", ".join(f"`{name}`" for name in runnable_skills)]
    return "\n".join(lines)
