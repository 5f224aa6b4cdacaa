"""playbook.yaml: model routes, fallbacks, prices, limits, target repositories.

Validated strictly: unknown keys, unknown aliases and missing prices are errors
that name the file and every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playbook.errors import ConfigError

CONFIG_FILE = "playbook.yaml"
PROVIDERS = ("gemini", "claude-cli", "offline")
TARGET_KINDS = ("infra", "apps")

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "models", "fallbacks", "prices", "limits", "targets", "dev"],
    "properties": {
        "schema_version": {"const": 1},
        "models": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["provider", "model"],
                "properties": {
                    "provider": {"enum": list(PROVIDERS)},
                    "model": {"type": "string", "minLength": 1},
                },
            },
        },
        "fallbacks": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "prices": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["input", "output"],
                "properties": {"input": {"type": "number", "minimum": 0}, "output": {"type": "number", "minimum": 0}},
            },
        },
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "context_tokens",
                "revise_feedback_chars",
                "request_chars",
                "model_timeout_seconds",
                "model_attempts",
            ],
            "properties": {
                "context_tokens": {"type": "integer", "minimum": 1000},
                "revise_feedback_chars": {"type": "integer", "minimum": 1},
                "request_chars": {"type": "integer", "minimum": 100},
                "model_timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                "model_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
                "max_output_tokens": {"type": "integer", "minimum": 1024, "maximum": 65536},
                "max_answer_chars": {"type": "integer", "minimum": 1000, "maximum": 900000},
            },
        },
        "targets": {
            "type": "object",
            "additionalProperties": False,
            "required": list(TARGET_KINDS),
            "properties": {
                kind: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["repo", "paths"],
                    "properties": {
                        "repo": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"},
                        "paths": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"^[a-z0-9_.-]+/$"}},
                    },
                }
                for kind in TARGET_KINDS
            },
        },
        "dev": {
            "type": "object",
            "additionalProperties": False,
            "required": ["max_turns", "timeout_seconds", "max_files", "max_file_bytes"],
            "properties": {
                "max_turns": {"type": "integer", "minimum": 1, "maximum": 200},
                "timeout_seconds": {"type": "integer", "minimum": 10},
                "max_files": {"type": "integer", "minimum": 1},
                "max_file_bytes": {"type": "integer", "minimum": 1},
            },
        },
    },
}


@dataclass(frozen=True)
class ModelRoute:
    alias: str
    provider: str
    model: str


@dataclass(frozen=True)
class Price:
    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class Limits:
    context_tokens: int
    revise_feedback_chars: int
    request_chars: int
    model_timeout_seconds: float
    model_attempts: int
    # Optional (older playbook.yaml files keep working): the output budget a truncated answer is
    # retried with, and the size above which an answer is refused rather than committed.
    max_output_tokens: int = 32768
    max_answer_chars: int = 400_000


@dataclass(frozen=True)
class Target:
    kind: str
    repo: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class DevLimits:
    max_turns: int
    timeout_seconds: int
    max_files: int
    max_file_bytes: int


@dataclass(frozen=True)
class Config:
    models: dict[str, ModelRoute]
    fallbacks: dict[str, tuple[str, ...]]
    prices: dict[str, Price]
    limits: Limits
    targets: dict[str, Target]
    dev: DevLimits
    path: Path | None = field(default=None, compare=False)

    def route(self, alias: str) -> ModelRoute:
        try:
            return self.models[alias]
        except KeyError:
            raise ConfigError(
                f"unknown model alias {alias!r}",
                fix=f"use one of {', '.join(sorted(self.models))} or add it under `models:` in {CONFIG_FILE}",
            ) from None

    def chain(self, alias: str) -> list[ModelRoute]:
        """The route and its fallbacks, in order, without repeats."""
        seen: list[str] = []
        queue = [alias]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.append(current)
            queue.extend(self.fallbacks.get(current, ()))
        return [self.route(a) for a in seen]

    def price(self, model: str) -> Price:
        return self.prices.get(model, Price(0.0, 0.0))

    def target(self, kind: str) -> Target:
        return self.targets[kind]


def parse_config(data: Any, *, source: str = CONFIG_FILE) -> Config:
    from playbook.schemas import schema_problems

    problems = schema_problems(_SCHEMA, data)
    if not problems:
        aliases = set(data["models"])
        for alias, chain in data["fallbacks"].items():
            if alias not in aliases:
                problems.append(f"fallbacks/{alias}: not a model alias")
            problems.extend(f"fallbacks/{alias}: unknown alias {a!r}" for a in chain if a not in aliases)
        for alias, route in data["models"].items():
            if route["model"] not in data["prices"]:
                problems.append(f"models/{alias}: no price for model {route['model']!r} under prices")
    if problems:
        raise ConfigError(
            f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems),
            fix=f"correct {source}; see the comments in the shipped {CONFIG_FILE}",
        )
    return Config(
        models={a: ModelRoute(a, r["provider"], r["model"]) for a, r in data["models"].items()},
        fallbacks={a: tuple(c) for a, c in data["fallbacks"].items()},
        prices={m: Price(float(p["input"]), float(p["output"])) for m, p in data["prices"].items()},
        limits=Limits(**data["limits"]),
        targets={k: Target(k, t["repo"], tuple(t["paths"])) for k, t in data["targets"].items()},
        dev=DevLimits(**data["dev"]),
    )


# The last file read: (path, text) -> its Config. A run reads playbook.yaml more than once (the event's
# /revise limit, then the handler's wiring); the same text is parsed and validated only the first time.
_LAST: dict[tuple[Path, str], Config] = {}


def load_config(root: str | Path) -> Config:
    path = Path(root) / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found", fix=f"run from the playbook repository root or set PLAYBOOK_DIR; it must hold {CONFIG_FILE}"
        ) from None
    cached = _LAST.get((path, text))
    if cached is None:
        cached = _parse_file(path, text)
        _LAST.clear()
        _LAST[path, text] = cached
    return cached


def _parse_file(path: Path, text: str) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", fix=f"correct the YAML syntax in {path}") from None
    config = parse_config(data, source=str(path))
    return Config(**{**config.__dict__, "path": path})
