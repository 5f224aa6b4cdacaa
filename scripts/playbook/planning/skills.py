"""The BMAD skills: ``skills/<name>/SKILL.md`` files, loaded and checked strictly.

A SKILL.md is a YAML frontmatter block (what the skill reads and writes, which
model alias runs it, whether the Claude Code CLI runs it in a target repo) and a
Jinja2 body: the prompt for one headless run. Frontmatter is validated with a
JSON schema that rejects unknown keys, and every problem is reported at once so
one edit-and-rerun fixes them all.

The prompt variables are a fixed contract (see ``VARIABLES`` and
skills/README.md): every render receives all of them, so a template that uses
anything else fails loudly (StrictUndefined) rather than rendering blanks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from playbook.errors import SkillError

SKILL_FILE = "SKILL.md"

EXPECTED_SKILLS: tuple[str, ...] = (
    # analysis
    "create-product-brief", "market-research", "domain-research", "technical-research", "brainstorming",
    # planning
    "create-prd", "validate-prd", "edit-prd", "create-ux-design",
    # solutioning
    "create-architecture", "create-epics-and-stories", "check-implementation-readiness",
    # implementation
    "sprint-planning", "sprint-status", "create-story", "validate-story", "dev-story", "code-review",
    "qa-automate", "correct-course", "retrospective",
    # quick flow
    "quick-spec", "quick-dev",
    # context
    "document-project", "generate-project-context",
    # core utilities
    "help", "party-mode", "index-docs", "shard-doc", "editorial-review-prose", "editorial-review-structure",
    "adversarial-review", "claude-delegate",
)

PHASES = ("analysis", "planning", "solutioning", "implementation", "quick-flow", "context", "core")
READS = ("request", "brief", "prd", "ux-design", "architecture", "epics", "stories", "story", "research",
         "project-context", "patterns", "topology")
WRITES = ("brief", "prd", "ux-design", "architecture", "epics", "story", "research", "project-context",
          "review", "report", "code", "none")
OUTPUTS = ("markdown", "json")

# Every render receives exactly these top-level variables.
VARIABLES = ("request", "artifacts", "story", "patterns", "examples", "topology", "feedback", "previous", "revision")
ARTIFACT_KEYS = ("brief", "prd", "ux_design", "architecture", "epics", "research", "project_context")

# Headings the four phase skills must ask for; downstream readers and reviewers rely on them.
REQUIRED_SECTIONS: dict[str, tuple[str, ...]] = {
    "create-product-brief": ("## Summary", "## Problem", "## Goals", "## Non-goals", "## Users and access",
                             "## Constraints", "## Success criteria", "## Open questions"),
    "create-prd": ("## Overview", "## Functional requirements", "## Non-functional requirements",
                   "## Integrations", "## Out of scope", "## Acceptance", "## Open questions"),
    "create-architecture": ("## Context", "## Placement", "## Components", "## Networking and ingress",
                            "## Security and SSO", "## Data and backups", "## Observability",
                            "## Deployment and rollback", "## Decisions", "## Open questions"),
    "create-epics-and-stories": ('"summary"', '"epics"', '"stories"', '"service"', '"target"', '"depends_on"',
                                 '"user_story"', '"acceptance_criteria"', '"tasks"', '"notes"',
                                 '"open_questions"'),
}

_FRONTMATTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "description", "phase", "persona", "model", "delegate", "reads", "writes", "output"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
        "description": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": r"\S"},
        "phase": {"enum": list(PHASES)},
        "persona": {"type": "string", "minLength": 1, "maxLength": 120, "pattern": r"\S"},
        "model": {"type": "string", "minLength": 1},
        "delegate": {"type": "boolean"},
        "reads": {"type": "array", "uniqueItems": True, "items": {"enum": list(READS)}},
        "writes": {"enum": list(WRITES)},
        "output": {"enum": list(OUTPUTS)},
    },
}

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")
)
# Untrusted text must not be able to close the <untrusted> block it is wrapped in.
_CLOSING_TAG = re.compile(r"<\s*/\s*untrusted", re.IGNORECASE)
# Marks text in sample_variables() that must only ever appear inside an <untrusted> block.
_UNTRUSTED_MARK = "UNTRUSTED-SAMPLE-TEXT"


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    phase: str
    persona: str
    model: str
    delegate: bool
    reads: tuple[str, ...]
    writes: str
    output: str
    body: str
    path: Path

    def summary(self) -> dict[str, Any]:
        """The frontmatter as plain data (for `playbook skills list --json`)."""
        return {
            "name": self.name, "description": self.description, "phase": self.phase, "persona": self.persona,
            "model": self.model, "delegate": self.delegate, "reads": list(self.reads), "writes": self.writes,
            "output": self.output, "path": str(self.path),
        }


# --------------------------------------------------------------------------- parsing


def split_frontmatter(text: str) -> tuple[str, str] | None:
    """(yaml block, body) of a ``---``-delimited document, or None without a frontmatter block."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return None
    match = re.search(r"^---[ \t]*$", text[4:], re.MULTILINE)
    if match is None:
        return None
    return text[4:4 + match.start()], text[4 + match.end():].lstrip("\n")


