"""GeminiModel through the real google-genai client against the loopback fake."""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from fakes import gemini_api
from fakes.gemini_api import FakeGemini
from playbook.adapters.gemini import GeminiModel
from playbook.errors import (
    ConfigError,
    MissingSecretError,
    ModelOutputError,
    ModelTruncatedError,
    ModelUnavailableError,
    PlaybookError,
    QuotaExhaustedError,
)
from playbook.ports import ModelRequest, TextModel, Usage

# Also registered suite-wide once conftest lists the fakes as plugins; naming it here keeps this module standalone.
fake_gemini = gemini_api.fake_gemini

CANARY = "canary-gemini-key-7f3a9c0d2e"
ATTEMPTS = 3
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


def make_model(fake: FakeGemini, **overrides: object) -> GeminiModel:
    options: dict[str, object] = {
        "base_url": fake.url, "timeout_seconds": 10, "attempts": ATTEMPTS, "initial_delay": 0.001, "max_delay": 0.005,
    }
    options.update(overrides)
    return GeminiModel(CANARY, **options)  # type: ignore[arg-type]


def make_request(**overrides: object) -> ModelRequest:
    fields: dict[str, object] = {"prompt": "Plan Pi-hole behind Traefik.", "model": "gemini-2.5-flash", "skill": "brief"}
    fields.update(overrides)
    return ModelRequest(**fields)  # type: ignore[arg-type]


