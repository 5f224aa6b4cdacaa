"""Artifacts: Markdown with strict YAML frontmatter. The only python-frontmatter user.

Layout, per request ``<req>`` = ``<id>-<slug>``::

    _bmad-output/planning-artifacts/<req>/request.md        the request as received
    _bmad-output/planning-artifacts/<req>/product-brief.md  phase documents (see phases.PHASES)
    _bmad-output/planning-artifacts/<req>/epics.md
    _bmad-output/implementation-artifacts/<req>/story-<epic>-<n>-<slug>.md
    _bmad-output/implementation-artifacts/<req>/sprint-status.yaml

Frontmatter is parsed with a hardened loader (no tags, no aliases, no duplicate keys,
bounded size and depth, timestamps kept as strings) and validated against a JSON
schema with unknown keys rejected. Every problem is reported at once, naming the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from playbook.errors import ArtifactError

SCHEMA_VERSION = 1
PLANNING_DIR = "_bmad-output/planning-artifacts"
IMPLEMENTATION_DIR = "_bmad-output/implementation-artifacts"
MAX_ARTIFACT_BYTES = 1_000_000
MAX_YAML_DEPTH = 20

REQUEST_ID_RE = re.compile(r"^[0-9]{1,9}-[a-z0-9][a-z0-9-]{0,60}$")
STORY_ID_RE = re.compile(r"^[0-9]{1,3}\.[0-9]{1,3}$")
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STORY_STATUSES = ("backlog", "ready-for-dev", "in-progress", "review", "done")
# How a story's last dev run in a target repo ended (frontmatter ``dev_runs``).
DEV_OUTCOMES = ("ready", "draft", "nothing to do", "refused", "failed", "already published")
DOC_STATUSES = ("draft", "approved")
TARGETS = ("infra", "apps", "both", "auto")  # auto: routing.RULES decide at dispatch

# --------------------------------------------------------------------------- hardened YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys, implicit timestamps or deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in frontmatter", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"nesting deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def safe_yaml_load(text: str, *, source: str) -> Any:
    """Load untrusted YAML with the hardened loader; errors name the source."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{source}: larger than {MAX_ARTIFACT_BYTES} bytes", fix="shrink the file")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - hardened SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise ArtifactError(f"{source}: invalid YAML{where}: {f'{context} ' if context else ''}{what}",
                            fix="correct the YAML (no tags, aliases or tabs)") from None


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


# --------------------------------------------------------------------------- schemas

_USAGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input_tokens", "output_tokens", "cost_usd"],
    "properties": {
        "input_tokens": {"type": "integer", "minimum": 0},
        "output_tokens": {"type": "integer", "minimum": 0},
        "cost_usd": {"type": "number", "minimum": 0},
        "unknown": {"type": "boolean"},  # some call reported no usage: the numbers are a lower bound
    },
}
_FALLBACKS = {
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["route", "reason"],
        "properties": {"route": {"type": "string", "maxLength": 100}, "reason": {"type": "string", "maxLength": 300}},
    },
}
_DEV_USAGE = {
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", "repo", "pr", "input_tokens", "output_tokens", "cost_usd"],
        "properties": {
            "target": {"enum": ["infra", "apps"]},
            "repo": {"type": "string", "maxLength": 200},
            "pr": {"type": "integer", "minimum": 1},
            "input_tokens": {"type": "integer", "minimum": 0},
            "output_tokens": {"type": "integer", "minimum": 0},
            "cost_usd": {"type": "number", "minimum": 0},
            "unknown": {"type": "boolean"},
        },
    },
}
_INPUTS = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "sha"],
        "properties": {"path": {"type": "string"}, "sha": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
    },
}
_TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}
_COMMON = {
    "schema_version": {"const": SCHEMA_VERSION},
    "request": {"type": "string", "pattern": REQUEST_ID_RE.pattern},
    "issue": {"type": ["integer", "null"], "minimum": 1},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "request": {
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "kind", "request", "issue", "title", "source", "created", "status"],
        "properties": {
            **_COMMON,
            "kind": {"const": "request"},
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "source": {"enum": ["github", "local"]},
            "created": _TIMESTAMP,
            "status": {"enum": ["active", "cancelled"]},
            "truncated": {"type": "boolean"},
            "flow": {"enum": ["full", "quick"]},
            "tracking_comment": {  # the issue's tracking comment, read by id instead of searched for
                "type": "object", "additionalProperties": False, "required": ["id", "node_id"],
                "properties": {"id": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                               "node_id": {"type": "string", "pattern": "^[A-Za-z0-9_=-]{1,100}$"}},
            },
        },
    },
    "phase": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "schema_version", "kind", "request", "issue", "phase", "skill", "revision", "status",
            "model", "provider", "usage", "inputs", "created",
        ],
        "properties": {
            **_COMMON,
            "kind": {"const": "phase"},
            "phase": {"enum": ["brief", "prd", "architecture", "stories"]},
            "skill": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "revision": {"type": "integer", "minimum": 1},
            "status": {"enum": list(DOC_STATUSES)},
            "model": {"type": "string", "minLength": 1},
            "provider": {"enum": ["gemini", "claude-cli", "offline"]},
            "usage": _USAGE,
            "spent_before": _USAGE,  # what the earlier revisions of this phase cost
            "fallbacks": _FALLBACKS,  # routes skipped on the way to this answer, with the reason
            "inputs": _INPUTS,
            "feedback": {"type": "string", "maxLength": 20000},
            "created": _TIMESTAMP,
            "trigger": {"type": "string", "maxLength": 100},
            "approved": {"type": ["string", "null"]},
            "approved_by": {"type": ["string", "null"]},
            "approved_ref": {"type": ["string", "null"], "maxLength": 100},
        },
    },
    "skill-run": {
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "kind", "request", "issue", "skill", "model", "provider", "usage", "inputs",
                     "created"],
        "properties": {
            **_COMMON,
            "kind": {"const": "skill-run"},
            "skill": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "model": {"type": "string", "minLength": 1},
            "provider": {"enum": ["gemini", "claude-cli", "offline"]},
            "usage": _USAGE,
            "inputs": _INPUTS,
            "created": _TIMESTAMP,
            "story": {"type": "string", "pattern": STORY_ID_RE.pattern},
            "trigger": {"type": "string", "maxLength": 100},
            "verdict": {"enum": ["ready", "ready-with-fixes", "not-ready", "unknown"]},
            "blockers": {"type": "array", "maxItems": 30, "items": {"type": "string", "maxLength": 500}},
        },
    },
    "story": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "schema_version", "kind", "request", "issue", "id", "epic", "title", "target", "service",
            "depends_on", "status", "acceptance_criteria", "revision",
        ],
        "properties": {
            **_COMMON,
            "kind": {"const": "story"},
            "id": {"type": "string", "pattern": STORY_ID_RE.pattern},
            "epic": {"type": "integer", "minimum": 1},
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "target": {"enum": list(TARGETS)},
            "service": {"type": "string", "pattern": SERVICE_RE.pattern},
            "depends_on": {"type": "array", "items": {"type": "string", "pattern": STORY_ID_RE.pattern}},
            "status": {"enum": list(STORY_STATUSES)},
            "acceptance_criteria": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "revision": {"type": "integer", "minimum": 1},
            "dev_usage": _DEV_USAGE,  # Claude dev runs in the target repos, reported with bmad-deployed
            "pull_requests": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["target", "repo", "number", "url"],
                    "properties": {
                        "target": {"enum": ["infra", "apps"]},
                        "repo": {"type": "string"},
                        "number": {"type": "integer"},
                        "url": {"type": "string"},
                        "merged": {"type": "boolean"},
                    },
                },
            },
            # The last dev run per target repo, as the target's publish step reported it.
            "dev_runs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["target", "outcome"],
                    "properties": {
                        "target": {"enum": ["infra", "apps"]},
                        "outcome": {"enum": list(DEV_OUTCOMES)},
                        "reason": {"type": "string", "maxLength": 600},
                    },
                },
            },
        },
    },
}


