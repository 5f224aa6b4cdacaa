"""`playbook check PATH`: report pattern violations; exit 1 when any is an error.

With `--diff-base BASE` it prints what will deploy instead: the normalised compose config of
every stack in BASE against PATH (two checkouts), as Markdown or, with --format json, JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--kind", type=click.Choice(["apps", "infra"]), default=None,
              help="What PATH holds; guessed from its layout when omitted.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
              show_default=True, help="github prints workflow annotations; sarif is SARIF 2.1.0 for code scanning.")
@click.option("--topology", "topology_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also check against this topology registry: ports, host names, VMIDs, addresses, containers.")
@click.option("--diff-base", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A checkout of the base branch: print what will deploy (PATH against it) instead of checking.")
@click.pass_context
def check(ctx: click.Context, path: Path, kind: str | None, fmt: str, topology_file: Path | None,
          diff_base: Path | None) -> int:
    """Check a stack or infra change against patterns/*.md (and the topology registry)."""
    if diff_base is not None:
        from playbook.checks.deploy_diff import compose_texts, deploy_diff, render_markdown

        if fmt not in ("text", "json"):
            raise click.UsageError("--diff-base prints Markdown (--format text) or JSON (--format json)")
        diff = deploy_diff(compose_texts(diff_base), compose_texts(path))
        click.echo(json.dumps(diff.as_json(), indent=2) if fmt == "json" else render_markdown(diff), nl=fmt == "json")
        ctx.exit(0)
        return 0
    from playbook.checks import check_path, format_findings, has_errors

    findings = check_path(path, kind)
    if topology_file is not None:
        from playbook.topology import collisions, registry

        findings += collisions.check_path(path, registry.load(topology_file), registry_file=str(topology_file))
    root = Path.cwd()
    click.echo(format_findings(findings, fmt, root=root), nl=False)
    code = 1 if has_errors(findings) else 0
    ctx.exit(code)
    return code