def test_success_records_usage_and_model_path(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text("# Product Brief", input_tokens=123, output_tokens=45, thoughts_tokens=7)
    model = make_model(fake_gemini)

    response = model.generate(make_request())

    assert isinstance(model, TextModel)
    assert response.text == "# Product Brief"
    assert (response.provider, response.model, response.finish_reason) == ("gemini", "gemini-2.5-flash", "STOP")
    assert response.usage == Usage(input_tokens=123, output_tokens=52)
    [sent] = fake_gemini.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == CANARY
    assert sent.prompt == "Plan Pi-hole behind Traefik."


def test_system_instruction_and_json_mode_reach_the_body(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text('{"title": "Pi-hole"}')
    model = make_model(fake_gemini)

    response = model.generate(make_request(system="You are Mary, the analyst.", json_schema=SCHEMA, max_output_tokens=999))

    assert json.loads(response.text) == {"title": "Pi-hole"}
    body = fake_gemini.requests[0].json
    assert fake_gemini.requests[0].system == "You are Mary, the analyst."
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["responseJsonSchema"] == SCHEMA
    assert body["generationConfig"]["maxOutputTokens"] == 999


def test_plain_text_request_asks_for_no_json(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text("plain")
    make_model(fake_gemini).generate(make_request())

    config = fake_gemini.requests[0].json.get("generationConfig", {})
    assert "responseMimeType" not in config and "responseJsonSchema" not in config
    assert "systemInstruction" not in fake_gemini.requests[0].json


def test_429_then_success_is_retried_by_the_sdk(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    fake_gemini.enqueue_text("second time lucky")

    response = make_model(fake_gemini).generate(make_request())

    assert response.text == "second time lucky"
    assert len(fake_gemini.requests) == 2


def test_persistent_429_is_quota_exhausted_after_exactly_attempts(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", times=ATTEMPTS + 2)

    with pytest.raises(QuotaExhaustedError, match="quota exhausted") as caught:
        make_model(fake_gemini).generate(make_request())

    assert len(fake_gemini.requests) == ATTEMPTS
    assert "fallbacks" in str(caught.value)
    assert "tomorrow" not in str(caught.value)


def test_daily_quota_says_it_resets_tomorrow(fake_gemini: FakeGemini) -> None:
    message = (
        "You exceeded your current quota. Quota exceeded for metric: "
        "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro"
    )
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]
    fake_gemini.enqueue_error(429, "RESOURCE_EXHAUSTED", message, details=details, times=ATTEMPTS)

    with pytest.raises(QuotaExhaustedError) as caught:
        make_model(fake_gemini).generate(make_request(model="gemini-2.5-pro"))

    assert "resets tomorrow" in str(caught.value)
    assert "fallback" in str(caught.value)
    assert len(fake_gemini.requests) == ATTEMPTS


def test_invalid_key_is_a_config_error_naming_the_variable_without_retry(fake_gemini: FakeGemini) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com"}]
    fake_gemini.enqueue_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                              details=details, times=3)

    with pytest.raises(ConfigError, match="GEMINI_API_KEY") as caught:
        make_model(fake_gemini).generate(make_request())

    assert len(fake_gemini.requests) == 1
    assert "Secrets and variables" in str(caught.value)


@pytest.mark.parametrize(("code", "status"), [(401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")])
def test_401_and_403_name_the_key_without_retry(fake_gemini: FakeGemini, code: int, status: str) -> None:
    fake_gemini.enqueue_error(code, status, "Method doesn't allow unregistered callers.", times=3)

    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        make_model(fake_gemini).generate(make_request())

    assert len(fake_gemini.requests) == 1


def test_unknown_model_names_the_model_and_playbook_yaml(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_error(404, "NOT_FOUND", "models/gemini-9-ultra is not found for API version v1beta.", times=3)

    with pytest.raises(ConfigError) as caught:
        make_model(fake_gemini).generate(make_request(model="gemini-9-ultra"))

    text = str(caught.value)
    assert "'gemini-9-ultra'" in text and "playbook.yaml" in text and "models:" in text
    assert "GEMINI_API_KEY" not in text
    assert len(fake_gemini.requests) == 1


def test_other_400_quotes_gemini_and_does_not_blame_the_key(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_error(400, "INVALID_ARGUMENT", "max_output_tokens must be positive", times=3)

    with pytest.raises(ConfigError) as caught:
        make_model(fake_gemini).generate(make_request())

    assert "max_output_tokens must be positive" in str(caught.value)
    assert "GEMINI_API_KEY" not in str(caught.value)
    assert len(fake_gemini.requests) == 1


@pytest.mark.parametrize(("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")])
def test_persistent_5xx_is_unavailable_after_bounded_retries(fake_gemini: FakeGemini, code: int, status: str) -> None:
    fake_gemini.enqueue_error(code, status, "The model is overloaded. Please try again later.", times=ATTEMPTS + 2)

    with pytest.raises(ModelUnavailableError, match="unavailable") as caught:
        make_model(fake_gemini).generate(make_request())

    assert len(fake_gemini.requests) == ATTEMPTS
    assert "fallback" in str(caught.value)


def test_client_timeout_is_unavailable(fake_gemini: FakeGemini) -> None:
    for _ in range(2):
        fake_gemini.enqueue_text("too late", delay=5)

    with pytest.raises(ModelUnavailableError, match="did not answer within"):
        make_model(fake_gemini, timeout_seconds=0.2, attempts=2).generate(make_request())

    assert len(fake_gemini.requests) == 2  # the SDK retries a timeout too, then gives up


def test_unreachable_endpoint_is_unavailable() -> None:
    with FakeGemini() as fake:
        url = fake.url
    model = GeminiModel(CANARY, base_url=url, attempts=1, timeout_seconds=5)

    with pytest.raises(ModelUnavailableError, match="could not be reached"):
        model.generate(make_request())


def test_empty_candidates_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_empty()

    with pytest.raises(ModelOutputError, match="no candidates"):
        make_model(fake_gemini).generate(make_request())
    assert len(fake_gemini.requests) == 1


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT"])
def test_withheld_answer_is_an_output_error(fake_gemini: FakeGemini, reason: str) -> None:
    fake_gemini.enqueue_blocked(reason)

    with pytest.raises(ModelOutputError, match=f"withheld the answer \\(finishReason {reason}\\)"):
        make_model(fake_gemini).generate(make_request())


def test_blocked_prompt_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_blocked("PROHIBITED_CONTENT", prompt=True)

    with pytest.raises(ModelOutputError, match="blocked the prompt \\(PROHIBITED_CONTENT\\)"):
        make_model(fake_gemini).generate(make_request())


def test_empty_text_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text("  \n")

    with pytest.raises(ModelOutputError, match="empty answer"):
        make_model(fake_gemini).generate(make_request())


def test_thinking_that_used_every_token_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "MAX_TOKENS"}],
                              "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 512}})

    with pytest.raises(ModelOutputError, match="without answering") as caught:
        make_model(fake_gemini).generate(make_request(max_output_tokens=512))
    assert "max_output_tokens" in str(caught.value)


def test_truncated_json_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text('{"title": "Pi-h', finish_reason="MAX_TOKENS")

    with pytest.raises(ModelOutputError, match="cut off"):
        make_model(fake_gemini).generate(make_request(json_schema=SCHEMA))


def test_truncated_plain_text_is_refused_not_an_answer(fake_gemini: FakeGemini) -> None:
    """A document that stopped at the output budget is half-written: never handed on to be committed."""
    fake_gemini.enqueue_text("# Brief\n\nThe first half", finish_reason="MAX_TOKENS", input_tokens=50,
                             output_tokens=8192)

    with pytest.raises(ModelTruncatedError, match="cut off at the 8192-token output limit") as info:
        make_model(fake_gemini).generate(make_request())

    assert (info.value.budget, info.value.input_tokens, info.value.output_tokens) == (8192, 50, 8192)
    assert "limits.max_output_tokens" in str(info.value) and "/retry" in str(info.value)


def test_missing_usage_metadata_is_reported_as_unknown(fake_gemini: FakeGemini) -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "# Brief"}]}, "finishReason": "STOP",
                            "index": 0}]}
    fake_gemini.enqueue(200, body)

    response = make_model(fake_gemini).generate(make_request())

    assert response.text == "# Brief" and response.usage_known is False


