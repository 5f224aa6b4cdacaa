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
    "… of which the fake GitHub spent handling requests",
    "GitHub API calls made by that `/approve` run",
    "… of which writes (POST/PATCH/PUT/DELETE)",
    "`playbook --help`",
    "`python -c pass`",
    "`python -c 'import github'`",
    "bare `import github` (above minus `python -c pass`)",
    "bare `import github` (`-X importtime` cumulative)",
    "`python -c 'from google import genai'`",
    "bare `from google import genai` (above minus `python -c pass`)",
    "bare `from google import genai` (`-X importtime` cumulative)",
    "`playbook event` on an ignored event (plain comment)",
    "GitHub API calls made by the ignored event",
    "ignored event: `github` in `sys.modules`",
    "ignored event: `google.genai` in `sys.modules`",
    "`playbook event` labeled issue → Product Brief, excluding model time",
    "GitHub API calls made by that labeled run",
]


@pytest.fixture(scope="module")
def table() -> dict[str, tuple[str, str]]:
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), "--repeat", "1", "--warmup", "0"],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=dict(os.environ), check=False,
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


@pytest.mark.slow
def test_every_row_is_printed_with_a_value(table):
    assert len(table) == len(ROWS)
    for label in ROWS:
        median, low = _row(table, label)
        assert re.fullmatch(r"-?\d+(\.\d+)?( ms)?|yes|no", median), (label, median)
        assert median and low


@pytest.mark.slow
def test_facts_the_benchmark_reports(table):
    calls = int(_row(table, "GitHub API calls made by that `/approve` run")[0])
    writes = int(_row(table, "… of which writes")[0])
    assert 0 < writes < calls
    assert _row(table, "GitHub API calls made by the ignored event") == ("0", "0")
    # ignored events must not import either SDK
    assert _row(table, "ignored event: `github` in `sys.modules`") == ("no", "no")
    assert _row(table, "ignored event: `google.genai` in `sys.modules`") == ("no", "no")
