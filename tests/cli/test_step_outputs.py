"""`playbook publish` hands the story branch and commit to the code-scanning job via $GITHUB_OUTPUT."""

from __future__ import annotations

from pathlib import Path

from playbook.cli.dev import write_step_outputs


def test_plain_values_are_written_and_a_value_with_a_newline_is_not(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=1\n")
    write_step_outputs(str(out), {"pull-head": "bmad/story-1-2-dns-pihole", "pull-sha": "a" * 40,
                                  "evil": "x\nsha=injected"})
    assert out.read_text() == f"earlier=1\npull-head=bmad/story-1-2-dns-pihole\npull-sha={'a' * 40}\n"


def test_without_github_output_nothing_is_written(tmp_path: Path) -> None:
    write_step_outputs(None, {"pull-head": "x"})
    assert list(tmp_path.iterdir()) == []
