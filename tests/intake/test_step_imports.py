"""What a planning step imports, read from `-X importtime` of a real `playbook event` process against the
loopback fakes: the modules it uses are there, the ones it does not use are not (module lists, never
timings). The in-process harness cannot tell: the test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from conftest import REPO_ROOT
from flow_harness import BOT, PIHOLE, REPO, Harness

# An /approve that drafts the PRD on Gemini uses both SDKs, the templates, the schemas and YAML ...
USED = {"github", "google.genai", "jinja2", "jsonschema", "yaml", "frontmatter"}
# ... and none of: click (the event path has no CLI parsing), round-trip YAML (only a written
# sprint-status.yaml needs it), the Claude Code adapter (the route is Gemini), the checks, the
# topology, the demo, the linters, the local git planner's CLI, HCL parsing.
UNUSED = {"click", "ruamel", "playbook.adapters.claude_cli", "playbook.checks", "playbook.topology",
          "playbook.demo", "playbook.cli.group", "playbook.planning.sprint_status", "yamllint", "hcl2",
          "lark"}


def _imported(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            cols = line[len("import time:"):].split("|")
            if len(cols) == 3 and cols[1].strip().isdigit():
                names.add(cols[2].strip())
    return names


def _under(modules: set[str], roots: set[str]) -> set[str]:
    return {m for m in modules for r in roots if m == r or m.startswith(r + ".")}


def _in_a_process(h: Harness, imported: list[set[str]]) -> None:
    """From now on each event of ``h`` runs as `python -X importtime -m playbook event`."""

    def run(name: str, payload: dict[str, Any], **env: str) -> int:
        h.events += 1
        path = h.tmp / f"event-{h.events}.json"
        path.write_text(json.dumps(payload))
        values = {**h.env, **env, "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path),
                  "PLAYBOOK_BOT_LOGIN": BOT, "PATH": "/usr/bin:/bin", "HOME": str(h.tmp),
                  "NO_PROXY": "127.0.0.1,localhost"}
        proc = subprocess.run(  # noqa: S603 - argv list
            [sys.executable, "-X", "importtime", "-m", "playbook", "event"], capture_output=True, text=True,
            timeout=120, cwd=REPO_ROOT, env={k: v for k, v in values.items() if v is not None}, check=False,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        imported.append(_imported(proc.stderr))
        return proc.returncode

    h.run = run  # type: ignore[method-assign]


def test_a_planning_step_imports_what_it_uses_and_nothing_else(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "Hostname pihole.home.example.", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    imported: list[set[str]] = []
    _in_a_process(h, imported)
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0
    [modules] = imported
    assert any(path.endswith("/prd.md") for b in h.github.repos[REPO].refs if b.startswith("bmad/")
               for path in h.github.files_at(REPO, b))  # the step really drafted the PRD
    assert _under(modules, USED) >= USED
    assert _under(modules, UNUSED) == set()
