"""`playbook check PATH`: report pattern violations; exit 1 when any is an error."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--kind", type=click.Choice(["apps", "infra"]), default=None,
              help="What PATH holds; guessed from its layout when omitted.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="github prints workflow annotations.")
@click.option("--topology", "topology_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also check against this topology registry: ports, host names, VMIDs, addresses, containers.")
@click.pass_context
def check(ctx: click.Context, path: Path, kind: str | None, fmt: str, topology_file: Path | None) -> int:
    """Check a stack or infra change against patterns/*.md (and the topology registry)."""
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
