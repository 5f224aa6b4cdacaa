"""Gemini through google-genai: the only module that imports the SDK.

Retries on 408/429/5xx and on transport timeouts come from the SDK's own
``HttpRetryOptions`` (exponential backoff, bounded by ``attempts``); this module
only translates what is left afterwards into the playbook's error hierarchy:

    400 "API key not valid", 401, 403      -> ConfigError naming GEMINI_API_KEY (no retry)
    404 model not found                    -> ConfigError naming the model and playbook.yaml `models:`
    other 4xx                              -> ConfigError quoting Gemini's reason
    429 after the retries                  -> QuotaExhaustedError (fallback may help)
    5xx, timeout, unreachable after retries -> ModelUnavailableError (fallback may help)
    200 without usable text                -> ModelOutputError saying what happened
    200 stopped at MAX_TOKENS (any text)    -> ModelTruncatedError (the caller may retry with a larger budget)

The API key never appears in an error: messages quote only Gemini's code, status
and message, with the key redacted, and SDK exceptions are not chained.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

from playbook.errors import (
    ConfigError,
    MissingSecretError,
    ModelOutputError,
    ModelTruncatedError,
    ModelUnavailableError,
    PlaybookError,
    QuotaExhaustedError,
)
from playbook.ports import ModelRequest, ModelResponse, Usage

# Pinned rather than left to the SDK, which would otherwise honour GOOGLE_GEMINI_BASE_URL,
# GOOGLE_GENAI_API_VERSION and GOOGLE_GENAI_USE_VERTEXAI from the environment behind our back.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
API_VERSION = "v1beta"
RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)

# finishReason values meaning the answer was withheld, not merely cut short.
BLOCKING_FINISH_REASONS = frozenset({"SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"})

KEY_FIX = (
    "set GEMINI_API_KEY to a valid key from https://aistudio.google.com/apikey "
    "(in GitHub: Settings → Secrets and variables → Actions → repository secret GEMINI_API_KEY)"
)
_MAX_QUOTED = 400


# JSON Schema keywords Gemini's structured output understands; the rest is validated by us afterwards.
SCHEMA_KEYWORDS = frozenset({"type", "properties", "required", "items", "enum", "description", "minimum",
                             "maximum", "minItems", "maxItems", "format", "anyOf", "propertyOrdering"})


def model_facing_schema(schema: Any) -> Any:
    """A plain-JSON copy of ``schema`` keeping only ``SCHEMA_KEYWORDS`` (recursively)."""
    if isinstance(schema, Mapping):
        kept = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, Mapping):
                kept[key] = {name: model_facing_schema(sub) for name, sub in value.items()}
            elif key in SCHEMA_KEYWORDS:
                kept[key] = model_facing_schema(value)
        return kept
    if isinstance(schema, list | tuple):
        return [model_facing_schema(item) for item in schema]
    return schema


class GeminiModel:
    """``TextModel`` over the Gemini Developer API."""

    provider = "gemini"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_seconds: float = 180,
        attempts: int = 4,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        if not api_key:
            raise MissingSecretError("GEMINI_API_KEY")
        self._api_key = api_key
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout_seconds = timeout_seconds
        self.attempts = max(1, attempts)
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._client: Any = None

    def __repr__(self) -> str:  # never show the key
        return f"GeminiModel(base_url={self.base_url!r}, attempts={self.attempts})"

    def _sdk_client(self) -> Any:
        if self._client is None:
            from google import genai
            from google.genai import types

            retry = types.HttpRetryOptions(
                attempts=self.attempts,
                initial_delay=self.initial_delay,
                max_delay=self.max_delay,
                exp_base=2,
                # The SDK's default jitter is a fixed 1 s; scaling it with the first delay keeps
                # production at that default and lets short test delays stay short.
                jitter=min(1.0, self.initial_delay),
                http_status_codes=list(RETRY_STATUS_CODES),
            )
            self._client = genai.Client(
                api_key=self._api_key,
                vertexai=False,
                http_options=types.HttpOptions(
                    base_url=self.base_url,
                    api_version=API_VERSION,
                    timeout=max(1, round(self.timeout_seconds * 1000)),
                    retry_options=retry,
                    # `ssl` is the Live API's websocket option, which this adapter never opens: True
                    # (verify against the default trust store, when one is opened) spares the client
                    # building a second certifi context up front (~25 ms a run). HTTPS requests keep
                    # the SDK's own context; the async HTTP client drops the key.
                    async_client_args={"ssl": True},
                ),
            )
        return self._client

    def generate(self, request: ModelRequest) -> ModelResponse:
        from google.genai import errors, types

        client = self._sdk_client()
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            max_output_tokens=request.max_output_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if request.json_schema is not None:
            config.response_mime_type = "application/json"
            # Only the structural keywords Gemini documents for response schemas; the strict
            # validation (patterns, lengths, unknown keys) happens on our side after the answer.
            config.response_json_schema = model_facing_schema(request.json_schema)

        failure: PlaybookError | None = None
        try:
            response = client.models.generate_content(model=request.model, contents=request.prompt, config=config)
        except errors.APIError as exc:
            failure = self._api_failure(exc.code, exc.status, exc.message, exc.details, request.model)
        except _transport_errors() as exc:
            failure = self._transport_failure(exc)
        # Raised outside the except blocks so no SDK exception (and its request) is chained.
        if failure is not None:
            raise failure
        return self._response(response, request)

    # ----------------------------------------------------------------- errors

    def _redact(self, text: Any) -> str:
        text = str(text or "").replace(self._api_key, "***")
        return text if len(text) <= _MAX_QUOTED else text[:_MAX_QUOTED] + "…"

    def _api_failure(self, code: int, status: str | None, message: str | None, details: Any, model: str) -> PlaybookError:
        said = self._redact(f"{code} {status or ''}: {message or '(no message)'}".replace(" :", ":"))
        everything = f"{message or ''} {json.dumps(details, default=str) if details else ''}"
        if code in (401, 403) or (code == 400 and ("API_KEY" in everything or "api key" in everything.lower())):
            return ConfigError(f"Gemini rejected the API key ({said})", fix=KEY_FIX)
        if code == 404:
            return ConfigError(
                f"Gemini model {model!r} was not found ({said})",
                fix="use a model name Gemini serves (e.g. gemini-2.5-pro) under `models:` in playbook.yaml",
            )
        if code == 429:
            if "PerDay" in everything or "per day" in everything.lower() or "limit: 0" in everything:
                return QuotaExhaustedError(
                    f"Gemini quota exhausted for {model!r}: the daily quota is used up ({said})",
                    fix="the daily quota resets tomorrow (midnight Pacific time); until then a fallback model "
                    "in playbook.yaml `fallbacks:` can take over, or enable billing for the key's project",
                )
            return QuotaExhaustedError(
                f"Gemini quota exhausted for {model!r} after {self.attempts} attempts ({said})",
                fix="wait a minute and comment /retry, or let a fallback model in playbook.yaml `fallbacks:` take over",
            )
        if code >= 500 or code == 408:
            return ModelUnavailableError(
                f"Gemini is unavailable for {model!r} after {self.attempts} attempts ({said})",
                fix="comment /retry later; a fallback model in playbook.yaml `fallbacks:` may help meanwhile",
            )
        return ConfigError(
            f"Gemini rejected the request for {model!r} ({said})",
            fix="check the model and limits in playbook.yaml; the message above says what Gemini objected to",
        )

    def _transport_failure(self, exc: Exception) -> PlaybookError:
        if "Timeout" in type(exc).__name__:
            what = f"did not answer within {self.timeout_seconds:g} s"
        else:
            what = f"could not be reached at {self.base_url} ({type(exc).__name__})"
        return ModelUnavailableError(
            f"Gemini {what} after {self.attempts} attempts",
            fix="comment /retry (this is usually transient) or raise `limits.model_timeout_seconds` in playbook.yaml",
        )

    # ----------------------------------------------------------------- answers

    def _response(self, response: Any, request: ModelRequest) -> ModelResponse:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason:
            reason = _name(feedback.block_reason)
            detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            raise ModelOutputError(
                f"Gemini blocked the prompt ({reason}){detail}",
                fix="reword the issue or the /revise feedback that fed this prompt, then comment /retry",
            )
        if not response.candidates:
            raise ModelOutputError(
                "Gemini answered with no candidates", fix="comment /retry; if it keeps happening, reword the request"
            )
        candidate = response.candidates[0]
        finish = _name(candidate.finish_reason) if candidate.finish_reason else None
        if finish in BLOCKING_FINISH_REASONS:
            raise ModelOutputError(
                f"Gemini withheld the answer (finishReason {finish})",
                fix="reword the issue or the /revise feedback, then comment /retry",
            )
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text = "".join(part.text for part in parts if part.text and not part.thought)
        usage = _usage(response.usage_metadata)
        if finish == "MAX_TOKENS":
            # Cut short: partial text is a half-written document, never an answer.
            what = "without answering" if not text.strip() else f"after {len(text)} characters, mid-answer"
            raise ModelTruncatedError(
                f"Gemini's answer was cut off at the {request.max_output_tokens}-token output limit {what} "
                "(finishReason MAX_TOKENS)",
                budget=request.max_output_tokens,
                model=request.model,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                fix="comment /retry, or raise `limits.max_output_tokens` in playbook.yaml; nothing was committed",
            )
        if not text.strip():
            raise ModelOutputError(
                f"Gemini returned an empty answer (finishReason {finish or 'none'})",
                fix="comment /retry; if it keeps happening, reword the request",
            )
        if request.json_schema is not None:
            try:
                json.loads(text)
            except ValueError:
                raise ModelOutputError(
                    f"Gemini was asked for JSON but answered with text that does not parse (finishReason {finish})",
                    fix="comment /retry",
                ) from None
        return ModelResponse(text=text, provider=self.provider, model=request.model, usage=usage or Usage(),
                             finish_reason=finish, usage_known=usage is not None)


def _usage(meta: Any) -> Usage | None:
    """Tokens from ``usageMetadata``; None when Gemini sent none (shown as unknown, never as $0)."""
    if meta is None or (meta.prompt_token_count is None and meta.candidates_token_count is None):
        return None
    return Usage(input_tokens=meta.prompt_token_count or 0,
                 output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0))


def _name(value: Any) -> str:
    """Enum member or raw string (the SDK keeps unknown values as strings) -> its name."""
    return str(getattr(value, "name", value))


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP library's transport errors (timeouts, refused connections).

    The SDK runs on httpx or its fork httpx2, whichever is installed; both are
    looked up so the adapter does not depend on that choice.
    """
    found: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)