# Kinds people edit by hand: keys they add (``priority: high``) are kept and ignored; ours stay strict.
HUMAN_EDITABLE = ("story",)
_TOLERANT = {kind: {**SCHEMAS[kind], "additionalProperties": True} for kind in HUMAN_EDITABLE}


def validate_metadata(kind: str, metadata: Any, *, source: str) -> None:
    from playbook.schemas import schema_problems

    if not isinstance(metadata, dict):
        raise ArtifactError(f"{source}: frontmatter is not a mapping", fix="start the file with a `---` YAML block")
    problems = schema_problems(_TOLERANT.get(kind, SCHEMAS[kind]), metadata, top="(frontmatter)")
    if problems:
        raise ArtifactError(f"{source}: invalid {kind} frontmatter", problems=problems,
                            fix="correct the listed fields; nothing was committed")


# --------------------------------------------------------------------------- parse / render


class _StrictHandler:
    """python-frontmatter handler using the hardened loader and stable dumping."""

    def __init__(self) -> None:
        from frontmatter.default_handlers import YAMLHandler

        self._base = YAMLHandler()
        self.FM_BOUNDARY = self._base.FM_BOUNDARY
        self.START_DELIMITER = self._base.START_DELIMITER
        self.END_DELIMITER = self._base.END_DELIMITER

    def detect(self, text: str) -> bool:
        return bool(self._base.detect(text))

    def split(self, text: str) -> tuple[str, str]:
        fm, content = self._base.split(text)
        return fm, content

    def load(self, fm: str, **_: Any) -> Any:
        return safe_yaml_load(fm, source="frontmatter")

    def export(self, metadata: dict[str, Any], **_: Any) -> str:
        return dump_yaml(metadata).rstrip("\n")

    def format(self, post: Any, **kwargs: Any) -> str:
        return str(self._base.format(post, **kwargs))


def parse(text: str, kind: str, *, source: str) -> tuple[dict[str, Any], str]:
    """Split and validate an artifact; returns (metadata, body)."""
    import frontmatter

    if text.startswith("\ufeff"):
        raise ArtifactError(f"{source}: starts with a byte-order mark", fix="save the file as UTF-8 without BOM")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{source}: larger than {MAX_ARTIFACT_BYTES} bytes", fix="shrink the file")
    if not text.startswith("---\n") and not text.startswith("---\r\n"):
        raise ArtifactError(f"{source}: missing the opening `---` of the frontmatter",
                            fix="start the file with a YAML block between `---` lines")
    handler = _StrictHandler()
    try:
        fm, body = handler.split(text)
    except ValueError:
        raise ArtifactError(f"{source}: unterminated frontmatter (no closing `---`)",
                            fix="close the YAML block with a `---` line") from None
    if "\t" in fm:
        raise ArtifactError(f"{source}: tab characters in frontmatter", fix="indent YAML with spaces")
    try:
        metadata = handler.load(fm)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc.message}", fix=exc.fix) from None
    del frontmatter  # imported for its handler base only
    try:
        validate_metadata(kind, metadata, source=source)
    except ArtifactError as exc:  # say on which line of the file each field is, for the person fixing it
        raise ArtifactError(exc.message.splitlines()[0], problems=[_with_line(p, fm) for p in exc.problems],
                            fix=exc.fix) from None
    return metadata, body.strip("\n") + "\n"


