"""The quick flow: a bmad:quick issue drafts one quick spec (the stories, no brief/PRD/architecture);
/approve makes the planning PR ready; merging it dispatches through the normal delivery path."""

from __future__ import annotations

from flow_harness import REPO, Harness
from playbook.adapters import offline

QUICK = "Bump Pi-hole in stacks/dns-pihole to 2024.07.0"


def test_quick_label_specs_approves_and_dispatches(h: Harness):
    issue = h.github.add_issue(REPO, QUICK, "Keep the DNS ports.", labels=["bmad:quick"])
    h.gemini.enqueue_text(offline._WRITERS["quick-spec"](QUICK, "", {}), input_tokens=300, output_tokens=200)
    assert h.labeled_with(issue, "bmad:quick") == 0
    assert len(h.gemini.requests) == 1 and "Barry" in h.gemini.requests[0].prompt  # the quick-spec skill
    pull = h.github.pulls(REPO)[0]
    files = h.github.files_at(REPO, h.github.repos[REPO].pulls[pull["number"]].head)
    planning = sorted(p.rsplit("/", 1)[1] for p in files if "planning-artifacts" in p)
    assert planning == ["epics.md", "request.md"]  # no brief, PRD, architecture or readiness report
    request = next(t for p, t in files.items() if p.endswith("request.md"))
    assert "flow: quick" in request
    stories = [p for p in files if "/story-" in p]
    assert len(stories) == 1 and "skill: quick-spec" in next(t for p, t in files.items() if p.endswith("epics.md"))
    tracking = next(c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking"))
    assert tracking.count("not part of the quick flow") == 3 and "Readiness check" not in tracking

    assert h.comment(issue, "/approve") == 0
    pull = h.github.pulls(REPO)[0]
    assert not pull["draft"]
    merge_sha = h.github.merge_pull(REPO, pull["number"])
    assert h.merged(pull["number"], merge_sha) == 0
    sent = h.github.dispatches(h.targets["apps"])
    assert len(sent) == 1 and sent[0]["client_payload"]["story_path"].endswith(".md")
    assert "bmad:quick" in h.github.labels(REPO, issue)
