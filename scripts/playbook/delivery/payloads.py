"""The ``repository_dispatch`` payloads between the playbook repo and its target repos.

``bmad-story`` (playbook → target) asks a target repo to implement one story; ``bmad-deployed``
(target → playbook) reports the IaC PR that implemented it was merged. Anyone holding a token with
Contents: write on the receiving repo can send either, so the receiver trusts nothing about the
sender: every key is checked by a strict schema (no unknown keys), the path by an allowlist regex
and a resolve-under-root check, and every problem is reported at once.

Problem messages name keys and rules, never the offending values: the values are attacker text and
the messages end up in logs and comments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playbook.delivery.dev_usage import SCHEMA as DEV_USAGE_SCHEMA
from playbook.errors import PayloadError

MAX_SERIALIZED_CHARS = 60000
STORIES_DIR = "_bmad-output/implementation-artifacts"

REPO_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$"
SHA_PATTERN = r"^[0-9a-f]{40}$"
KEY_PATTERN = r"^[0-9a-f]{64}$"
STORY_PATH_PATTERN = (
    r"^_bmad-output/implementation-artifacts/[a-z0-9][a-z0-9-]{0,60}/"
    r"story-[0-9]{1,3}-[0-9]{1,3}-[a-z0-9-]{1,60}\.md$"
)
_STORY_PATH = re.compile(STORY_PATH_PATTERN)

_REPO = {"type": "string", "pattern": REPO_PATTERN}
_TARGET = {"type": "string", "enum": ["infra", "apps"]}
_COMMON_PROPERTIES: dict[str, Any] = {
    "v": {"type": "integer", "const": 1},
    "playbook_repo": _REPO,
    "merge_sha": {"type": "string", "pattern": SHA_PATTERN},
    "story_path": {"type": "string", "maxLength": 200, "pattern": STORY_PATH_PATTERN},
    "issue": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "target": _TARGET,
    "key": {"type": "string", "pattern": KEY_PATTERN},
}

STORY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bmad-story client_payload",
    "type": "object",
    "additionalProperties": False,
    "maxProperties": 10,
    "required": ["v", "playbook_repo", "merge_sha", "story_path", "issue", "target", "order", "key"],
    "properties": {
        **_COMMON_PROPERTIES,
        "order": {"type": "integer", "enum": [1, 2]},
        "related": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["target", "repo"],
                "properties": {"target": _TARGET, "repo": _REPO,
                               "number": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
            },
        },
    },
}

DEPLOYED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bmad-deployed client_payload",
    "type": "object",
    "additionalProperties": False,
    "maxProperties": 10,
    "required": ["v", "playbook_repo", "story_path", "issue", "target", "repo", "pr", "merge_sha", "key"],
    "properties": {
        **_COMMON_PROPERTIES,
        "repo": _REPO,
        "pr": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "dev_usage": DEV_USAGE_SCHEMA,  # optional: what the dev run cost (delivery.dev_usage)
    },
}

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def story_key(playbook_repo: str, story_path: str, target: str, merge_sha: str) -> str:
    """The idempotency key of one story delivery: the receiver does each key once."""
    material = "\n".join((playbook_repo.lower(), story_path, target, merge_sha.lower()))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return "client_payload" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)


def _describe(error: Any) -> str:
    """One line per schema error, built from the rule — never echoing the (untrusted) value."""
    where = _where(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{where}: missing key(s) {', '.join(missing)}"
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        shown = [k for k in extra if isinstance(k, str) and _SAFE_NAME.fullmatch(k)]
        hidden = len(extra) - len(shown)
        names = ", ".join(shown) + (f" (+{hidden} unprintable)" if hidden else "")
        return f"{where}: unexpected key(s) {names}"
    if kind == "maxProperties":
        return f"{where}: more than {error.validator_value} keys"
    if kind == "maxItems":
        return f"{where}: more than {error.validator_value} items"
    if kind in {"pattern", "maxLength"}:
        return f"{where}: not in the allowed form"
    if kind in {"enum", "const"}:
        return f"{where}: must be one of {json.dumps(error.validator_value)}"
    if kind == "type":
        return f"{where}: must be of type {error.validator_value}"
    if kind in {"minimum", "maximum"}:
        return f"{where}: out of range"
    return f"{where}: fails the '{kind}' rule"


def _control_chars(value: Any, path: tuple[str, ...] = ()) -> list[str]:
    # jsonschema patterns use re.search, where `$` also matches before a final newline.
    if isinstance(value, str):
        return [f"{_where(path)}: contains a control character"] if _CONTROL.search(value) else []
    if isinstance(value, Mapping):
        return [p for k, v in value.items() if isinstance(k, str) for p in _control_chars(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _control_chars(v, (*path, str(i)))]
    return []


def _validate(obj: Any, schema: dict[str, Any], event_type: str) -> dict[str, Any]:
    from jsonschema import Draft202012Validator

    if not isinstance(obj, Mapping):
        raise PayloadError(f"{event_type} client_payload must be a JSON object",
                           fix="send client_payload as an object with the documented keys")
    try:
        size = len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    except (TypeError, ValueError):
        raise PayloadError(f"{event_type} client_payload is not plain JSON") from None
    if size > MAX_SERIALIZED_CHARS:
        raise PayloadError(
            f"{event_type} client_payload is {size} characters; the limit is {MAX_SERIALIZED_CHARS}",
            fix="send only the documented keys; the story itself is read from the playbook repo",
        )
    errors = sorted(Draft202012Validator(schema).iter_errors(dict(obj)), key=lambda e: [str(p) for p in e.path])
    problems = sorted({_describe(e) for e in errors}) + _control_chars(obj)
    if problems:
        raise PayloadError(
            f"{event_type} client_payload rejected",
            problems=problems,
            fix="send the payload `playbook` builds (see playbook.delivery.payloads); nothing was changed",
        )
    return json.loads(json.dumps(obj))


def validate_story_payload(obj: Any) -> dict[str, Any]:
    """A checked copy of a ``bmad-story`` payload; raises PayloadError listing every problem.

    Beyond the schema, ``key`` must equal ``story_key(playbook_repo, story_path, target, merge_sha)``
    so a payload cannot reuse another delivery's idempotency key.
    """
    payload = _validate(obj, STORY_SCHEMA, "bmad-story")
    expected = story_key(payload["playbook_repo"], payload["story_path"], payload["target"], payload["merge_sha"])
    if payload["key"] != expected:
        raise PayloadError(
            "bmad-story client_payload rejected",
            problems=["client_payload.key: does not match story_key(playbook_repo, story_path, target, merge_sha)"],
            fix="build the key with playbook.delivery.payloads.story_key",
        )
    return payload


def validate_deployed_payload(obj: Any) -> dict[str, Any]:
    """A checked copy of a ``bmad-deployed`` payload; raises PayloadError listing every problem."""
    return _validate(obj, DEPLOYED_SCHEMA, "bmad-deployed")


def safe_story_path(root: str | Path, rel: str) -> Path:
    """Resolve a story path from a payload or command, refusing anything outside the stories dir.

    Two independent checks: the allowlist regex (lowercase ASCII, fixed depth, ``.md``) and the
    resolved path staying under ``<root>/_bmad-output/implementation-artifacts/`` (which also
    catches a symlinked directory pointing elsewhere). Case collisions are the caller's concern.
    """
    problem = None
    if not isinstance(rel, str):
        problem = "the story path is not a string"
    elif len(rel) > 200:
        problem = "the story path is longer than 200 characters"
    elif "\x00" in rel or "\\" in rel or "%" in rel:
        problem = "the story path contains NUL, a backslash or a percent-escape"
    elif not _STORY_PATH.fullmatch(rel):
        problem = "the story path is not _bmad-output/implementation-artifacts/<slug>/story-<E>-<S>-<name>.md"
    if problem is None:
        base = (Path(root) / STORIES_DIR).resolve()
        resolved = (Path(root) / rel).resolve()
        if not resolved.is_relative_to(base) or resolved == base:
            problem = "the story path resolves outside the stories directory"
        else:
            return resolved
    raise PayloadError(f"unsafe story path: {problem}",
                       fix="name a story file that `playbook` wrote under _bmad-output/implementation-artifacts/")
