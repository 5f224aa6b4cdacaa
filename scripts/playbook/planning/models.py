"""Model routing: alias -> provider + model, with the configured fallback chain.

Which providers exist, and how to build each, is a table of factories; adapters are
imported only when a route is actually used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from playbook import runsummary
from playbook.config import Config, ModelRoute
from playbook.errors import ModelUnavailableError, QuotaExhaustedError
from playbook.ports import ModelRequest, ModelResponse, TextModel
from playbook.settings import Settings

Factory = Callable[[ModelRoute], TextModel]


@dataclass(frozen=True)
class Routed:
    response: ModelResponse
    route: ModelRoute
    cost_usd: float
    skipped: tuple[str, ...]  # "alias: reason" for every route tried before this one


class ModelRouter:
    def __init__(self, config: Config, factories: Mapping[str, Factory], *, offline: bool = False) -> None:
        self.config = config
        self.factories = dict(factories)
        self.offline = offline
        self._models: dict[str, TextModel] = {}

    def chain(self, alias: str) -> list[ModelRoute]:
        if self.offline:
            return [self.config.route("offline")]
        return [r for r in self.config.chain(alias) if r.provider != "offline"] or [self.config.route(alias)]

    def _model(self, route: ModelRoute) -> TextModel:
        if route.alias not in self._models:
            factory = self.factories.get(route.provider)
            if factory is None:
                raise ModelUnavailableError(f"no adapter for provider {route.provider!r}",
                                            fix="use gemini, claude-cli or offline in playbook.yaml")
            self._models[route.alias] = factory(route)
        return self._models[route.alias]

    def generate(self, alias: str, request: ModelRequest) -> Routed:
        skipped: list[str] = []
        last: Exception | None = None
        for route in self.chain(alias):
            started = time.perf_counter()
            try:
                model = self._model(route)
                response = model.generate(replace(request, model=route.model))
            except (ModelUnavailableError, QuotaExhaustedError) as exc:
                skipped.append(f"{route.alias}: {exc.message}")
                last = exc
                continue
            price = self.config.price(response.model)
            cost = price.cost(response.usage.input_tokens, response.usage.output_tokens)
            runsummary.current().model_call(runsummary.ModelCall(
                request.skill, response.model, response.provider, response.usage.input_tokens,
                response.usage.output_tokens, round(cost, 6), time.perf_counter() - started))
            return Routed(response, route, round(cost, 6), tuple(skipped))
        tried = "\n".join(f"  - {s}" for s in skipped)
        fix = getattr(last, "fix", None) or "configure a provider for this route in playbook.yaml"
        error_type = QuotaExhaustedError if isinstance(last, QuotaExhaustedError) else ModelUnavailableError
        raise error_type(f"no model on the {alias!r} route could answer:\n{tried}", fix=fix)


def default_factories(settings: Settings, config: Config) -> dict[str, Factory]:
    """The real adapters, built lazily from settings."""

    def gemini(route: ModelRoute) -> TextModel:
        if not settings.gemini_api_key:
            raise ModelUnavailableError(
                "GEMINI_API_KEY is not set",
                fix="set GEMINI_API_KEY (GitHub: Settings → Secrets and variables → Actions), "
                "or run offline with PLAYBOOK_OFFLINE=1",
            )
        from playbook.adapters.gemini import GeminiModel

        return GeminiModel(
            settings.gemini_api_key,
            base_url=settings.gemini_base_url or None,
            timeout_seconds=config.limits.model_timeout_seconds,
            attempts=config.limits.model_attempts,
        )

    def claude(route: ModelRoute) -> TextModel:
        from playbook.adapters.claude_cli import ClaudeTextModel

        return ClaudeTextModel(settings)  # raises ModelUnavailableError when not installed / authenticated

    def offline(route: ModelRoute) -> TextModel:
        from playbook.adapters.offline import OfflineModel

        return OfflineModel()

    return {"gemini": gemini, "claude-cli": claude, "offline": offline}
