"""The shipped patterns and the checker agree: named checks exist, and every rule has its document."""

from __future__ import annotations

from playbook.checks import RULES
from playbook.patterns import load_patterns, parse_pattern


def test_every_pattern_names_real_checks_that_point_back(repo_root):
    patterns = load_patterns(repo_root / "patterns")
    assert len(patterns) >= 9
    rules = RULES if isinstance(RULES, dict) else {r.id: r for r in RULES}
    for pattern in patterns:
        assert pattern.checks, f"{pattern.filename} names no machine check"
        for check in pattern.checks:
            assert check in rules, f"{pattern.filename}: unknown check {check!r}"
    names = {p.name for p in patterns} | {"README"}
    for rule in rules.values():  # every rule is explained by a shipped pattern (or the shared README)
        assert rule.pattern in names, f"{rule.id} points at missing patterns/{rule.pattern}.md"


def test_kind_filter_and_defaults():
    apps = parse_pattern("x.md", "---\ntitle: X\napplies_to: apps\nchecks: [a]\n---\n# X\n\nFirst line.\nsame para.\n\nNext.")
    assert (apps.title, apps.kinds, apps.checks, apps.summary) == ("X", ("apps",), ("a",), "First line. same para.")
    both = parse_pattern("y-z.md", "no header\n")
    assert both.kinds == ("infra", "apps") and both.title == "Y z" and both.name == "y-z"
