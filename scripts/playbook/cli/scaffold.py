"""`playbook scaffold stack SERVICE`: write a compose stack that follows every pattern."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("scaffold")
def scaffold() -> None:
    """Write new IaC that follows every pattern."""


def _env_pair(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r} is not NAME=value", ctx=ctx, param=param)
        pairs[name] = text
    return pairs


@scaffold.command("stack")
@click.argument("service")
@click.option("--image", required=True, help="Image with a pinned tag, e.g. pihole/pihole:2026.07.2.")
@click.option("--port", type=int, required=True, help="Container port of the web UI Traefik routes to.")
@click.option("--extra-port", "extra_ports", multiple=True, help="Published non-HTTP port, e.g. 53:53/udp.")
@click.option("--metrics-port", type=int, default=None, help="Port serving /metrics for Prometheus.")
@click.option("--no-sso", "no_sso", is_flag=True, help="Skip Authentik forward-auth (app has its own login).")
@click.option("--volume", "volumes", multiple=True, help="Named volume, e.g. etc-pihole:/etc/pihole.")
@click.option("--env", "environment", multiple=True, callback=_env_pair, help="NAME=value for .env.sample.")
@click.option("--health-path", default="/", show_default=True, help="URL path the healthcheck probes.")
@click.option("--setting", "settings", multiple=True, callback=_env_pair,
              help="NAME=value written into the compose file as is (a recipe's fixed setting, e.g. "
                   "FTLCONF_dns_listeningMode=ALL); never a secret.")
@click.option("--host-var", "host_variables", multiple=True, callback=_env_pair,
              help="NAME=example for Compose only, e.g. DNS_BIND_ADDRESS=192.168.1.10 used in --extra-port "
                   "'${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}:53:53/udp'.")
@click.option("--image-healthcheck", default=None, metavar="REASON",
              help="Keep the image's own HEALTHCHECK instead of an HTTP probe; REASON is recorded.")
@click.option("--backup-pre", default=None, metavar="COMMAND",
              help="Consistent-dump command run in the container before Restic (label backup.restic.pre).")
@click.option("--exporter-image", default=None,
              help="Pinned image of a metrics exporter sidecar, for apps without /metrics, "
                   "e.g. ekofr/pihole-exporter:v1.2.0.")
@click.option("--exporter-port", type=int, default=None, help="Port the exporter serves /metrics on, e.g. 9617.")
@click.option("--exporter-env", "exporter_environment", multiple=True, callback=_env_pair,
              help="NAME=value for the exporter; secrets (e.g. PIHOLE_PASSWORD=) stay empty in .env.sample.")
@click.option("--exporter-healthcheck", is_flag=True,
              help="Probe the exporter's /metrics with curl/wget (only for images that ship a shell).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Repository root; the stack goes to DEST/stacks/SERVICE/.")
@click.option("--force", is_flag=True, help="Overwrite existing files that differ.")
def stack(service: str, image: str, port: int, extra_ports: tuple[str, ...], metrics_port: int | None,
          no_sso: bool, volumes: tuple[str, ...], environment: dict[str, str], health_path: str,
          settings: dict[str, str], host_variables: dict[str, str], image_healthcheck: str | None,
          backup_pre: str | None, exporter_image: str | None, exporter_port: int | None, exporter_environment: dict[str, str],
          exporter_healthcheck: bool, dest: Path, force: bool) -> int:
    """Write stacks/SERVICE/{docker-compose.yml,.env.sample,README.md}."""
    from playbook.delivery.scaffold import scaffold_stack

    exporter = None
    if exporter_image is not None or exporter_port is not None:
        if exporter_image is None or exporter_port is None:
            raise click.UsageError("--exporter-image and --exporter-port go together")
        exporter = {"image": exporter_image, "port": exporter_port, "environment": exporter_environment,
                    "healthcheck": exporter_healthcheck}
    elif exporter_environment or exporter_healthcheck:
        raise click.UsageError("--exporter-env and --exporter-healthcheck need --exporter-image and --exporter-port")
    written = scaffold_stack(dest, service, image=image, port=port, extra_ports=list(extra_ports),
                             metrics_port=metrics_port, sso=not no_sso, volumes=list(volumes),
                             environment=environment, health_path=health_path, exporter=exporter,
                             settings=settings, host_variables=host_variables,
                             image_healthcheck=image_healthcheck, backup_pre=backup_pre, overwrite=force)
    for path in written:
        click.echo(str(path))
    return 0
