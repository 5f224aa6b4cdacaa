"""Start-up stays cheap: `playbook --help` and a bare `playbook event` never import click, an SDK
or the handlers; what a planning step imports is only what it uses. Module lists, not timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

PROBE = """
import json, sys
from playbook.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _probe(args: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT), **(env or {})}, check=False,
    )
    out, _, tail = proc.stdout.rpartition("\n@@")
    data = json.loads(tail)
    return data["code"], data["modules"], out


def _heavy(modules: list[str]) -> set[str]:
    roots = {"click", "github", "google", "jinja2", "jsonschema", "yaml", "frontmatter", "requests", "urllib3",
             "playbook.intake.github_flow", "playbook.planning", "playbook.adapters"}
    return {m for m in modules for r in roots if m == r or m.startswith(r + ".")}


def test_help_is_rendered_without_click_and_matches_clicks_own():
    code, modules, out = _probe(["--help"])
    assert code == 0
    assert _heavy(modules) == set()
    from playbook.cli.group import cli

    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from playbook.cli.group import cli; cli.main(['--help'], prog_name='playbook')"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin"}, check=False,
    )
    assert proc.returncode == 0
    assert out + "\n" == proc.stdout or out == proc.stdout
    assert cli.name is not None


# Besides the above: what only a command, a dispatch or a phase needs (playbook.yaml and its schema
# check, payload validation, the SDKs' HTTP stacks, round-trip YAML).
IGNORED_NEVER = {"jsonschema", "referencing", "ruamel", "pydantic", "httpx", "httpx2", "jwt",
                 "playbook.config", "playbook.schemas", "playbook.delivery"}


def _under(modules: list[str], roots: set[str]) -> set[str]:
    return {m for m in modules for r in roots if m == r or m.startswith(r + ".")}


def test_an_ignored_comment_imports_no_click_sdk_yaml_or_handler(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "action": "created",
        "issue": {"number": 1, "title": "x", "body": "", "labels": [], "user": {"login": "a", "type": "User"}},
        "comment": {"id": 5, "body": "Looks good, thanks", "user": {"login": "owner", "type": "User"},
                    "created_at": "2026-01-01T00:00:00Z"},
        "repository": {"full_name": "o/r", "name": "r", "owner": {"login": "o"}, "default_branch": "main"},
        "sender": {"login": "owner", "type": "User"},
    }))
    code, modules, out = _probe(["event"], {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event),
                                            "GITHUB_REPOSITORY": "o/r"})
    assert code == 0
    assert "ignored issue_comment event" in out
    assert _heavy(modules) == set()
    assert _under(modules, IGNORED_NEVER) == set()
    # decided at first look (playbook.intake.triage): not even the settings, the command table or dataclasses
    assert {"json", "playbook.intake.triage", "playbook.intake.fields"} <= set(modules)
    assert _under(modules, FIRST_LOOK_NEVER) == set()


# What the first look at a plain comment does without: the full parse and decision, the settings object,
# the command table and the `dataclasses`/`inspect` import they bring (most of what the event cost).
FIRST_LOOK_NEVER = {"dataclasses", "inspect", "playbook.settings", "playbook.intake.events",
                    "playbook.intake.commands", "playbook.intake.authz", "playbook.cli.event_run"}


def _comment_event(tmp_path: Path, body: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "action": "created",
        "issue": {"number": 1, "title": "x", "body": "", "labels": [], "user": {"login": "a", "type": "User"}},
        "comment": {"id": 5, "body": body, "user": {"login": "owner", "type": "User"},
                    "created_at": "2026-01-01T00:00:00Z"},
        "repository": {"full_name": "o/r", "name": "r", "owner": {"login": "o"}, "default_branch": "main"},
        "sender": {"login": "owner", "type": "User"},
    }))
    return {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}


def test_an_ignored_comment_in_actions_writes_its_summary_from_the_first_look(tmp_path: Path):
    code, modules, out = _probe(["event"], _comment_event(tmp_path, "See https://docs.pi-hole.net/ and /etc/hosts"))
    assert code == 0
    assert out.strip() == "playbook: ignored issue_comment event: comment 5: not a command"
    assert _under(modules, FIRST_LOOK_NEVER | IGNORED_NEVER) == set() and _heavy(modules) == set()
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("### playbook event\n")
    assert "**Outcome:** ignored issue_comment event: comment 5: not a command" in summary
    assert "| GitHub API calls (writes) | 0 (0) |" in summary and "| read and decide the event |" in summary


def test_a_comment_whose_first_line_starts_with_a_slash_goes_the_full_way(tmp_path: Path):
    # `/nonsense` is not a command either, but only the command table can say so
    code, modules, out = _probe(["event"], _comment_event(tmp_path, "  /nonsense here"))
    assert code == 0
    assert out.strip() == "playbook: ignored issue_comment event: comment 5: not a command"
    assert {"playbook.intake.events", "playbook.intake.commands", "playbook.settings"} <= set(modules)
    assert "**Outcome:** ignored issue_comment event: comment 5: not a command" in (
        tmp_path / "summary.md").read_text(encoding="utf-8")


def test_other_commands_still_go_through_click():
    code, modules, out = _probe(["--version"])
    assert code == 0
    assert "playbook, version" in out
    assert "click" in modules


FROZEN_AT_EXIT = """
import atexit, gc, sys
default = gc.get_threshold()[2]
atexit.register(lambda: print("@@frozen", gc.get_freeze_count() > 0, "@@full-every",
                        "default" if gc.get_threshold()[2] == default else gc.get_threshold()[2]))
from playbook.cli import main
main({argv})
"""


@pytest.mark.parametrize(("argv", "frozen", "full_every"), [("None", True, "100"), ("['--help']", False, "default")])
def test_only_the_program_tunes_its_collector(argv: str, frozen: bool, full_every: str):
    """`playbook …` collects its old generation 10× rarer than CPython's default and freezes the GC before
    it exits (the last collection only frees what the OS takes back); a caller running main(argv) in its
    own process keeps its collector as it was."""
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", FROZEN_AT_EXIT.format(argv=argv), "--help"], capture_output=True, text=True,
        timeout=60, cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)}, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: playbook" in proc.stdout  # the command ran and printed everything before exiting
    assert proc.stdout.rstrip().endswith(f"@@frozen {frozen} @@full-every {full_every}")


def test_the_readme_lists_every_command_as_help_does():
    from playbook.cli import help_text

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- playbook-help:start -->\n", 1)[1].split("<!-- playbook-help:end -->", 1)[0]
    assert block == "```text\n" + help_text().rstrip("\n") + "\n```\n"