def _yaml_node_problems(node: Any, where: str = "", visited: set[int] | None = None) -> list[str]:
    """Tags, aliases and duplicate keys silently change meaning (or recurse), so all are refused."""
    problems: list[str] = []
    label = where or "(frontmatter)"
    visited = set() if visited is None else visited
    if id(node) in visited:
        return [f"{label}: YAML anchors and aliases are not allowed (line {node.start_mark.line + 2})"]
    visited.add(id(node))
    if node.tag not in _PLAIN_TAGS:
        problems.append(f"{label}: YAML tag {node.tag!r} is not allowed (line {node.start_mark.line + 2})")
        return problems
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(f"{where + '.' if where else ''}{key}: duplicate key "
                                f"(line {key_node.start_mark.line + 2})")
            seen.add(key)
            problems.extend(_yaml_node_problems(key_node, where, visited))
            problems.extend(_yaml_node_problems(value_node, f"{where + '.' if where else ''}{key}", visited))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_yaml_node_problems(item, f"{where}[{index}]", visited))
    return problems


def _load_frontmatter(block: str) -> tuple[Any, list[str]]:
    try:
        node = yaml.compose(block, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" on line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [f"frontmatter: invalid YAML{line}: {problem}"]
    if node is None:
        return None, ["frontmatter: the block is empty"]
    problems = _yaml_node_problems(node)
    if problems:
        return None, problems
    data = yaml.safe_load(block)
    if not isinstance(data, dict):
        return None, [f"frontmatter: must be a mapping of keys to values, not {type(data).__name__}"]
    return data, []


def _schema_problems(data: Mapping[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    problems: list[str] = []
    for err in sorted(Draft202012Validator(_FRONTMATTER_SCHEMA).iter_errors(data), key=lambda e: list(map(str, e.path))):
        field = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            unknown = sorted(set(data) - set(_FRONTMATTER_SCHEMA["properties"]))
            problems.extend(f"{key}: unknown key (allowed: {', '.join(_FRONTMATTER_SCHEMA['properties'])})"
                            for key in unknown)
        elif err.validator == "required":
            missing = [k for k in _FRONTMATTER_SCHEMA["required"] if k not in data]
            problems.extend(f"{key}: required key is missing" for key in missing)
        else:
            problems.append(f"{field or 'frontmatter'}: {err.message}")
    return problems


def parse_skill(path: Path, text: str | None = None, *, aliases: Collection[str]) -> Skill:
    """One SKILL.md as a Skill; a SkillError lists every problem, each naming its field."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SkillError(f"{path}: cannot be read ({exc})", fix="make it a readable UTF-8 text file") from None
    split = split_frontmatter(text)
    if split is None:
        raise SkillError(f"{path}: invalid skill", problems=["frontmatter: missing; the file must start with a "
                                                             "`---` line and a closing `---` line"],
                         fix="start the file with the YAML frontmatter block described in skills/README.md")
    block, body = split
    data, problems = _load_frontmatter(block)
    if data is not None:
        problems = _schema_problems(data)
        expected_name = path.parent.name
        if isinstance(data.get("name"), str) and data["name"] != expected_name:
            problems.append(f"name: {data['name']!r} must equal the directory name {expected_name!r}")
        model = data.get("model")
        if isinstance(model, str) and model and model not in aliases:
            problems.append(f"model: {model!r} is not a model alias in playbook.yaml "
                            f"(known: {', '.join(sorted(aliases)) or 'none'})")
    if not body.strip():
        problems.append("body: the prompt template is empty")
    if problems:
        raise SkillError(f"{path}: invalid skill", problems=problems,
                         fix="correct the listed fields (see skills/README.md for the format)")
    assert data is not None
    return Skill(
        name=data["name"], description=data["description"].strip(), phase=data["phase"],
        persona=data["persona"].strip(), model=data["model"], delegate=data["delegate"],
        reads=tuple(data["reads"]), writes=data["writes"], output=data["output"], body=body, path=path,
    )


def _skill_files(skills_dir: Path) -> tuple[list[Path], list[str]]:
    if not skills_dir.is_dir():
        raise SkillError(f"{skills_dir}: skills directory not found",
                         fix="run from the playbook repository root or pass --root")
    files, problems = [], []
    for child in sorted(skills_dir.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        skill_file = child / SKILL_FILE
        if skill_file.is_file():
            files.append(skill_file)
        else:
            problems.append(f"{skill_file}: missing (every skills/<name>/ directory holds a {SKILL_FILE})")
    return files, problems


def _collect(skills_dir: Path, aliases: Collection[str]) -> tuple[dict[str, Skill], list[str]]:
    files, problems = _skill_files(Path(skills_dir))
    skills: dict[str, Skill] = {}
    for skill_file in files:
        try:
            skill = parse_skill(skill_file, aliases=aliases)
        except SkillError as exc:
            if exc.problems:
                problems.extend(f"{skill_file}: {p}" for p in exc.problems)
            else:
                problems.append(exc.message)
            continue
        skills[skill.name] = skill
    # Workflow order (as in EXPECTED_SKILLS) reads better than alphabetical; extra skills follow.
    order = {name: index for index, name in enumerate(EXPECTED_SKILLS)}
    ranked = sorted(skills, key=lambda name: (order.get(name, len(order)), name))
    return {name: skills[name] for name in ranked}, problems


class SkillLibrary(Mapping[str, Skill]):
    """The skills under ``skills_dir``, each parsed the first time it is used.

    A planning step runs one skill, so it parses one ``SKILL.md`` instead of all of them; a broken
    skill fails the step that uses it (``playbook skills validate`` and the tests check them all).
    """

    def __init__(self, skills_dir: Path, *, aliases: Collection[str]) -> None:
        self._dir = Path(skills_dir)
        self._aliases = frozenset(aliases)
        self._parsed: dict[str, Skill] = {}

    def __getitem__(self, name: str) -> Skill:
        if name not in self._parsed:
            path = self._dir / name / SKILL_FILE
            if not _SKILL_NAME.fullmatch(name) or not path.is_file():
                raise KeyError(name)
            self._parsed[name] = parse_skill(path, aliases=self._aliases)
        return self._parsed[name]

    def __iter__(self) -> Iterator[str]:
        files, _ = _skill_files(self._dir)
        return iter(f.parent.name for f in files)

    def __len__(self) -> int:
        return len(_skill_files(self._dir)[0])

    @property
    def parsed(self) -> tuple[str, ...]:
        """Names parsed so far (what a step cost)."""
        return tuple(self._parsed)


_SKILL_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def load_skills(skills_dir: Path, *, aliases: Collection[str]) -> dict[str, Skill]:
    """Every skill under ``skills_dir`` by name, in workflow order; one SkillError lists all files' problems."""
    skills, problems = _collect(skills_dir, aliases)
    if problems:
        raise SkillError(f"{skills_dir}: {len(problems)} problem(s) in the skills", problems=problems,
                         fix="correct the listed files, then run `playbook skills validate`")
    return skills


# --------------------------------------------------------------------------- rendering


def _defuse(value: Any) -> Any:
    if isinstance(value, str):
        return _CLOSING_TAG.sub("&lt;/untrusted", value)
    if isinstance(value, Mapping):
        return {k: _defuse(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_defuse(v) for v in value]
    return value


def render_skill(skill: Skill, variables: Mapping[str, Any]) -> str:
    """The skill's prompt for one run. Missing variables are a SkillError, never blanks.

    Text cannot close the ``<untrusted>`` blocks the prompts wrap it in: any
    ``</untrusted`` inside a value is escaped before rendering.
    """
    from playbook.planning.prompts import render_text

    missing = [name for name in VARIABLES if name not in variables]
    if missing:
        raise SkillError(f"{skill.path}: prompt variables missing: {', '.join(missing)}",
                         fix=f"pass all of {', '.join(VARIABLES)} (see skills/README.md)")
    return render_text(skill.body, _defuse(dict(variables)), name=str(skill.path))


def sample_variables() -> dict[str, Any]:
    """Every prompt variable with neutral, non-empty values, so each optional branch renders.

    Text a user controls carries ``UNTRUSTED-SAMPLE-TEXT`` so validation can check
    it only ever lands inside an ``<untrusted>`` block.
    """
    return {
        "request": {"id": "1", "title": f"Example request {_UNTRUSTED_MARK}",
                    "body": f"Deploy an example service. {_UNTRUSTED_MARK}", "slug": "example-request"},
        "artifacts": {key: f"(example {key.replace('_', ' ')} document)" for key in ARTIFACT_KEYS},
        "story": {"id": "1.1", "title": f"Example story {_UNTRUSTED_MARK}",
                  "body": f"Example story body. {_UNTRUSTED_MARK}"},
        "patterns": [{"name": "example-pattern", "title": "Example pattern", "body": "Follow the example convention."}],
        "examples": "### stacks/example/docker-compose.yml\n\n(example file)\n",
        "topology": "nodes: []\nservices: []\n",
        "feedback": f"Example revision feedback. {_UNTRUSTED_MARK}",
        "previous": "(example previous revision)",
        "revision": 2,
    }


def blank_variables() -> dict[str, Any]:
    """A first-revision, request-only variable set: every optional value empty."""
    return {
        "request": {"id": "1", "title": "Example request", "body": "Deploy an example service.",
                    "slug": "example-request"},
        "artifacts": {key: "" for key in ARTIFACT_KEYS},
        "story": {"id": "", "title": "", "body": ""},
        "patterns": [],
        "examples": "",
        "topology": "",
        "feedback": "",
        "previous": "",
        "revision": 1,
    }


def _outside_untrusted(text: str) -> bool:
    """Whether the sample's untrusted marker appears outside every <untrusted> block."""
    outside = re.sub(r"<untrusted\b[^>]*>.*?</untrusted>", "", text, flags=re.DOTALL)
    return _UNTRUSTED_MARK in outside


def _render_problems(skill: Skill) -> list[str]:
    problems: list[str] = []
    try:
        full = render_skill(skill, sample_variables())
        render_skill(skill, blank_variables())
    except SkillError as exc:
        return [exc.message]  # names the file already
    if _outside_untrusted(full):
        problems.append(f"{skill.path}: body: user text (request, story or feedback) is rendered outside an "
                        "<untrusted>…</untrusted> block")
    if "open questions" not in full.lower() and "open_questions" not in full:
        problems.append(f"{skill.path}: body: the prompt never asks for open questions (one headless run: "
                        "unresolved points go in an \"Open questions\" section)")
    problems.extend(f"{skill.path}: body: required output section {section} is not asked for"
                    for section in REQUIRED_SECTIONS.get(skill.name, ()) if section not in full)
    return problems


def validate_skills(skills_dir: Path, *, aliases: Collection[str]) -> list[str]:
    """Every problem in the skills directory; [] when all is well.

    Beyond parsing: every expected skill is present, and every body renders both
    with all optional variables filled and with them empty.
    """
    try:
        skills, problems = _collect(Path(skills_dir), aliases)
    except SkillError as exc:
        return [exc.message]
    problems.extend(f"{Path(skills_dir) / name / SKILL_FILE}: missing (expected skill {name!r})"
                    for name in EXPECTED_SKILLS if name not in skills and not (Path(skills_dir) / name).is_dir())
    for skill in skills.values():
        problems.extend(_render_problems(skill))
    return problems
