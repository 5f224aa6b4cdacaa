"""Artifacts: strict frontmatter, hostile YAML, round trips."""

from __future__ import annotations

import pytest

from playbook.errors import ArtifactError
from playbook.planning import artifacts

REQUEST_META = {
    "schema_version": 1, "kind": "request", "request": "42-deploy-pi-hole", "issue": 42, "title": "Deploy",
    "source": "github", "created": "2026-11-24T01:00:00Z", "status": "active",
}


def _story_meta(**over):
    meta = {
        "schema_version": 1, "kind": "story", "request": "42-deploy-pi-hole", "issue": 42, "id": "1.1", "epic": 1,
        "title": "Deploy the stack", "target": "apps", "service": "dns-pihole", "depends_on": [],
        "status": "backlog", "acceptance_criteria": ["passes playbook check"], "revision": 1,
    }
    meta.update(over)
    return meta


def test_round_trip_keeps_unicode_exactly():
    title = "Pi-hole 🚀 デプロイ مرحبا e\u0301 \r\n line"
    meta = dict(REQUEST_META, title=title.replace("\r\n", " "))
    text = artifacts.render(meta, "Body with emoji 🚀 and CJK 漢字", "request", source="x.md")
    parsed, body = artifacts.parse(text, "request", source="x.md")
    assert parsed == meta
    assert body == "Body with emoji 🚀 and CJK 漢字\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("no frontmatter", "missing the opening"),
        ("---\nkind: request\n", "unterminated"),
        ("\ufeff---\nkind: request\n---\n", "byte-order mark"),
        ("---\nkind:\trequest\n---\n", "tab"),
        ("---\na: 1\na: 2\n---\n", "duplicate key"),
        ("---\n!!python/object/apply:os.system ['id']\n---\n", "constructor"),
        ("---\na: &x [1, 2]\nb: *x\n---\n", "aliases are not allowed"),
        ("---\n" + "a:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 30)) + "---\n", "nesting"),
        ("---\n- just\n- a list\n---\n", "not a mapping"),
    ],
)
def test_malformed_frontmatter_is_a_clear_error(text, needle):
    with pytest.raises(ArtifactError) as exc:
        artifacts.parse(text, "request", source="bad.md")
    assert "bad.md" in str(exc.value)
    assert needle in str(exc.value)


def test_billion_laughs_is_refused_quickly():
    lol = "---\na: &a [lol, lol]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\n---\n"
    with pytest.raises(ArtifactError, match="aliases"):
        artifacts.parse(lol, "request", source="lol.md")


def test_oversized_file_is_refused():
    with pytest.raises(ArtifactError, match="larger than"):
        artifacts.parse("---\n" + "x" * (artifacts.MAX_ARTIFACT_BYTES + 1) + "\n---\n", "request", source="big.md")


def test_every_field_problem_is_listed():
    meta = _story_meta(status="shipped", target="moon", extra="nope", epic="one")
    text = "---\n" + artifacts.dump_yaml(meta) + "---\nbody\n"
    with pytest.raises(ArtifactError) as exc:
        artifacts.parse(text, "story", source="story.md")
    message = str(exc.value)
    for needle in ("status", "target", "epic"):
        assert needle in message
    assert "extra" not in message  # a key a person added to a story is kept and ignored (below)
    request = "---\n" + artifacts.dump_yaml(dict(REQUEST_META, extra="nope", status="gone")) + "---\nbody\n"
    with pytest.raises(ArtifactError) as exc:  # our own artifacts stay strict about unknown keys
        artifacts.parse(request, "request", source="request.md")
    assert "extra" in str(exc.value) and "status" in str(exc.value)


def test_keys_a_person_adds_to_a_story_are_kept_and_ignored():
    text = "---\n" + artifacts.dump_yaml(_story_meta(priority="high", owner_notes=["ask Sam"])) + "---\nbody\n"
    story = artifacts.story_from_text(text, path="s.md")
    assert story.status == "backlog" and story.metadata["priority"] == "high"
    updated = artifacts.with_status(text, "story", source="s.md", status="done")
    meta, _ = artifacts.parse(updated, "story", source="s.md")
    assert meta["status"] == "done" and meta["priority"] == "high" and meta["owner_notes"] == ["ask Sam"]
    with pytest.raises(ArtifactError, match="status"):  # our keys are still checked strictly
        artifacts.with_status(text, "story", source="s.md", status="blocked")


def test_timestamps_stay_strings():
    text = artifacts.render(REQUEST_META, "body", "request", source="r.md")
    meta, _ = artifacts.parse(text, "request", source="r.md")
    assert isinstance(meta["created"], str)


def test_blob_sha_matches_git(tmp_path):
    import subprocess

    text = "hello\nworld\n"
    (tmp_path / "f").write_text(text)
    expected = subprocess.run(["git", "hash-object", str(tmp_path / "f")], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert artifacts.blob_sha(text) == expected


def test_story_view_and_with_status():
    text = artifacts.render(_story_meta(), "# Story", "story", source="s.md")
    story = artifacts.story_from_text(text, path="s.md")
    assert (story.id, story.target, story.status) == ("1.1", "apps", "backlog")
    changed = artifacts.with_status(text, "story", source="s.md", status="ready-for-dev")
    assert artifacts.story_from_text(changed, path="s.md").status == "ready-for-dev"
    with pytest.raises(ArtifactError):
        artifacts.with_status(text, "story", source="s.md", status="bogus")
