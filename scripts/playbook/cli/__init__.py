"""The `playbook` command: parse, build dependencies, call one library function.

Subcommands live in small modules beside this one and are imported only when invoked, so
`playbook --help` and ignored events never import an SDK. The two invocations that must start in
milliseconds skip click altogether: `playbook --help` is rendered from ``COMMANDS`` (a test keeps it
identical to click's), and a bare `playbook event` — what every workflow runs — calls
``playbook.cli.event_run.run_event`` directly. Everything else goes through the click group in
``playbook.cli.group``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

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
    "steer-reply": ("playbook.cli.review", "steer_reply", "Answer a refused steer command once on the IaC PR."),
    "init-target": ("playbook.cli.target", "init_target", "Install the caller workflow and CLAUDE.md in a target repo."),
    "check": ("playbook.cli.check", "check", "Check a stack or infra change against the patterns."),
    "scaffold": ("playbook.cli.scaffold", "scaffold", "Write a stack that follows every pattern."),
    "topology": ("playbook.cli.topology", "topology", "Import, show and validate the topology registry."),
    "ops": ("playbook.cli.ops", "ops", "Answer an operator question from the registry and the repos (read-only)."),
    "drift": ("playbook.cli.drift", "drift", "Compare the registry with the repos (and Portainer) and report drift."),
}


def main(argv: list[str] | None = None) -> None:
    """The program (``argv`` None: the console script, ``python -m playbook``) or a caller's argv."""
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY", "")
    args = sys.argv[1:] if argv is None else argv
    if argv is None:
        _collect_old_objects_rarely()
    try:
        if args == ["event"] and _ignored_at_first_look(summary_path):
            sys.exit(0)
        if summary_path and args and args[0] in COMMANDS:
            _run_with_summary(args, summary_path)
        _run(args)
    finally:
        if argv is None:
            _skip_final_collection()


# CPython looks at the oldest generation after every 10 passes over the middle one. A run is short, and
# what is old in it is what it imported (the two SDKs alone leave ~100k tracked objects), so each such
# full collection walks all of that to find little garbage: 2 of them cost 80–130 ms of a planning step.
FULL_COLLECTION_EVERY = 100


def _collect_old_objects_rarely() -> None:
    """For the program only: young objects are collected as usual, the old generation ten times rarer."""
    import gc

    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def _skip_final_collection() -> None:
    """The process is about to end: spare it the interpreter's last garbage collection.

    With both SDKs loaded, finalisation spends 150–250 ms walking every object the cyclic GC tracks
    only to free memory the OS takes back anyway. ``gc.freeze()`` moves them out of its reach; exit
    still runs atexit handlers and flushes and closes the standard streams. Only for the program
    itself: a caller running ``main(argv)`` in its own process keeps its collector as it was.
    """
    import gc

    gc.freeze()


def _ignored_at_first_look(summary_path: str) -> bool:
    """A plain comment, decided by ``intake.triage`` alone: the log line and job summary the full path
    writes for it, without importing what the full path needs (settings, the command table, the SDKs)."""
    from playbook import runsummary
    from playbook.intake.triage import quick_ignore

    summary = runsummary.start("playbook event")
    with summary.stage("read and decide the event"):
        found = quick_ignore(os.environ)
    if found is None:
        return False
    name, reason = found
    summary.outcome = f"ignored {name} event: {reason}"
    # The reason is fixed words and a comment id: no untrusted text, no secret to neutralise or redact.
    print(f"playbook: {summary.outcome}", flush=True)
    summary.write(summary_path)
    return True


def _run(args: list[str]) -> None:
    if args == ["--help"]:
        sys.stdout.write(help_text())
        sys.exit(0)
    if args == ["event"]:
        from playbook.cli.event_run import run_event

        try:
            rv: Any = run_event()
        except PlaybookError as exc:
            _error(exc)
        sys.exit(rv)
    import click

    from playbook.cli.group import cli

    try:
        rv = cli.main(args=args, prog_name="playbook", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PlaybookError as exc:
        _error(exc)
    except SystemExit:
        raise
    else:
        # Commands return an int exit code (or None for success).
        sys.exit(rv if isinstance(rv, int) else 0)


def _error(exc: PlaybookError) -> None:
    # What click.secho(fg="red", err=True) prints: red on a terminal, plain text otherwise.
    text = f"error: {exc}"
    if sys.stderr.isatty():
        text = f"\x1b[31m{text}\x1b[0m"
    print(text, file=sys.stderr)
    sys.exit(exc.exit_code)


HELP_DOC = "homelab-playbook: plain-language homelab requests to reviewed IaC, through GitHub."


def help_text() -> str:
    """`playbook --help`, as click renders it at its default 80 columns, without importing click."""
    import textwrap

    doc = textwrap.fill(HELP_DOC, width=78, initial_indent="  ", subsequent_indent="  ")
    width = max(len(name) for name in COMMANDS)
    indent = " " * (2 + width + 2)
    rows = [textwrap.fill(short, width=78, initial_indent=f"  {name.ljust(width)}  ", subsequent_indent=indent)
            for name, (_, _, short) in COMMANDS.items()]
    return "\n".join([
        "Usage: playbook [OPTIONS] COMMAND [ARGS]...", "", doc, "", "Options:",
        "  --version  Show the version and exit.", "  --help     Show this message and exit.", "",
        "Commands:", *rows, "",
    ])


def __getattr__(name: str) -> Any:
    """``playbook.cli.cli`` (the click group) stays importable, built on first use."""
    if name == "cli":
        from playbook.cli.group import cli

        return cli
    raise AttributeError(name)


def _run_with_summary(args: list[str], path: str) -> None:
    """Inside GitHub Actions every run leaves a job summary, whatever happened."""
    from playbook import runsummary
    from playbook.settings import Settings

    summary = runsummary.start(f"playbook {args[0]}")
    code: int | str | None = 1
    error = ""
    try:
        _run(args)
    except SystemExit as exc:
        code = exc.code
        raise
    except BaseException as exc:  # an unexpected crash still leaves its summary
        error = f"{type(exc).__name__}"
        raise
    finally:
        if not summary.outcome:
            summary.outcome = f"crashed ({error})" if error else ("done" if code in (0, None) else f"exit code {code}")
        elif code not in (0, None):
            summary.outcome += f" (exit code {code})"
        summary.write(path, Settings.from_env(os.environ).secrets())
