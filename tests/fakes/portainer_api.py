"""A loopback Portainer: ``GET /api/stacks`` as Portainer's published API documents it.

The response schema below is written from Portainer's API definitions (the swagger annotations of
``portainer.Stack`` and ``gittypes.RepoConfig`` in portainer/portainer's api/portainer.go and
api/git/types/types.go); every response is validated against it before it is sent, so the fake cannot
drift from the documented shape. Authentication is the access-token header ``X-API-Key``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jsonschema import Draft202012Validator

REPO_CONFIG = {
    "type": ["object", "null"],
    "required": ["URL", "ReferenceName", "ConfigFilePath", "ConfigHash"],
    "properties": {
        "URL": {"type": "string"}, "ReferenceName": {"type": "string"}, "ConfigFilePath": {"type": "string"},
        "Authentication": {"type": ["object", "null"]}, "ConfigHash": {"type": "string"},
        "AsTemplate": {"type": "boolean"},
    },
}
STACK = {
    "type": "object",
    "required": ["Id", "Name", "Type", "EndpointId", "Status"],
    "properties": {
        "Id": {"type": "integer"}, "Name": {"type": "string"},
        "Type": {"enum": [1, 2, 3]},  # 1 Swarm, 2 Compose, 3 Kubernetes
        "EndpointId": {"type": "integer"}, "SwarmId": {"type": "string"}, "EntryPoint": {"type": "string"},
        "Env": {"type": ["array", "null"], "items": {"type": "object", "required": ["name", "value"]}},
        "ResourceControl": {"type": ["object", "null"]},
        "Status": {"enum": [1, 2]},  # 1 active, 2 inactive
        "ProjectPath": {"type": "string"}, "CreationDate": {"type": "integer"}, "CreatedBy": {"type": "string"},
        "UpdateDate": {"type": "integer"}, "UpdatedBy": {"type": "string"},
        "AdditionalFiles": {"type": ["array", "null"], "items": {"type": "string"}},
        "AutoUpdate": {"type": ["object", "null"]}, "GitConfig": REPO_CONFIG,
        "FromAppTemplate": {"type": "boolean"}, "Namespace": {"type": "string"}, "IsComposeFormat": {"type": "boolean"},
    },
}
STACK_LIST = {"type": "array", "items": STACK}


class FakePortainer:
    def __init__(self, token: str = "ptr_canary_portainer_token_0123456789") -> None:
        self.token = token
        self.stacks: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    def add_stack(self, name: str, *, status: int = 1, git_hash: str = "", repo_url: str = "",
                  path: str = "") -> dict[str, Any]:
        stack_id = len(self.stacks) + 1
        stack = {
            "Id": stack_id, "Name": name, "Type": 2, "EndpointId": 1, "SwarmId": "", "EntryPoint": path,
            "Env": [], "ResourceControl": None, "Status": status, "ProjectPath": f"/data/compose/{stack_id}",
            "CreationDate": 1700000000, "CreatedBy": "admin", "UpdateDate": 1700000000, "UpdatedBy": "admin",
            "AdditionalFiles": None, "AutoUpdate": None, "FromAppTemplate": False, "Namespace": "",
            "IsComposeFormat": False,
            "GitConfig": {"URL": repo_url, "ReferenceName": "refs/heads/main", "ConfigFilePath": path,
                          "Authentication": None, "ConfigHash": git_hash, "AsTemplate": False} if git_hash else None,
        }
        self.stacks.append(stack)
        return stack

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakePortainer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake.requests.append(("GET", self.path))
                if self.headers.get("X-API-Key") != fake.token:
                    self._send(401, {"message": "A valid authorisation token is missing", "details": "Unauthorized"})
                    return
                if self.path.split("?")[0] != "/api/stacks":
                    self._send(404, {"message": "Not found", "details": self.path})
                    return
                problems = [e.message for e in Draft202012Validator(STACK_LIST).iter_errors(fake.stacks)]
                assert not problems, problems
                self._send(200, fake.stacks)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
