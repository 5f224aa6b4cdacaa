"""`playbook check PATH`: report pattern violations; exit 1 when any is an error."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--kind", type=click.Choice(["apps", "infra"]), default=None,
              help="What PATH holds; guessed from its layout when omitted.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
              show_default=True, help="github prints workflow annotations; sarif is SARIF 2.1.0 for code scanning.")
@click.pass_context
def check(ctx: click.Context, path: Path, kind: str | None, fmt: str) -> int:
    """Check a stack or infra change against patterns/*.md."""
    from playbook.checks import check_path, format_findings, has_errors

    findings = check_path(path, kind)
    root = Path.cwd()
    click.echo(format_findings(findings, fmt, root=root), nl=False)
    code = 1 if has_errors(findings) else 0
    ctx.exit(code)
    return code
