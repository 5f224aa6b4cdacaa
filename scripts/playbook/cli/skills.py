"""`playbook skills`: list the BMAD skills and validate them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from playbook.settings import Settings


def _root_option(f):  # type: ignore[no-untyped-def]
    return click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The playbook repository (default: PLAYBOOK_DIR or the current directory).")(f)


def _root_and_aliases(root: Path | None) -> tuple[Path, set[str]]:
    from playbook.config import load_config

    root = (root or Settings.from_env(os.environ).root).resolve()
    return root, set(load_config(root).models)


@click.group()
def skills() -> None:
    """List and validate the BMAD skills."""


@skills.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of skill objects.")
@_root_option
def list_skills(as_json: bool, root: Path | None) -> int:
    """Show each skill's phase, model alias, delegation and output."""
    from playbook.planning.skills import load_skills

    root, aliases = _root_and_aliases(root)
    loaded = load_skills(root / "skills", aliases=aliases)
    if as_json:
        rows: list[dict[str, Any]] = []
        for skill in loaded.values():
            row = skill.summary()
            row["path"] = str(skill.path.relative_to(root))
            rows.append(row)
        click.echo(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "PHASE", "MODEL", "DELEGATE", "WRITES")
    rows_text = [(s.name, s.phase, s.model, "yes" if s.delegate else "no", s.writes) for s in loaded.values()]
    widths = [max(len(line[i]) for line in [header, *rows_text]) for i in range(len(header))]
    for line in [header, *rows_text]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


@skills.command("validate")
@_root_option
def validate(root: Path | None) -> int:
    """Check every SKILL.md: frontmatter, expected names, and that each prompt renders."""
    from playbook.errors import SkillError
    from playbook.planning.skills import load_skills, validate_skills

    root, aliases = _root_and_aliases(root)
    problems = validate_skills(root / "skills", aliases=aliases)
    if problems:
        click.secho(f"{len(problems)} problem(s) in {root / 'skills'}:", fg="red", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        click.echo("  fix: correct the listed files (the format is in skills/README.md)", err=True)
        raise click.exceptions.Exit(SkillError.exit_code)
    click.echo(f"{len(load_skills(root / 'skills', aliases=aliases))} skills valid")
    return 0


@skills.command("run")
@click.argument("name")
@click.option("--story", "story_id", default=None, metavar="ID", help="The story the skill works on, e.g. 1.2.")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="The playbook checkout, on a bmad/<id>-<slug> request branch.")
@click.option("--offline/--online", default=None,
              help="Force the offline planner, or require the configured routes (default: online when "
              "GEMINI_API_KEY is set).")
@click.option("--print-prompt", is_flag=True, help="Print the rendered prompt and stop (any skill, nothing committed).")
def run(name: str, story_id: str | None, repo: Path, offline: bool | None, print_prompt: bool) -> int:
    """Run skill NAME against the request on the current branch and commit its output.

    Its declared inputs come from the request's artifacts; it runs on its model route (delegated
    skills on the Claude CLI, the others on Gemini) and writes
    _bmad-output/planning-artifacts/<request>/runs/NAME.md. Skills that write code (dev-story,
    quick-dev, claude-delegate) run in a target repository with `playbook dev`.
    """
    from playbook.planning.local import build_planner, run_skill

    repo = repo.resolve()
    settings = Settings.from_env(os.environ, root=repo)
    planner = build_planner(settings, root=repo, offline=offline,
                            progress=lambda m: click.secho(f"… {m}", fg="cyan", err=True))
    outcome = run_skill(repo, planner, name, story_id=story_id, print_prompt=print_prompt)
    if print_prompt:
        click.echo(outcome, nl=False)
        return 0
    commit = outcome.commit[:10] if outcome.commit else "(unchanged)"
    usage = outcome.usage
    click.echo(f"{outcome.skill}: wrote {outcome.path}, committed {commit} — {outcome.model} ({outcome.provider}), "
               f"tokens {usage['input_tokens']}/{usage['output_tokens']}, est. ${usage['cost_usd']:.4f}")
    return 0
