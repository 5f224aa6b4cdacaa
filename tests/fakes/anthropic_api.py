"""A loopback stand-in for the Anthropic Messages API, driven by a script.

The real ``claude`` binary is pointed at it with ``ANTHROPIC_BASE_URL``. Each
request of the main conversation consumes one scripted turn: a ``tool_use`` turn
makes the CLI really run that tool (and send the tool_result back in the next
request), a ``text`` turn ends the conversation. Requests that are not part of the
main conversation (utility calls without tools, token counting, HEAD probes) get a
harmless answer and leave the script alone.

Every request body is recorded, so tests read what the CLI sent back, e.g. the
output of a Bash ``env`` call::

    fake.script([tool_use("Bash", {"command": "env"}), text("done")])
    ...
    assert "GITHUB_TOKEN" not in fake.tool_results()[0]
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EXHAUSTED_TEXT = "(fake Anthropic API: the script has no more turns)"
# In a scripted tool input, stands for the CLI's working directory as its system prompt states it
# (a dev run works in a scratch copy whose path the test cannot know in advance).
CWD = "{cwd}"
_CWD_RE = re.compile(r"Primary working directory: ([^\n\\\"]+)")
SIDE_TEXT = "ok"

_ids = itertools.count(1)


@dataclass(frozen=True)
class Turn:
    """One scripted assistant answer (or an API error)."""

    blocks: tuple[dict[str, Any], ...] = ()
    stop_reason: str = "end_turn"
    status: int = 200
    error: dict[str, Any] | None = None
    sticky: bool = False  # answered to every later request too (the CLI retries errors)
    stall: float = 0.0  # seconds to hold the request open first (a hung API), cut short by close()
    raw: bytes | None = None  # sent as the event stream instead of a message (garbage, or a cut stream)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 120, "output_tokens": 30})


def text(value: str) -> Turn:
    """An assistant text answer that ends the conversation (stop_reason end_turn)."""
    return Turn(blocks=({"type": "text", "text": value},))


def tool_use(name: str, tool_input: dict[str, Any], *, preface: str = "") -> Turn:
    """An assistant turn calling one tool (stop_reason tool_use)."""
    blocks: list[dict[str, Any]] = []
    if preface:
        blocks.append({"type": "text", "text": preface})
    blocks.append({"type": "tool_use", "id": f"toolu_fake{next(_ids):04d}", "name": name, "input": tool_input})
    return Turn(blocks=tuple(blocks), stop_reason="tool_use")


def hang(seconds: float = 60.0) -> Turn:
    """A request the API never answers in time: the CLI waits until its caller's timeout."""
    return Turn(blocks=({"type": "text", "text": "too late"},), stall=seconds, sticky=True)


def garbage_stream(cut: bool = False) -> Turn:
    """A 200 event stream that is not the Messages API's: junk events, or a message cut off mid-stream."""
    if cut:
        head = ('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_cut","type":"message",'
                '"role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":1,'
                '"output_tokens":1}}}\n\nevent: content_block_start\ndata: {"type":"content_block_st')
        return Turn(raw=head.encode(), sticky=True)
    return Turn(raw=b"event: ???\ndata: {not json at all\n\n\x00\xff\xfe garbage\n\n", sticky=True)


def api_error(status: int, message: str, error_type: str = "invalid_request_error") -> Turn:
    """An HTTP error in the Messages API's error shape, repeated for every retry the CLI makes."""
    return Turn(status=status, error={"type": "error", "error": {"type": error_type, "message": message}},
                sticky=True)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    main: bool


def is_main_conversation(path: str, body: dict[str, Any]) -> bool:
    """The main conversation streams (and usually offers tools); side calls do neither.

    Version 2.1.330 in -p mode makes no side calls at all (checked by logging every
    request); the rule stays so a later version's title or summary call on a small
    model, sent without streaming, cannot eat a scripted turn. A run started with
    ``--tools ""`` (``ClaudeTextModel``) offers no tools but still streams.
    """
    if not path.split("?")[0].rstrip("/").endswith("/v1/messages"):
        return False
    return bool(body.get("stream")) or bool(body.get("tools"))


