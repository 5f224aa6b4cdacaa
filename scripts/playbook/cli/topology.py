"""`playbook topology import|show|validate`: the registry of what runs where."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_FILE = Path("_bmad-output/topology.yaml")


@click.group("topology")
def topology() -> None:
    """Build, show and validate the topology registry (_bmad-output/topology.yaml)."""


@topology.command("import")
@click.option("--apps", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A homelab-apps checkout (compose stacks under stacks/).")
@click.option("--infra", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A homelab-infra checkout (Terraform Proxmox resources).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE, show_default=True,
              help="The registry to create or refresh (notes and tags in it are kept).")
@click.option("--apps-repo", default=None, help="owner/name recorded as the services' source (default: the dir name).")
@click.option("--infra-repo", default=None, help="owner/name recorded as the nodes' source (default: the dir name).")
@click.option("--node", "default_node", default=None,
              help="Node for stacks without a homelab.node label (a person's placement in the registry wins).")
def import_(apps: Path | None, infra: Path | None, out: Path, apps_repo: str | None, infra_repo: str | None,
            default_node: str | None) -> int:
    """Import compose stacks and Terraform Proxmox resources into the registry."""
    from playbook.topology.importer import import_to
    from playbook.topology.view import text

    result = import_to(out, apps=apps, infra=infra, apps_repo=apps_repo, infra_repo=infra_repo,
                       default_node=default_node)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(text(result.registry), nl=False)
    click.echo(f"{'wrote' if result.written else 'unchanged:'} {out}")
    return 0


@topology.command("show")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE,
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text", show_default=True)
def show(path: Path, as_json: bool, fmt: str) -> int:
    """Show the registry as text, JSON or a Mermaid graph (nodes → services → host names)."""
    from playbook.topology.registry import load
    from playbook.topology.view import render

    click.echo(render(load(path), "json" if as_json else fmt), nl=False)
    return 0


@topology.command("validate")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE,
              show_default=True)
def validate(path: Path) -> int:
    """Validate the registry against its schema (exit 3 with every problem when it is wrong)."""
    from playbook.topology.registry import load

    data = load(path)
    click.echo(f"{path}: valid (schema_version {data['schema_version']}, {len(data['nodes'])} node(s), "
               f"{len(data['services'])} service(s), {len(data['networks'])} network(s))")
    return 0
