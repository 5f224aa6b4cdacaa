"""A loopback stand-in for the Gemini Developer API's ``generateContent``.

A real HTTP server on 127.0.0.1 so the real google-genai client (retries,
timeouts, error parsing) is what gets tested. Answers are scripted with
``enqueue*``; when the script runs out, ``responder(request_json) -> text``
answers if set (end-to-end tests plug the offline planner in there), else 500.
Every request is recorded in ``requests``, including ones the client gave up on.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/models/(?P<model>[^/:]+):(?P<action>generateContent)$")


@dataclass(frozen=True)
class Scripted:
    status: int
    body: dict[str, Any]
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    api_version: str
    model: str
    headers: dict[str, str]  # lower-case names
    json: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return prompt_text(self.json)

    @property
    def system(self) -> str:
        parts = (self.json.get("systemInstruction") or {}).get("parts") or []
        return "".join(part.get("text", "") for part in parts)


def prompt_text(request_json: dict[str, Any]) -> str:
    """The user text of a generateContent body (all parts of all user turns)."""
    return "".join(
        part.get("text", "")
        for content in request_json.get("contents") or []
        if content.get("role", "user") == "user"
        for part in content.get("parts") or []
    )


def text_response(text: str, *, input_tokens: int = 10, output_tokens: int = 20, thoughts_tokens: int = 0,
                  finish_reason: str = "STOP") -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": input_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": input_tokens + output_tokens + thoughts_tokens,
    }
    if thoughts_tokens:
        usage["thoughtsTokenCount"] = thoughts_tokens
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish_reason, "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": "fake-gemini",
        "responseId": "fake-response",
    }


def error_body(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


class FakeGemini:
    def __init__(self, responder: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # Idle keep-alive connections from the SDK's pool must not hold close() up.
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-gemini", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------- scripting

    def enqueue(self, status: int = 200, json: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        with self._lock:
            self._script.append(Scripted(status, json if json is not None else {}, delay))

    def enqueue_text(self, text: str, *, input_tokens: int = 10, output_tokens: int = 20, thoughts_tokens: int = 0,
                     finish_reason: str = "STOP", delay: float = 0.0) -> None:
        body = text_response(text, input_tokens=input_tokens, output_tokens=output_tokens,
                             thoughts_tokens=thoughts_tokens, finish_reason=finish_reason)
        self.enqueue(200, body, delay)

    def enqueue_error(self, code: int, status: str, message: str, *, details: list[dict[str, Any]] | None = None,
                      times: int = 1) -> None:
        for _ in range(times):
            self.enqueue(code, error_body(code, status, message, details))

    def enqueue_blocked(self, reason: str = "SAFETY", *, prompt: bool = False) -> None:
        """A 200 whose answer was withheld: by finishReason, or (prompt=True) by promptFeedback."""
        usage = {"promptTokenCount": 10, "totalTokenCount": 10}
        if prompt:
            body = {"promptFeedback": {"blockReason": reason}, "usageMetadata": usage}
        else:
            ratings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
            body = {"candidates": [{"finishReason": reason, "index": 0, "safetyRatings": ratings}], "usageMetadata": usage}
        self.enqueue(200, body)

    def enqueue_empty(self) -> None:
        """A 200 with an empty candidate list."""
        self.enqueue(200, {"candidates": [], "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}})

    def close(self) -> None:
        self._closing.set()  # cuts short any scripted delay still running
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeGemini:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- serving

    def _next(self, request_json: dict[str, Any]) -> Scripted:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            return Scripted(200, text_response(self.responder(request_json)))
        return Scripted(500, error_body(500, "INTERNAL", "fake Gemini: nothing scripted for this request"))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    self._send(Scripted(404, error_body(404, "NOT_FOUND", f"fake Gemini: no route {self.path}")))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(Scripted(400, error_body(400, "INVALID_ARGUMENT", "fake Gemini: body is not JSON")))
                    return
                with fake._lock:
                    fake.requests.append(RecordedRequest(
                        method="POST", path=self.path, api_version=match["version"], model=match["model"],
                        headers={k.lower(): v for k, v in self.headers.items()}, json=body,
                    ))
                self._send(fake._next(body))

            def _send(self, answer: Scripted) -> None:
                if answer.delay and fake._closing.wait(answer.delay):
                    return
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up, as tests intend

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
                pass

        return Handler


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    try:
        yield fake
    finally:
        fake.close()