class FakeAnthropicAPI:
    """A real HTTP server on 127.0.0.1:0; use as a context manager or call close()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._turns: list[Turn] = []
        self.requests: list[Recorded] = []
        self.exhausted = 0  # main-conversation requests that found the script empty
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ test API

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, turns: Iterable[Turn]) -> None:
        with self._lock:
            self._turns = list(turns)
            self.exhausted = 0

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._turns)

    def main_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.main]

    def tool_results(self) -> list[str]:
        """Text of every tool_result block the CLI sent, in order, without duplicates.

        Each request repeats the whole conversation, so a result is taken from the
        request that introduced it (by tool_use_id).
        """
        seen: dict[str, str] = {}
        for body in self.main_requests():
            for message in body.get("messages", []):
                content = message.get("content")
                if message.get("role") != "user" or not isinstance(content, list):
                    continue
                for block in content:
                    if block.get("type") == "tool_result" and block.get("tool_use_id") not in seen:
                        seen[block["tool_use_id"]] = _flatten(block.get("content"))
        return list(seen.values())

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeAnthropicAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ server

    def _next_turn(self) -> Turn:
        with self._lock:
            if self._turns:
                return self._turns[0] if self._turns[0].sticky else self._turns.pop(0)
            self.exhausted += 1
        return text(EXHAUSTED_TEXT)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _record(self, body: dict[str, Any], main: bool) -> None:
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, dict(self.headers), body, main))

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                if status >= 400:  # the SDK honours this, so an error costs no backoff wait
                    self.send_header("x-should-retry", "false")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", f"req_fake{next(_ids):04d}")
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                self._record({}, False)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                self._record({}, False)
                self._json(200, {"data": [], "has_more": False})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                path = self.path.split("?")[0].rstrip("/")
                if path.endswith("/count_tokens"):
                    self._record(body, False)
                    self._json(200, {"input_tokens": 100})
                    return
                if not path.endswith("/v1/messages"):
                    self._record(body, False)
                    self._json(200, {})
                    return
                main = is_main_conversation(self.path, body)
                self._record(body, main)
                turn = _with_cwd(fake._next_turn(), body) if main else text(SIDE_TEXT)
                if turn.stall and fake._closing.wait(turn.stall):
                    return
                if turn.raw is not None:
                    self._raw(turn.raw)
                elif turn.error is not None:
                    self._json(turn.status, turn.error)
                elif body.get("stream"):
                    self._stream(body, turn)
                else:
                    self._json(200, _message(body, turn))

            def _raw(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("x-should-retry", "false")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def _stream(self, body: dict[str, Any], turn: Turn) -> None:
                data = b"".join(
                    f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode() for name, payload in _events(body, turn)
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _with_cwd(turn: Turn, body: dict[str, Any]) -> Turn:
    """``turn`` with every ``{cwd}`` in its tool inputs replaced by the request's working directory."""
    encoded = json.dumps(turn.blocks)
    if CWD not in encoded:
        return turn
    match = _CWD_RE.search(json.dumps(body))
    if match is None:
        return turn
    cwd = json.dumps(match.group(1).strip())[1:-1]
    return Turn(blocks=tuple(json.loads(encoded.replace(CWD, cwd))), stop_reason=turn.stop_reason,
                status=turn.status, error=turn.error, sticky=turn.sticky, stall=turn.stall, raw=turn.raw,
                usage=turn.usage)


def _flatten(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _message(body: dict[str, Any], turn: Turn) -> dict[str, Any]:
    return {
        "id": f"msg_fake{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": list(turn.blocks),
        "stop_reason": turn.stop_reason,
        "stop_sequence": None,
        "usage": dict(turn.usage),
    }


def _events(body: dict[str, Any], turn: Turn) -> Iterator[tuple[str, dict[str, Any]]]:
    """The SSE sequence of one message: start, each block (start/delta/stop), delta, stop."""
    start = _message(body, turn)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = {"input_tokens": turn.usage["input_tokens"], "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(turn.blocks):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": block["text"]}}
        else:
            yield "content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
            }
            encoded = json.dumps(block["input"])
            # Split the JSON like the real API does, so the client has to reassemble it.
            for part in (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta", "partial_json": part}}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
                            "usage": {"output_tokens": turn.usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}
