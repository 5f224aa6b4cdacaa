"""What one run did, for the job summary (``$GITHUB_STEP_SUMMARY``): outcome, stages and their
durations, every GitHub API call (writes listed), model calls with tokens and estimated cost.

One ``RunSummary`` per process (``current()``): the CLI opens it, the adapters and the model router
add to it, the CLI writes it at the end whatever happened. Standard library only, so an ignored
event stays as cheap as before. Everything written is scrubbed of the run's secrets and neutralised
like any other text the bot posts (no live @mention, no closing keyword, no workflow command, no
table breakout), because error messages and paths can carry text from issues and models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

READS = frozenset({"GET", "HEAD"})
MAX_LISTED_WRITES = 50
MAX_CELL = 300


class ModelCall:
    """One model call: which skill on which model, its tokens, estimated cost and time."""

    __slots__ = ("skill", "model", "provider", "input_tokens", "output_tokens", "cost_usd", "seconds")

    def __init__(self, skill: str, model: str, provider: str, input_tokens: int, output_tokens: int,
                 cost_usd: float, seconds: float) -> None:
        self.skill, self.model, self.provider = skill, model, provider
        self.input_tokens, self.output_tokens = input_tokens, output_tokens
        self.cost_usd, self.seconds = cost_usd, seconds

    def __repr__(self) -> str:
        return (f"ModelCall({self.skill!r}, {self.model!r}, {self.provider!r}, {self.input_tokens}, "
                f"{self.output_tokens}, {self.cost_usd}, {self.seconds})")


class RunSummary:
    """What this run did so far. Plain classes, not dataclasses: importing ``dataclasses`` (and the
    ``inspect`` it pulls in) would be most of what an ignored event costs."""

    def __init__(self, title: str = "playbook", outcome: str = "") -> None:
        self.title = title
        self.outcome = outcome
        self.started = time.perf_counter()
        self.stages: list[tuple[str, float]] = []
        self.notes: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every GitHub API call
        self.models: list[ModelCall] = []

    # ------------------------------------------------------------------ recording

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages.append((name, time.perf_counter() - start))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def api_call(self, method: str, path: str) -> None:
        self.calls.append((method.upper(), path.split("?", 1)[0]))

    def model_call(self, call: ModelCall) -> None:
        self.models.append(call)

    # ------------------------------------------------------------------ figures

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] not in READS and not c[1].endswith("/graphql (query)")]

    @property
    def model_seconds(self) -> float:
        return sum(m.seconds for m in self.models)

    # ------------------------------------------------------------------ output

    def render(self, secrets: Iterable[str] = ()) -> str:
        total = time.perf_counter() - self.started
        lines = [f"### {_cell(self.title, secrets)}", ""]
        if self.outcome:
            lines += [f"**Outcome:** {_cell(self.outcome, secrets)}", ""]
        lines += [f"- {_cell(n, secrets)}" for n in self.notes]
        if self.notes:
            lines.append("")
        writes = self.writes
        tokens_in = sum(m.input_tokens for m in self.models)
        tokens_out = sum(m.output_tokens for m in self.models)
        lines += [
            "| | |",
            "|---|---:|",
            f"| GitHub API calls (writes) | {len(self.calls)} ({len(writes)}) |",
            f"| model calls | {len(self.models)} |",
            f"| tokens in / out | {tokens_in} / {tokens_out} |",
            f"| estimated cost | ${sum(m.cost_usd for m in self.models):.4f} |",
            f"| wall time | {total:.2f} s |",
            "",
        ]
        if self.stages or self.models:
            lines += ["| stage | seconds |", "|---|---:|"]
            lines += [f"| {_cell(name, secrets)} | {seconds:.3f} |" for name, seconds in self.stages]
            lines += [f"| model: {_cell(m.skill, secrets)} on {_cell(m.model, secrets)} ({_cell(m.provider, secrets)}), "
                      f"{m.input_tokens}/{m.output_tokens} tokens, ${m.cost_usd:.4f} | {m.seconds:.3f} |"
                      for m in self.models]
            lines.append("")
        if writes:
            lines += ["<details><summary>GitHub writes</summary>", "", "| method | path |", "|---|---|"]
            lines += [f"| {method} | `{_cell(path, secrets, code=True)}` |" for method, path in writes[:MAX_LISTED_WRITES]]
            if len(writes) > MAX_LISTED_WRITES:
                lines.append(f"| … | {len(writes) - MAX_LISTED_WRITES} more |")
            lines += ["", "</details>", ""]
        return "\n".join(lines) + "\n"

    def write(self, path: str | os.PathLike[str] | None, secrets: Iterable[str] = ()) -> bool:
        """Append to the job summary file; no file (outside Actions) is not an error."""
        if not path:
            return False
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(self.render(list(secrets)))
        except OSError:
            return False
        return True


def _cell(text: str, secrets: Iterable[str], *, code: bool = False) -> str:
    from playbook.sanitize import neutralize_for_github, neutralize_workflow_commands

    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())[:MAX_CELL]
    text = text.replace("`", "'")
    if not code:  # inside a code span nothing renders as a mention, a link or HTML
        text = neutralize_for_github(text).replace("<", "&lt;").replace(">", "&gt;")
    return neutralize_workflow_commands(text.replace("|", "\\|"))


_CURRENT: RunSummary | None = None


def current() -> RunSummary:
    """This process's run; created on first use."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = RunSummary()
    return _CURRENT


def start(title: str) -> RunSummary:
    """A fresh run (one CLI invocation; tests run several in one process)."""
    global _CURRENT
    _CURRENT = RunSummary(title=title)
    return _CURRENT
