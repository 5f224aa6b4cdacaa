"""What a Claude dev run in a target repository cost, carried back to the playbook's ledger.

The dev run's ``result.json`` has the CLI's usage and ``total_cost_usd``. The IaC pull request
body carries them in one hidden line (``marker``); when the PR merges, the target's
``report-deployed`` step reads it back (``read_marker``) and sends it as the optional
``dev_usage`` field of the ``bmad-deployed`` payload (``SCHEMA``); the playbook records it on the
story (``planning.ledger.dev_entry``). A PR without the line reports no usage: shown as unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input_tokens", "output_tokens", "cost_usd"],
    "properties": {
        "input_tokens": {"type": "integer", "minimum": 0, "maximum": 10**10},
        "output_tokens": {"type": "integer", "minimum": 0, "maximum": 10**10},
        "cost_usd": {"type": "number", "minimum": 0, "maximum": 10**6},
    },
}
MARKER_RE = re.compile(r"<!-- bmad-dev-usage (\{[^<>\n]{0,300}\}) -->")


def from_result(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ledger entry from a dev run's ``result.json`` record (None when it reported nothing)."""
    usage = result.get("usage")
    if not isinstance(usage, Mapping) or "cost_usd" not in result:
        return None
    try:
        entry = {"input_tokens": int(usage.get("input_tokens") or 0),
                 "output_tokens": int(usage.get("output_tokens") or 0),
                 "cost_usd": round(float(result.get("cost_usd") or 0.0), 6)}
    except (TypeError, ValueError):
        return None
    return entry if _valid(entry) else None


def marker(entry: Mapping[str, Any] | None) -> str:
    return f"<!-- bmad-dev-usage {json.dumps(dict(entry), separators=(',', ':'), sort_keys=True)} -->" if entry else ""


def read_marker(body: str) -> dict[str, Any] | None:
    match = MARKER_RE.search(body or "")
    if match is None:
        return None
    try:
        entry = json.loads(match.group(1))
    except ValueError:
        return None
    return entry if _valid(entry) else None


def _valid(entry: Any) -> bool:
    from playbook.schemas import schema_problems

    return not schema_problems(SCHEMA, entry)