def test_unparseable_json_is_an_output_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_text("Sure! Here is the JSON you asked for:")

    with pytest.raises(ModelOutputError, match="does not parse"):
        make_model(fake_gemini).generate(make_request(json_schema=SCHEMA))


def test_responder_answers_when_the_script_is_empty(fake_gemini: FakeGemini) -> None:
    fake_gemini.responder = lambda body: "echo: " + body["contents"][0]["parts"][0]["text"]

    response = make_model(fake_gemini).generate(make_request(prompt="ping"))

    assert response.text == "echo: ping"


def test_missing_key_fails_before_any_request() -> None:
    with pytest.raises(MissingSecretError, match="GEMINI_API_KEY"):
        GeminiModel("")


def _all_text(error: BaseException) -> str:
    pieces = ["".join(traceback.format_exception(error)), repr(error)]
    seen: BaseException | None = error
    while seen is not None:
        pieces += [str(seen), repr(seen), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(pieces)


def test_canary_key_never_appears_in_errors_or_logs(fake_gemini: FakeGemini, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    model = make_model(fake_gemini)
    # An endpoint (a proxy, say) that echoes the key back must not get it into our messages.
    fake_gemini.enqueue_error(400, "INVALID_ARGUMENT", f"API key not valid: {CANARY}")
    fake_gemini.enqueue_error(403, "PERMISSION_DENIED", f"key {CANARY} is not allowed")
    fake_gemini.enqueue_error(404, "NOT_FOUND", f"model not found for key={CANARY}")
    fake_gemini.enqueue_error(429, "RESOURCE_EXHAUSTED", "quota", times=ATTEMPTS)
    fake_gemini.enqueue_error(503, "UNAVAILABLE", "overloaded", times=ATTEMPTS)
    fake_gemini.enqueue_empty()
    fake_gemini.enqueue_blocked()

    failures: list[PlaybookError] = []
    for _ in range(7):
        with pytest.raises(PlaybookError) as caught:
            model.generate(make_request())
        failures.append(caught.value)

    assert [type(f) for f in failures] == [ConfigError, ConfigError, ConfigError, QuotaExhaustedError,
                                           ModelUnavailableError, ModelOutputError, ModelOutputError]
    assert all(request.headers["x-goog-api-key"] == CANARY for request in fake_gemini.requests)
    assert "***" in str(failures[0])  # the echoed key was there, and was redacted
    for failure in failures:
        assert CANARY not in _all_text(failure)
    assert CANARY not in repr(model)
    assert CANARY not in caplog.text


def test_json_mode_sends_only_structural_schema_keywords(fake_gemini):
    """Gemini gets the plan's shape; patterns, lengths and additionalProperties are checked by us afterwards."""
    from playbook.planning.stories import PLAN_SCHEMA

    fake_gemini.enqueue_text('{"summary": "s", "epics": [], "open_questions": []}')
    model = GeminiModel("test-key", base_url=fake_gemini.url, attempts=1)
    model.generate(ModelRequest(prompt="plan", model="gemini-2.5-pro", skill="create-epics-and-stories",
                                json_schema=PLAN_SCHEMA))
    sent = fake_gemini.requests[-1].json["generationConfig"]["responseJsonSchema"]
    text = json.dumps(sent)
    assert "additionalProperties" not in text and "pattern" not in text and "minLength" not in text
    story = sent["properties"]["epics"]["items"]["properties"]["stories"]["items"]
    assert story["properties"]["target"]["enum"] == ["infra", "apps", "both", "auto"]
    assert "acceptance_criteria" in story["required"]


def test_a_run_loads_one_trust_store_and_still_verifies(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK would build a second certifi context for the Live API's websocket, which the adapter never
    opens; the HTTPS client keeps the SDK's own verifying context."""
    import ssl

    loaded: list[ssl.SSLContext] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loaded.append(self)
        load(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    fake_gemini.enqueue_text("# Product Brief")
    model = make_model(fake_gemini)
    assert model.generate(make_request()).text == "# Product Brief"
    [context] = loaded
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
