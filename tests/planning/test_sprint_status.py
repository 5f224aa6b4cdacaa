"""sprint-status.yaml round trips: only our keys change; people's comments, order, keys and statuses stay."""

from __future__ import annotations

import pytest

from playbook.errors import ArtifactError
from playbook.planning import artifacts, sprint_status

REQUEST = "42-deploy-pi-hole"


def _story(sid: str, status: str, slug: str = "x") -> artifacts.Story:
    meta = {"schema_version": 1, "kind": "story", "request": REQUEST, "issue": 42, "id": sid,
            "epic": int(sid.split(".")[0]), "title": "T", "target": "apps", "service": "svc", "depends_on": [],
            "status": status, "acceptance_criteria": ["ok"], "revision": 1}
    path = f"{artifacts.implementation_dir(REQUEST)}/story-{sid.replace('.', '-')}-{slug}.md"
    return artifacts.story_from_text(artifacts.render(meta, "b", "story", source=path), path=path)


def test_a_new_board_is_derived_in_story_order():
    text = sprint_status.update([_story("1.2", "backlog"), _story("1.1", "backlog")], request=REQUEST, existing=None)
    assert text.startswith(sprint_status.HEADER)
    assert text.index("1-1-x: backlog") < text.index("1-2-x: backlog") and "epic-1: backlog" in text


def test_people_keep_their_comments_order_keys_and_statuses():
    existing = (
        "# our board\n"
        "development_status:\n"
        "  # Sam: 1.2 waits for the NAS\n"
        "  1-2-x: blocked   # until the NAS is back\n"
        "  1-1-x: ready-for-dev\n"
        "  epic-1: in-progress\n"
        "  epic-1-retrospective: optional\n"
        "owner: sam\n"
        "project: 42-deploy-pi-hole\n"
    )
    text = sprint_status.update([_story("1.1", "done"), _story("1.2", "ready-for-dev"), _story("1.3", "backlog")],
                                request=REQUEST, existing=existing)
    assert "# Sam: 1.2 waits for the NAS" in text and "# until the NAS is back" in text and "# our board" in text
    assert "1-2-x: blocked" in text and "1-1-x: done" in text and "epic-1-retrospective: optional" in text
    assert "owner: sam" in text and text.index("1-2-x") < text.index("1-1-x")  # the person's order stays
    assert text.index("1-1-x") < text.index("1-3-x: backlog")  # a new key goes in story order
    assert sprint_status.human_status(text, source="s") == {"1-2-x": "blocked", "epic-1-retrospective": "optional"}
    assert sprint_status.update([_story("1.1", "done"), _story("1.2", "ready-for-dev"), _story("1.3", "backlog")],
                                request=REQUEST, existing=text) == text  # a second update changes nothing


@pytest.mark.parametrize(("text", "needle"), [
    ("development_status:\n  1-1-x: !!python/object/apply:os.system [id]\n", "constructor"),
    ("development_status:\n  1-1-x: done\n  1-1-x: backlog\n", "duplicate key"),
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("development_status: [1, 2]\n", "not a mapping"),
])
def test_an_unreadable_board_is_named_never_silently_regenerated(text, needle):
    with pytest.raises(ArtifactError, match=needle) as info:
        sprint_status.update([_story("1.1", "done")], request=REQUEST, existing=text)
    assert "sprint-status.yaml" in str(info.value)
