"""The command queue: each run finishes every slash command on the issue that is not yet handled.

GitHub keeps ONE pending run per concurrency group and cancels the older pending one, so the run
triggered by a comment may never start. Nothing is lost, because no run handles only "its"
comment: each one reads the issue's comments once (the same listing that finds the tracking
comment) and handles, in comment order, every command that GitHub state does not already show as
handled. Which commands are handled is read from GitHub alone, never from memory:

* the tracking comment (written only by the bot identity) carries a queue marker
  ``<!-- bmad-queue:v1 floor=F handled=A,B,… -->``: comments up to ``F`` are history (they came
  before the request, or fell out of the window), ``A,B,…`` are the most recent handled commands;
* a bot reply carrying ``<!-- bmad-reply comment=N -->`` marks comment ``N`` as answered;
* the artifacts remember what approved a phase (``approved_ref``) or generated a revision
  (``trigger``), so a command re-run after a crash between its commit and the marker is a no-op.

Rules (documented in the README):

1. Only the comment that triggered this run and comments newer than the floor are candidates;
   edited comments are not (as the workflow only fires on ``created``), nor bot or app comments.
2. Every candidate is authorised on its own (collaborator-permission API, one call per distinct
   author per run). An unauthorised command is marked handled and skipped: it never displaces an
   authorised one, because the run it caused still handles every authorised command pending
   before it. Only the comment that triggered the run gets the refusal reply, so a flood of
   outsider comments cannot make the bot post a flood of replies.
3. At most ``MAX_COMMANDS_PER_RUN`` authorised commands run per run; the rest stay pending (and
   the next command or ``/status`` picks them up).
4. A tracking comment from before the queue existed has no marker: everything before the
   triggering comment then counts as handled, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from playbook.intake.commands import Command, parse_command
from playbook.ports import Comment

QUEUE_RE = re.compile(r"<!-- bmad-queue:v1 floor=(?P<floor>[0-9]{1,20}) handled=(?P<handled>[0-9,]{0,2000}) -->")
REPLY_RE = re.compile(r"<!-- bmad-reply comment=(?P<id>[0-9]{1,20}) -->")
HANDLED_WINDOW = 50
MAX_COMMANDS_PER_RUN = 10
# Slow commands (they call a model) are acknowledged with 👀 at once; every command ends with its outcome.
SLOW_COMMANDS = frozenset({"approve", "revise", "retry"})
ACK, DONE, FAILED = "eyes", "+1", "confused"


@dataclass
class QueueState:
    """What the tracking comment says is handled. ``known`` is False when it holds no marker."""

    floor: int = 0
    handled: list[int] = field(default_factory=list)
    known: bool = False
    marked: set[int] = field(default_factory=set)  # marked by this run

    def is_handled(self, comment_id: int) -> bool:
        return comment_id <= self.floor or comment_id in self.handled

    def mark(self, comment_id: int) -> None:
        self.marked.add(comment_id)
        if comment_id in self.handled or comment_id <= self.floor:
            return
        self.handled = sorted({*self.handled, comment_id})
        while len(self.handled) > HANDLED_WINDOW:
            self.floor = max(self.floor, self.handled.pop(0))
        self.known = True

    def marker(self) -> str:
        return f"<!-- bmad-queue:v1 floor={self.floor} handled={','.join(str(i) for i in self.handled)} -->"


def merged(ours: QueueState, theirs: QueueState) -> QueueState:
    """Both records at once: what a concurrent run recorded is never written back out."""
    if not theirs.known:
        return ours
    state = QueueState(max(ours.floor, theirs.floor), [], known=True, marked=set(ours.marked))
    for comment_id in sorted({*ours.handled, *theirs.handled}):
        if comment_id > state.floor:
            state.handled.append(comment_id)
    while len(state.handled) > HANDLED_WINDOW:
        state.floor = max(state.floor, state.handled.pop(0))
    return state


def parse_state(body: str | None) -> QueueState:
    m = QUEUE_RE.search(body or "")
    if m is None:
        return QueueState()
    handled = [int(x) for x in m.group("handled").split(",") if x]
    return QueueState(int(m.group("floor")), sorted(set(handled)), known=True)


def stamp(body: str, state: QueueState) -> str:
    """``body`` with its queue marker set to ``state`` (as the second line)."""
    line = state.marker()
    if QUEUE_RE.search(body):
        return QUEUE_RE.sub(lambda _: line, body, count=1)
    first, sep, rest = body.partition("\n")
    return f"{first}\n{line}{sep}{rest}" if sep else f"{first}\n{line}"


def replied_to(comments: Iterable[Comment], is_ours: Callable[[Comment], bool]) -> set[int]:
    """Comment ids the bot has answered with a reply marker."""
    return {int(m.group("id")) for c in comments if is_ours(c) for m in REPLY_RE.finditer(c.body)}


@dataclass(frozen=True)
class Pending:
    comment_id: int
    author: str
    author_type: str
    created_at: datetime
    command: Command


def pending(comments: list[Comment], state: QueueState, *, trigger: Pending, replied: set[int],
            is_ours: Callable[[Comment], bool], is_bot: Callable[[Comment], bool],
            max_feedback_chars: int) -> list[Pending]:
    """The commands this run must handle, in comment order (always including the trigger unless
    it is already handled). Pure: GitHub state in, a list out."""
    found: dict[int, Pending] = {}
    if trigger.comment_id not in state.handled and trigger.comment_id not in replied:
        found[trigger.comment_id] = trigger
    if state.known:  # an old tracking comment without a marker: only the trigger, as before
        for c in comments:
            if (c.id in found or state.is_handled(c.id) or c.id in replied or c.edited
                    or is_ours(c) or is_bot(c)):
                continue
            command = parse_command(c.body, max_feedback_chars=max_feedback_chars)
            if command is not None:
                found[c.id] = Pending(c.id, c.author, c.author_type, c.created_at, command)
    return [found[i] for i in sorted(found)]
