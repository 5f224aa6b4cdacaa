"""`playbook ops "question"`: a read-only answer from the local registry and checkouts."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.cli.topology import DEFAULT_FILE


@click.command("ops")
@click.argument("question")
@click.option("--registry", "registry_file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE,
              show_default=True)
@click.option("--apps", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A homelab-apps checkout whose file list grounds the answer.")
@click.option("--infra", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A homelab-infra checkout whose file list grounds the answer.")
def ops(question: str, registry_file: Path, apps: Path | None, infra: Path | None) -> int:
    """Answer an operator question (cheap route; the offline model, labeled, when GEMINI_API_KEY is unset)."""
    from playbook.config import load_config
    from playbook.errors import ValidationError
    from playbook.planning import ops as lib
    from playbook.planning.local import build_planner
    from playbook.sanitize import strip_hidden
    from playbook.settings import Settings
    from playbook.topology import registry

    settings = Settings.from_env(os.environ)
    config = load_config(settings.root)
    question = strip_hidden(question).strip()
    if not question or len(question) > config.limits.revise_feedback_chars:
        raise ValidationError(f"the question must be 1 to {config.limits.revise_feedback_chars} characters",
                              fix="ask one short question")
    registry_text = registry_file.read_text(encoding="utf-8") if registry_file.is_file() else ""
    data = registry.parse(registry_text, source=str(registry_file)) if registry_text else None
    trees = {}
    for path in (apps, infra):
        if path is not None:
            trees[path.name] = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                                      if p.is_file() and ".git" not in p.parts)
    result = lib.answer(build_planner(settings, config=config).router, question, registry_text=registry_text,
                        registry_data=data, trees=trees, artifacts={})
    click.echo(lib.render_reply(result, question))
    return 0
