"""Model routing and the fallback chain, with small in-process models."""

from __future__ import annotations

import pytest

from playbook.config import load_config
from playbook.errors import ConfigError, ModelUnavailableError, QuotaExhaustedError
from playbook.planning.models import ModelRouter
from playbook.ports import ModelRequest, ModelResponse, Usage


class ScriptedModel:
    def __init__(self, provider, outcomes):
        self.provider = provider
        self.outcomes = list(outcomes)
        self.history: list[ModelRequest] = []

    def generate(self, request):
        self.history.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return ModelResponse(outcome, self.provider, request.model, Usage(1_000_000, 1_000_000))


@pytest.fixture
def config(repo_root):
    return load_config(repo_root)


def _router(config, models, offline=False):
    return ModelRouter(config, {p: (lambda route, m=m: m) for p, m in models.items()}, offline=offline)


def test_quota_on_pro_falls_back_to_flash_and_prices_flash(config):
    gemini = ScriptedModel("gemini", [QuotaExhaustedError("quota exhausted"), "ok"])
    routed = _router(config, {"gemini": gemini}).generate("gemini-pro", ModelRequest("p", "", "create-prd"))
    assert [r.model for r in gemini.history] == ["gemini-2.5-pro", "gemini-2.5-flash"]
    assert routed.route.alias == "gemini-flash"
    assert routed.cost_usd == pytest.approx(0.30 + 2.50)
    assert routed.skipped and "gemini-pro" in routed.skipped[0]


def test_unavailable_claude_follows_the_chain_to_gemini(config):
    claude = ScriptedModel("claude-cli", [ModelUnavailableError("claude not installed")] * 2)
    gemini = ScriptedModel("gemini", ["architecture"])
    routed = _router(config, {"claude-cli": claude, "gemini": gemini}).generate(
        "claude-opus", ModelRequest("p", "", "create-architecture"))
    assert routed.route.alias == "gemini-pro"
    assert len(routed.skipped) == 2


def test_exhausted_chain_names_every_route(config):
    gemini = ScriptedModel("gemini", [QuotaExhaustedError("quota"), QuotaExhaustedError("quota")])
    with pytest.raises(QuotaExhaustedError) as exc:
        _router(config, {"gemini": gemini}).generate("gemini-pro", ModelRequest("p", "", "create-prd"))
    assert "gemini-pro" in str(exc.value) and "gemini-flash" in str(exc.value)


def test_config_errors_are_not_swallowed_by_the_fallback(config):
    gemini = ScriptedModel("gemini", [ConfigError("bad key")])
    with pytest.raises(ConfigError):
        _router(config, {"gemini": gemini}).generate("gemini-pro", ModelRequest("p", "", "create-prd"))
    assert len(gemini.history) == 1


def test_offline_mode_uses_only_the_offline_route(config):
    offline = ScriptedModel("offline", ["doc"])
    routed = _router(config, {"offline": offline}, offline=True).generate("claude-opus", ModelRequest("p", "", "x"))
    assert routed.route.alias == "offline" and routed.cost_usd == 0
