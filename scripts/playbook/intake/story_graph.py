"""The stories of a request and their dependencies as a Mermaid flowchart, coloured by status.

GitHub renders a ```mermaid block in issue comments. Node ids are derived from story ids
(``s1_2``), never from text; titles are model text, so they are reduced to plain words (no quotes,
brackets, backticks, angle brackets, pipes or mentions) before they become a label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from playbook.planning.artifacts import Story
from playbook.planning.dependencies import sort_key

# status -> (fill, stroke, text colour); one class per status.
STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    "backlog": ("#eeeeee", "#999999", "#333333"),
    "ready-for-dev": ("#dbeafe", "#3b82f6", "#1e3a8a"),
    "in-progress": ("#fef3c7", "#d97706", "#78350f"),
    "review": ("#ede9fe", "#7c3aed", "#4c1d95"),
    "done": ("#dcfce7", "#16a34a", "#14532d"),
}
LABEL_CHARS = 48
MAX_NODES = 60  # beyond this the graph is unreadable (and long); the story table still lists every story
_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:;()/+_-]")


def node_id(story_id: str) -> str:
    return "s" + story_id.replace(".", "_")


def label_text(text: str) -> str:
    """Model text reduced to characters Mermaid and GitHub treat as plain words."""
    plain = _UNSAFE.sub(" ", text.replace("@", " at "))
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain[:LABEL_CHARS].rstrip() + ("…" if len(plain) > LABEL_CHARS else "")


def render(stories: Sequence[Story]) -> str:
    """A ``flowchart LR`` block (without the fence), or '' when there is nothing to draw."""
    if not stories:
        return ""
    ordered = sorted(stories, key=lambda s: sort_key(s.id))
    known = {s.id for s in ordered}
    lines = ["flowchart LR"]
    for story in ordered:
        target = story.target if story.target != "auto" else "auto"
        lines.append(f'  {node_id(story.id)}["{story.id} {label_text(story.title)}<br/>{target} · {story.status}"]')
    for story in ordered:
        for dep in sorted(story.depends_on, key=sort_key):
            if dep in known:
                lines.append(f"  {node_id(dep)} --> {node_id(story.id)}")
    for status, (fill, stroke, colour) in STATUS_STYLE.items():
        members = [node_id(s.id) for s in ordered if s.status == status]
        if members:
            cls = status.replace("-", "_")
            lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke},color:{colour}")
            lines.append(f"  class {','.join(members)} {cls}")
    return "\n".join(lines)
