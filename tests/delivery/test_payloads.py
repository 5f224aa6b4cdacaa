"""repository_dispatch payload schemas and the story-path guard, as tables of forged inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from playbook.delivery.payloads import (
    MAX_SERIALIZED_CHARS,
    safe_story_path,
    story_key,
    validate_deployed_payload,
    validate_story_payload,
)
from playbook.errors import PayloadError

PLAYBOOK = "owner/homelab-playbook"
PATH = "_bmad-output/implementation-artifacts/12-deploy-pi-hole/story-1-2-dns-stack.md"
SHA = "0123456789abcdef0123456789abcdef01234567"


def story(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": 1,
        "playbook_repo": PLAYBOOK,
        "merge_sha": SHA,
        "story_path": PATH,
        "issue": 12,
        "target": "apps",
        "order": 2,
        "key": story_key(PLAYBOOK, PATH, "apps", SHA),
        "related": [{"target": "infra", "repo": "owner/homelab-infra"}],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not _DROP}


def deployed(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": 1, "playbook_repo": PLAYBOOK, "story_path": PATH, "issue": 12, "target": "apps",
        "repo": "owner/homelab-apps", "pr": 7, "merge_sha": SHA, "key": "a" * 64,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not _DROP}


_DROP = object()


def test_valid_story_payload_round_trips() -> None:
    assert validate_story_payload(story()) == story()
    assert validate_story_payload(story(related=_DROP, order=1)) == story(related=_DROP, order=1)


def test_valid_deployed_payload_round_trips() -> None:
    assert validate_deployed_payload(deployed()) == deployed()


def test_story_key_is_deterministic_and_binds_every_input() -> None:
    key = story_key(PLAYBOOK, PATH, "apps", SHA)
    assert len(key) == 64 and key == story_key(PLAYBOOK, PATH, "apps", SHA)
    assert len({key, story_key(PLAYBOOK, PATH, "infra", SHA), story_key("o/x", PATH, "apps", SHA),
                story_key(PLAYBOOK, PATH, "apps", "f" * 40), story_key(PLAYBOOK, PATH[:-4] + "x.md", "apps", SHA)}) == 5


BAD_STORIES = [
    ("missing key", story(key=_DROP), "missing key(s) key"),
    ("missing several", story(v=_DROP, issue=_DROP), "missing key(s) v, issue"),
    ("extra key", story(token="ghp_x"), "unexpected key(s) token"),
    ("more than 10 keys", story(a=1, b=2), "more than 10 keys"),
    ("wrong version", story(v=2), "client_payload.v"),
    ("bool version", story(v=True), "client_payload.v"),
    ("bad sha", story(merge_sha="HEAD"), "client_payload.merge_sha"),
    ("uppercase sha", story(merge_sha=SHA.upper()), "client_payload.merge_sha"),
    ("short sha", story(merge_sha=SHA[:39]), "client_payload.merge_sha"),
    ("issue zero", story(issue=0), "client_payload.issue"),
    ("issue as string", story(issue="12"), "client_payload.issue"),
    ("target both", story(target="both"), "client_payload.target"),
    ("order 3", story(order=3), "client_payload.order"),
    ("order float", story(order=1.5), "client_payload.order"),
    ("bad repo", story(playbook_repo="https://evil.example/x"), "client_payload.playbook_repo"),
    ("dotdot repo", story(playbook_repo="owner/.."), "client_payload.playbook_repo"),
    ("traversal path", story(story_path="_bmad-output/implementation-artifacts/../../etc/passwd"),
     "client_payload.story_path"),
    ("workflow path", story(story_path=".github/workflows/evil.yml"), "client_payload.story_path"),
    ("trailing newline path", story(story_path=PATH + "\n"), "client_payload.story_path: contains a control"),
    ("too many related", story(related=[{"target": "infra", "repo": "o/a"}] * 3), "client_payload.related"),
    ("related extra key", story(related=[{"target": "infra", "repo": "o/a", "x": 1}]), "client_payload.related[0]"),
    ("related bad target", story(related=[{"target": "prod", "repo": "o/a"}]), "client_payload.related[0].target"),
    ("key mismatch", story(key="b" * 64), "does not match story_key"),
]


@pytest.mark.parametrize(("payload", "problem"), [(p, m) for _, p, m in BAD_STORIES], ids=[n for n, _, _ in BAD_STORIES])
def test_forged_story_payload_is_rejected(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate_story_payload(payload)
    assert problem in str(info.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(PayloadError) as info:
        validate_story_payload(story(v=9, merge_sha="x", target="db", extra=1))
    assert {"client_payload.v", "client_payload.merge_sha", "client_payload.target", "unexpected key(s) extra"} <= {
        p.split(":")[0] if p.startswith("client_payload.") else p.split(": ", 1)[1] for p in info.value.problems
    }


def test_problems_never_echo_the_untrusted_values() -> None:
    evil = "::add-mask::@everyone <script>"
    with pytest.raises(PayloadError) as info:
        validate_story_payload(story(story_path=evil, merge_sha=evil, **{evil: 1}))
    assert evil not in str(info.value)
    assert "(+1 unprintable)" in str(info.value)


@pytest.mark.parametrize("size", [MAX_SERIALIZED_CHARS + 1, 65_535])
def test_oversized_payload_is_rejected_before_schema_checks(size: int) -> None:
    payload = story()
    payload["related"] = [{"target": "infra", "repo": "o/a"}]
    filler = size - len(json.dumps(payload, separators=(",", ":"))) - len(',"pad":""')
    payload["pad"] = "x" * filler
    assert len(json.dumps(payload, separators=(",", ":"))) == size
    with pytest.raises(PayloadError, match="the limit is 60000"):
        validate_story_payload(payload)


@pytest.mark.parametrize("obj", [None, [], "string", 7, [story()]])
def test_non_object_payload_is_rejected(obj: Any) -> None:
    with pytest.raises(PayloadError, match="must be a JSON object"):
        validate_story_payload(obj)


BAD_DEPLOYED = [
    ("missing pr", deployed(pr=_DROP), "missing key(s) pr"),
    ("pr as string", deployed(pr="7"), "client_payload.pr"),
    ("extra order", deployed(order=1), "unexpected key(s) order"),
    ("bad key", deployed(key="z" * 64), "client_payload.key"),
    ("bad repo", deployed(repo="owner"), "client_payload.repo"),
]


@pytest.mark.parametrize(("payload", "problem"), [(p, m) for _, p, m in BAD_DEPLOYED], ids=[n for n, _, _ in BAD_DEPLOYED])
def test_forged_deployed_payload_is_rejected(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate_deployed_payload(payload)
    assert problem in str(info.value)


# --------------------------------------------------------------------------- story paths

TRAVERSALS = [
    "../../etc/passwd",
    "_bmad-output/implementation-artifacts/../../etc/passwd",
    "_bmad-output/implementation-artifacts/12-x/..%2F..%2Fstory-1-1-a.md",
    "..%2F..",
    "/abs/path/story-1-1-a.md",
    "/" + PATH,
    "a/../../x",
    "_bmad-output/implementation-artifacts/12-x/../story-1-1-a.md",
    "C:\\x",
    "_bmad-output\\implementation-artifacts\\12-x\\story-1-1-a.md",
    PATH + ".",
    PATH + " ",
    PATH + "\n",
    ".github/workflows/evil.yml",
    "_bmad-output/implementation-artifacts/12-x/story-1-1-a.md\x00.yml",
    "_bmad-output/implementation-artifacts/" + "a" * 62 + "/story-1-1-a.md",
    "_bmad-output/implementation-artifacts/12-x/story-1-1-" + "a" * 300 + ".md",
    "_bmad-output/implementation-artifacts/12-X/story-1-1-a.md",
    "_bmad-output/implementation-artifacts/12-x/story-1-1-a.yml",
    "_bmad-output/implementation-artifacts/story-1-1-a.md",
    "_bmad-output/planning-artifacts/12-x/story-1-1-a.md",
    "",
]


@pytest.mark.parametrize("rel", TRAVERSALS, ids=[repr(r)[:50] for r in TRAVERSALS])
def test_safe_story_path_rejects(tmp_path: Path, rel: str) -> None:
    with pytest.raises(PayloadError, match="unsafe story path"):
        safe_story_path(tmp_path, rel)


def test_safe_story_path_accepts_and_resolves_under_root(tmp_path: Path) -> None:
    resolved = safe_story_path(tmp_path, PATH)
    assert resolved == (tmp_path / PATH).resolve()
    assert not resolved.exists()  # pure check: nothing is created


def test_safe_story_path_rejects_a_symlinked_request_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    stories = tmp_path / "root" / "_bmad-output" / "implementation-artifacts"
    stories.mkdir(parents=True)
    os.symlink(outside, stories / "12-deploy-pi-hole")
    with pytest.raises(PayloadError, match="resolves outside"):
        safe_story_path(tmp_path / "root", PATH)
