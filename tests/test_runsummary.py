"""Every run leaves a job summary ($GITHUB_STEP_SUMMARY): outcome, API calls, tokens, cost, stages.

Through the real `playbook event` against the loopback fakes: the counts in the summary are the
calls the fake GitHub served, and nothing secret or live (mentions, closing keywords, workflow
commands, table breakouts) gets into the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from flow_harness import GEMINI_KEY, PIHOLE, REPO, TOKEN, Harness
from playbook import runsummary
from playbook.runsummary import ModelCall, RunSummary


def _summary(h: Harness, tmp_path: Path) -> Path:
    path = tmp_path / "step-summary.md"
    h.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def _figure(text: str, label: str) -> str:
    match = re.search(rf"^\| {re.escape(label)} \| (.+?) \|$", text, re.M)
    assert match, text
    return match[1]


def test_a_planning_run_summarises_calls_tokens_cost_and_stages(h: Harness, tmp_path: Path):
    path = _summary(h, tmp_path)
    issue = h.github.add_issue(REPO, PIHOLE, "Pi-hole please", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.github.reset_calls()
    assert h.labeled(issue) == 0
    text = path.read_text(encoding="utf-8")
    served = h.github.count()
    writes = served - h.github.count("GET")
    assert _figure(text, "GitHub API calls (writes)") == f"{served} ({writes})"
    assert _figure(text, "model calls") == "1"
    assert _figure(text, "tokens in / out") == "1200 / 800"
    assert _figure(text, "estimated cost").startswith("$")
    assert "**Outcome:** done" in text
    assert f"issues event → start-request on #{issue}" in text
    for stage in ("read and decide the event", "handle (GitHub and model)", "model: create-product-brief"):
        assert f"| {stage}" in text
    # Every write is listed, method and path.
    assert text.count("\n| POST | `") + text.count("\n| PATCH | `") + text.count("\n| DELETE | `") \
        + text.count("\n| PUT | `") == writes
    assert TOKEN not in text and GEMINI_KEY not in text


def test_a_second_run_appends_its_own_summary(h: Harness, tmp_path: Path):
    path = _summary(h, tmp_path)
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    assert h.comment(issue, "/status") == 0
    text = path.read_text(encoding="utf-8")
    assert text.count("### playbook event") == 2
    assert "issue_comment event → /status" in text
    # /status runs no model.
    assert _figure(text.split("### playbook event")[2], "model calls") == "0"


def test_an_ignored_comment_still_leaves_a_summary_without_api_calls(h: Harness, tmp_path: Path):
    path = _summary(h, tmp_path)
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.github.reset_calls()
    assert h.comment(issue, "Thanks, looks good @owner") == 0
    text = path.read_text(encoding="utf-8")
    assert "ignored issue_comment event" in text
    assert _figure(text, "GitHub API calls (writes)") == "0 (0)"
    assert h.github.count() == 0


def test_a_failed_run_says_so_without_leaking_secrets(h: Harness, tmp_path: Path):
    path = _summary(h, tmp_path)
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    assert h.run("issues", _labeled_payload(h, issue), GEMINI_API_KEY=None) != 0
    text = path.read_text(encoding="utf-8")
    assert "exit code" in text
    assert TOKEN not in text and GEMINI_KEY not in text


def _labeled_payload(h: Harness, issue: int) -> dict:
    import copy
    import json

    from flow_harness import EVENTS

    data = h.github.repos[REPO].issues[issue]
    payload = h._with_repo(copy.deepcopy(json.loads((EVENTS / "issues.labeled-brief.json").read_text())))
    payload["issue"].update(number=issue, title=data.title, body=data.body)
    payload["issue"]["labels"] = [dict(payload["label"], name=n) for n in data.labels]
    payload["label"]["name"] = "bmad:brief"
    payload["sender"].update(login="owner", type="User")
    return payload


def test_no_summary_file_outside_actions(h: Harness, tmp_path: Path):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    assert not list(tmp_path.glob("*.md"))


# --- rendering: what reaches the file ---------------------------------------------------------------

def test_untrusted_text_is_neutralised_and_secrets_scrubbed():
    summary = RunSummary(title="playbook event")
    secret = "ghs_secret_value_123"
    summary.outcome = f"failed: @owner Closes #1 | injected ::add-mask::x <img src=x> {secret}"
    summary.note("::stop-commands::abc\n/approve")
    summary.api_call("POST", f"/repos/o/r/issues/1/comments?token={secret}")
    summary.model_call(ModelCall("create-prd", "gemini-x|y", "gemini", 10, 20, 0.5, 1.0))
    text = summary.render([secret])
    assert secret not in text
    assert "@owner" not in text and "@\u200bowner" in text
    assert "Closes #1" not in text
    assert "<img" not in text
    assert not re.search(r"^\s*::", text, re.M)
    assert "\\| injected" in text and " | injected" not in text  # the pipe cannot open a new table cell
    assert "gemini-x\\|y" in text
    assert not re.search(r"^\s*/approve", text, re.M)
    # Query strings are never kept.
    assert "token=" not in text


def test_writes_are_listed_and_capped():
    summary = RunSummary()
    for n in range(runsummary.MAX_LISTED_WRITES + 5):
        summary.api_call("POST", f"/repos/o/r/issues/{n}/comments")
    summary.api_call("GET", "/repos/o/r")
    text = summary.render()
    assert "| GitHub API calls (writes) | 56 (55) |" in text
    assert text.count("\n| POST | `") == runsummary.MAX_LISTED_WRITES
    assert "| … | 5 more |" in text
