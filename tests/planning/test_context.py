"""Context assembly under a token budget."""

from __future__ import annotations

from playbook.planning.context import Piece, fit


def test_required_pieces_always_fit_and_optional_ones_fill_in_order():
    pieces = [
        Piece("request", "r" * 400, required=True),
        Piece("prd", "p" * 4000),
        Piece("brief", "b" * 4000),
        Piece("patterns", "x" * 40000),
    ]
    fitted = fit(pieces, budget_tokens=3000)  # 12,000 characters
    assert fitted.texts["request"] == "r" * 400
    assert fitted.texts["prd"] == "p" * 4000
    assert fitted.texts["brief"] == "b" * 4000
    assert fitted.texts["patterns"].startswith("x") and "trimmed" in fitted.texts["patterns"]
    assert fitted.trimmed == ("patterns",)
    assert sum(len(t) for t in fitted.texts.values()) <= 12000 + 100


def test_low_priority_pieces_are_dropped_when_nothing_is_left():
    fitted = fit([Piece("request", "r" * 8000, required=True), Piece("topology", "t" * 500)], budget_tokens=2000)
    assert fitted.texts["topology"] == ""
    assert fitted.dropped == ("topology",)
