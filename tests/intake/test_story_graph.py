"""The Mermaid story graph: ids from story ids, labels stripped of anything Mermaid or GitHub would read."""

from __future__ import annotations

from playbook.intake import story_graph
from playbook.planning.artifacts import Story


def _story(sid: str, title: str, status: str, deps: tuple[str, ...] = ()) -> Story:
    return Story(id=sid, epic=1, title=title, target="apps", service="svc", depends_on=deps, status=status,
                 acceptance_criteria=("x",), body="", issue=1, request="1-x", path=f"p/story-{sid}.md", metadata={})


def test_graph_edges_and_status_classes():
    text = story_graph.render([_story("1.2", "Sonarr", "ready-for-dev", ("1.1",)), _story("1.1", "LXC", "done")])
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert lines[1].startswith('  s1_1["1.1 LXC') and "  s1_1 --> s1_2" in lines
    assert "  class s1_1 done" in lines and "  class s1_2 ready_for_dev" in lines


def test_hostile_titles_cannot_break_out_of_the_label():
    title = 'x"] --> evil[click me](javascript:alert(1)) `@org/team` <img src=x> | closes #1'
    text = story_graph.render([_story("1.1", title, "done"), _story("1.2", "ok", "backlog", ("1.1", "9.9"))])
    label = text.splitlines()[1]
    assert label.count('"') == 2 and "]" not in label.split('"')[1].replace("<br/>", "")
    for bad in ("`", "<img", "@org", "|", "#", "["):
        assert bad not in label.split('"')[1]
    assert "s9_9" not in text  # unknown dependencies are not drawn
