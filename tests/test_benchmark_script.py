"""scripts/benchmark.py runs end to end against the loopback fakes and prints every row.

Only the shape and the facts are checked (call counts, SDKs kept out of ignored events), never
how long anything took.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

ROWS = [
    "`playbook event` `/approve` → PRD drafted: wall time",
    "… of which the fake Gemini spent serving the model request",
    "**`/approve` → PRD, excluding model time**",
    "SDK import floor",
    "**phase overhead ÷ import floor**",
    "like-for-like floor: the same imports in a process that treats the GC like `playbook`",
    "… phase overhead ÷ that floor (like for like)",
    "… of which the fake GitHub spent handling requests",
    "GitHub API calls: issue labeled → Product Brief",
    "GitHub API calls: `/revise`",
    "GitHub API calls: `/approve` → PRD drafted",
    "… of which writes",
    "GitHub API calls: `/status`",
    "`playbook --help`",
    "`playbook event` on an ignored event (plain comment)",
    "`python -c pass`",
    "GitHub API calls made by the ignored event",
    "ignored event: `github` in `sys.modules`",
    "ignored event: `google.genai` in `sys.modules`",
    "`python -c 'import github'`",
    "bare `import github` (`-X importtime` cumulative)",
    "`python -c 'from google import genai'`",
    "bare `from google import genai` (`-X importtime` cumulative)",
    "final `/approve` (Epics & Stories) at 1/10/50 stories",
    "merge (dispatch) at 1/10/50 stories",
    "`/status` at 0/1,000 comments",
    "`/approve` at 0/1,000 comments",
    "merge (dispatch) at 1/500 earlier requests",
    "daily reconcile at 1/500 earlier requests",
]


@pytest.fixture(scope="module")
def table() -> dict[str, tuple[str, str]]:
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), "--repeat", "1", "--warmup", "0",
         "--no-install"],
        capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, env=dict(os.environ), check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in {"#", "---"}:
            rows[cells[1]] = (cells[2], cells[3])
    return rows


def _row(table: dict[str, tuple[str, str]], start: str) -> tuple[str, str]:
    found = [cells for label, cells in table.items() if label.startswith(start)]
    assert len(found) == 1, f"no single row starting with {start!r} in {sorted(table)}"
    return found[0]


SIZE_CELL = re.compile(r"\d+ \(\d+\)( / \d+ \(\d+\))+")


@pytest.mark.slow
def test_every_row_is_printed_with_a_value(table):
    assert len(table) == len(ROWS)
    for label in ROWS:
        median, low = _row(table, label)
        if " at " in label:
            assert SIZE_CELL.fullmatch(median), (label, median)
        else:
            assert re.fullmatch(r"-?\d+(\.\d+)?( ms|×)?|yes|no", median), (label, median)
        assert median and low


@pytest.mark.slow
def test_step_costs_do_not_grow_with_size(table):
    def calls(label: str) -> list[int]:
        return [int(cell.split()[0]) for cell in _row(table, label)[0].split(" / ")]

    for flat in ("final `/approve` (Epics & Stories) at", "merge (dispatch) at 1/500 earlier"):
        assert len(set(calls(flat))) == 1, flat
    one, ten, fifty = calls("merge (dispatch) at 1/10/50 stories")
    assert ten - one == 9 and fifty - one == 49  # exactly one dispatch per story
    assert calls("GitHub API calls: `/approve` → PRD drafted")[0] == calls("`/approve` at 0/1,000 comments")[0]


def test_readme_table_has_every_row():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- benchmark:start -->", 1)[1].split("<!-- benchmark:end -->", 1)[0]
    assert "machine:" in block
    for label in ROWS:
        assert label in block, label


@pytest.mark.slow
def test_facts_the_benchmark_reports(table):
    calls = int(_row(table, "GitHub API calls: `/approve` → PRD drafted")[0])
    writes = int(_row(table, "… of which writes")[0])
    assert 0 < writes < calls
    assert _row(table, "GitHub API calls made by the ignored event") == ("0", "0")
    # ignored events must not import either SDK
    assert _row(table, "ignored event: `github` in `sys.modules`") == ("no", "no")
    assert _row(table, "ignored event: `google.genai` in `sys.modules`") == ("no", "no")
