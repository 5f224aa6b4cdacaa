"""The phase and command tables."""

from __future__ import annotations

import pytest

from playbook.planning.phases import ORDER, PHASES, Phase, Stage, command_outcome, next_phase


def test_order_and_next_phase():
    assert ORDER == (Phase.BRIEF, Phase.PRD, Phase.ARCHITECTURE, Phase.STORIES)
    assert [next_phase(p) for p in ORDER] == [Phase.PRD, Phase.ARCHITECTURE, Phase.STORIES, None]
    assert [s.label for s in PHASES] == ["bmad:brief", "bmad:prd", "bmad:architecture", "bmad:stories"]


@pytest.mark.parametrize(
    ("command", "stage", "outcome"),
    [
        ("approve", Stage.AWAITING_APPROVAL, "approve"),
        ("approve", Stage.NEW, "refuse"),
        ("approve", Stage.COMPLETE, "refuse"),
        ("approve", Stage.CANCELLED, "refuse"),
        ("revise", Stage.AWAITING_APPROVAL, "regenerate"),
        ("revise", Stage.COMPLETE, "refuse"),
        ("revise", Stage.CANCELLED, "refuse"),
        ("retry", Stage.NEW, "generate"),
        ("retry", Stage.AWAITING_APPROVAL, "noop-retry"),
        ("cancel", Stage.AWAITING_APPROVAL, "cancel"),
        ("cancel", Stage.COMPLETE, "refuse"),
        ("route", Stage.COMPLETE, "route"),
        ("route", Stage.AWAITING_APPROVAL, "refuse"),
        ("dispatch", Stage.COMPLETE, "dispatch"),
        ("status", Stage.CANCELLED, "info"),
        ("help", Stage.NEW, "info"),
        ("cost", Stage.COMPLETE, "info"),
    ],
)
def test_command_table(command, stage, outcome):
    assert command_outcome(command, stage) == outcome
