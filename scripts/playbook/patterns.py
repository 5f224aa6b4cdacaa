"""The convention documents in patterns/: one loader for every reader.

The planner puts them in prompts, `playbook dev` gives Claude the ones for its target kind,
and `init-target` summarises them in CLAUDE.md. The service recipes in ``patterns/services/``
(current settings and pitfalls per application) are loaded by ``load_recipes`` and given to
Claude when the story names the service (``recipes_for``). Each file may start with a small YAML
header (``title``, ``applies_to: apps|infra|both``, ``checks``); the checker itself lives
in ``playbook.checks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KINDS = ("infra", "apps")


@dataclass(frozen=True)
class Pattern:
    filename: str
    title: str
    summary: str  # first paragraph (or the header's summary/description), at most 300 characters
    kinds: tuple[str, ...]
    checks: tuple[str, ...]
    body: str

    @property
    def name(self) -> str:
        return Path(self.filename).stem


def _split(text: str) -> tuple[dict[str, object], str]:
    """(header, body); only a YAML mapping counts as a header."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end == -1:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        meta = None
    body = text[end + 4:].partition("\n")[2]  # drop the rest of the closing `---` line
    return (meta if isinstance(meta, dict) else {}), body


def _first_paragraph(body: str) -> str:
    paragraph: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or stripped.startswith("<!--") or not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    text = " ".join(paragraph)
    return text if len(text) <= 300 else text[:297].rstrip() + "…"


def _kinds_for(declared: object) -> tuple[str, ...]:
    """`applies_to: infra|apps|both` (or a list); a pattern that does not say applies to both."""
    if isinstance(declared, str):
        declared = [declared]
    names = {str(n).strip().lower() for n in declared} if isinstance(declared, list) else set()
    picked = tuple(k for k in KINDS if k in names)
    return picked if picked and "both" not in names else KINDS


def parse_pattern(filename: str, text: str) -> Pattern:
    meta, body = _split(text)
    heading = next((ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("# ")), "")
    title = str(meta.get("title") or heading or Path(filename).stem.replace("-", " ").capitalize())
    summary = str(meta.get("summary") or meta.get("description") or _first_paragraph(body))
    checks = meta.get("checks")
    return Pattern(filename, title, " ".join(summary.split()), _kinds_for(meta.get("applies_to")),
                   tuple(str(c) for c in checks) if isinstance(checks, list) else (), body.strip())


def load_patterns(patterns_dir: Path, kind: str | None = None) -> list[Pattern]:
    """The patterns (for ``kind``, or all), in file-name order; README and symlinks are skipped."""
    if not patterns_dir.is_dir():
        return []
    found = [parse_pattern(p.name, p.read_text(encoding="utf-8", errors="replace"))
             for p in sorted(patterns_dir.glob("*.md")) if p.name.lower() != "readme.md" and not p.is_symlink()]
    return [p for p in found if kind is None or kind in p.kinds]


RECIPES_DIR = "services"


@dataclass(frozen=True)
class Recipe:
    pattern: Pattern
    images: tuple[str, ...]
    aliases: tuple[str, ...]  # words a story uses for the service ("pi-hole", "sonarr")


def load_recipes(patterns_dir: Path) -> list[Recipe]:
    """patterns/services/<service>.md, in file-name order (README and symlinks skipped)."""
    directory = patterns_dir / RECIPES_DIR
    if not directory.is_dir():
        return []
    recipes = []
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md" or path.is_symlink():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        meta, _ = _split(text)
        pattern = parse_pattern(f"{RECIPES_DIR}/{path.name}", text)
        images = meta.get("images")
        aliases = meta.get("aliases")
        recipes.append(Recipe(pattern, tuple(str(i) for i in images) if isinstance(images, list) else (),
                              tuple(str(a).lower() for a in aliases) if isinstance(aliases, list) else ()))
    return recipes


def recipes_for(text: str, recipes: list[Recipe]) -> list[Recipe]:
    """The recipes whose service the text mentions (by alias, recipe name or image)."""
    lowered = text.lower()
    return [r for r in recipes
            if any(word and word in lowered for word in (r.pattern.name, *r.aliases, *r.images))]