def _with_line(problem: str, frontmatter_text: str) -> str:
    """``status: 'x' is not one of …`` -> ``line 9: status: …`` (line 1 is the opening ``---``)."""
    key = re.split(r"[/:]", problem, maxsplit=1)[0].strip()
    found = re.search(rf"(?m)^{re.escape(key)}[ \t]*:", frontmatter_text) if key and key[0] != "(" else None
    if found is None:
        return problem
    before = frontmatter_text[:found.start()].count("\n")
    return f"line {1 + before + (0 if frontmatter_text.startswith(chr(10)) else 1)}: {problem}"


def render(metadata: dict[str, Any], body: str, kind: str, *, source: str) -> str:
    """Validate then serialise an artifact."""
    validate_metadata(kind, metadata, source=source)
    return "---\n" + dump_yaml(metadata) + "---\n\n" + body.strip("\n") + "\n"


def blob_sha(text: str) -> str:
    """The git blob id of ``text`` (what `git hash-object` prints)."""
    data = text.encode("utf-8", "surrogateescape")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- paths


def planning_dir(request: str) -> str:
    return f"{PLANNING_DIR}/{request}"


def implementation_dir(request: str) -> str:
    return f"{IMPLEMENTATION_DIR}/{request}"


def _fold(path: str) -> str:
    """Case-folded and NFC-normalised: two paths equal here are one file on some checkouts."""
    import unicodedata

    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def is_story_path(path: str) -> bool:
    name = _fold(path.rsplit("/", 1)[-1])
    return name.startswith("story-") and name.endswith(".md")


def story_collisions(stories: list[Story]) -> list[str]:
    """Stories that would be the same story in a target repo: the same id, or file names equal
    once case-folded and NFC-normalised (one would silently overwrite the other)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for story in stories:
        for key, why in ((f"id:{story.id}", f"both are story {story.id}"),
                         (f"path:{_fold(story.path)}", "names differ only in case or Unicode normalisation")):
            if key in seen:
                problems.append(f"story files {seen[key]} and {story.path} collide ({why})")
            else:
                seen[key] = story.path
    return problems


def sprint_status_path(request: str) -> str:
    return f"{implementation_dir(request)}/sprint-status.yaml"


def story_filename(story_id: str, title_slug: str) -> str:
    epic, number = story_id.split(".")
    return f"story-{epic}-{number}-{title_slug}.md"


def request_of_path(path: str) -> str | None:
    """The request id a story or artifact path belongs to."""
    parts = PurePosixPath(path).parts
    if len(parts) >= 4 and "/".join(parts[:2]) in (PLANNING_DIR, IMPLEMENTATION_DIR):
        return parts[2]
    return None


# --------------------------------------------------------------------------- typed views


@dataclass(frozen=True)
class Story:
    id: str
    epic: int
    title: str
    target: str
    service: str
    depends_on: tuple[str, ...]
    status: str
    acceptance_criteria: tuple[str, ...]
    body: str
    issue: int | None
    request: str
    path: str
    metadata: dict[str, Any]


def story_from_text(text: str, *, path: str) -> Story:
    meta, body = parse(text, "story", source=path)
    return Story(
        id=meta["id"],
        epic=meta["epic"],
        title=meta["title"],
        target=meta["target"],
        service=meta["service"],
        depends_on=tuple(meta["depends_on"]),
        status=meta["status"],
        acceptance_criteria=tuple(meta["acceptance_criteria"]),
        body=body,
        issue=meta["issue"],
        request=meta["request"],
        path=path,
        metadata=meta,
    )


def load_story(path: Any) -> Story:
    """Read and validate a story file from disk."""
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{p}: story file not found", fix="check the story path") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{p}: not UTF-8 text", fix="save the story as UTF-8") from None
    return story_from_text(text, path=str(p))


def with_status(text: str, kind: str, *, source: str, **changes: Any) -> str:
    """Return ``text`` with frontmatter fields changed, validated; body untouched."""
    meta, body = parse(text, kind, source=source)
    meta.update(changes)
    return render(meta, body, kind, source=source)
