"""The `playbook` command: parse, build dependencies, call one library function.

Subcommands live in small modules beside this one and are imported only when
invoked, so `playbook --help` and ignored events never import an SDK.
"""

from __future__ import annotations

import importlib
import sys

import click

from playbook import __version__
from playbook.errors import PlaybookError

# name -> (module, attribute, one-line help). Keep sorted by workflow order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "plan": ("playbook.cli.local", "plan", "Start a request locally: branch, then the Product Brief."),
    "approve": ("playbook.cli.local", "approve", "Approve the current phase and run the next one."),
    "revise": ("playbook.cli.local", "revise", "Regenerate the current phase with feedback."),
    "status": ("playbook.cli.local", "status", "Show the pipeline state of the current request."),
    "list": ("playbook.cli.local", "list_", "List every request in the repository, on any branch."),
    "doctor": ("playbook.cli.doctor", "doctor", "Check the GitHub setup and say exactly what to fix."),
    "demo": ("playbook.cli.demo", "demo", "Run the Pi-hole reference flow in a scratch repo."),
    "skills": ("playbook.cli.skills", "skills", "List and validate the BMAD skills."),
    "config": ("playbook.cli.config", "config", "Check playbook.yaml and show model routes."),
    "event": ("playbook.cli.event", "event", "Handle the GitHub Actions event of this run."),
    "receive": ("playbook.cli.dev", "receive", "Check a bmad-story against config and state before the dev run."),
    "dev": ("playbook.cli.dev", "dev", "Implement one story in a target repo with the Claude Code CLI."),
    "publish": ("playbook.cli.dev", "publish", "Open or update the IaC pull request for a dev run."),
    "review": ("playbook.cli.review", "review", "Review a story branch read-only with the code-review skill."),
    "post-review": ("playbook.cli.review", "post_review", "Post the code review on the IaC PR as a COMMENT."),
    "steer": ("playbook.cli.review", "steer", "Decide a /revise, /retry or /review on an IaC pull request."),
    "init-target": ("playbook.cli.target", "init_target", "Install the caller workflow and CLAUDE.md in a target repo."),
    "check": ("playbook.cli.check", "check", "Check a stack or infra change against the patterns."),
    "scaffold": ("playbook.cli.scaffold", "scaffold", "Write a stack that follows every pattern."),
    "topology": ("playbook.cli.topology", "topology", "Import, show and validate the topology registry."),
    "ops": ("playbook.cli.ops", "ops", "Answer an operator question from the registry and the repos (read-only)."),
    "drift": ("playbook.cli.drift", "drift", "Compare the registry with the repos (and Portainer) and report drift."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table so listing commands imports nothing.
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="playbook")
def cli() -> None:
    """homelab-playbook: plain-language homelab requests to reviewed IaC, through GitHub."""


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="playbook", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PlaybookError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    else:
        # Commands return an int exit code (or None for success).
        sys.exit(rv if isinstance(rv, int) else 0)
