"""The request's ledger: every model call's tokens and estimated cost, honestly added up.

What counts, and where it is recorded (all in artifacts, so the ledger is derived like the rest of
the state):

* a phase revision's own calls, including a discarded truncated attempt — ``usage`` in its
  frontmatter (``unknown: true`` when a provider reported no usage);
* the revisions it replaced — ``spent_before`` (carried forward on every ``/revise`` or ``/retry``);
* the routes skipped on the way to the answer, with the reason — ``fallbacks``;
* the Claude dev runs in the target repositories, reported back with ``bmad-deployed`` —
  ``dev_usage`` in each story's frontmatter, one entry per target pull request.

Missing usage is never shown as $0: a total with any unknown part says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

KEYS = ("input_tokens", "output_tokens", "cost_usd")
MAX_REASON = 300


def add(*usages: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sum of usage records; ``unknown`` when any of them is (or is missing)."""
    total: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    unknown = False
    for usage in usages:
        if not usage:
            continue
        total["input_tokens"] += int(usage.get("input_tokens") or 0)
        total["output_tokens"] += int(usage.get("output_tokens") or 0)
        total["cost_usd"] = round(total["cost_usd"] + float(usage.get("cost_usd") or 0.0), 6)
        unknown = unknown or bool(usage.get("unknown"))
    if unknown:
        total["unknown"] = True
    return total


def carried(usage: Mapping[str, Any] | None, spent_before: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a phase has cost up to and including its current revision (None when nothing yet)."""
    if not usage and not spent_before:
        return None
    return add(usage, spent_before)


def fallbacks(skipped: Iterable[str]) -> list[dict[str, str]]:
    """Router notes ("alias: reason") as ledger entries."""
    entries = []
    for note in skipped:
        route, _, reason = note.partition(": ")
        entries.append({"route": route[:100], "reason": " ".join(reason.split())[:MAX_REASON] or "unavailable"})
    return entries


def dev_entry(target: str, repo: str, pr: int, usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """One dev run's spend as recorded on a story (usage None: the target reported none)."""
    entry: dict[str, Any] = {"target": target, "repo": repo, "pr": pr}
    if usage is None:
        entry.update(input_tokens=0, output_tokens=0, cost_usd=0.0, unknown=True)
    else:
        entry.update({k: usage[k] for k in KEYS})
        if usage.get("unknown"):
            entry["unknown"] = True
    return entry


def tokens_text(usage: Mapping[str, Any]) -> str:
    text = f"{int(usage.get('input_tokens') or 0)} / {int(usage.get('output_tokens') or 0)}"
    return text + " (some unknown)" if usage.get("unknown") else text


def cost_text(usage: Mapping[str, Any]) -> str:
    """``$0.1234``; ``unknown`` when nothing was reported; ``≥ $0.1234`` when part was not."""
    cost = f"${float(usage.get('cost_usd') or 0.0):.4f}"
    if not usage.get("unknown"):
        return cost
    return "unknown" if not usage.get("input_tokens") and not usage.get("output_tokens") else f"≥ {cost}"
