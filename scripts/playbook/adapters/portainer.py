"""Portainer's REST API, read-only: ``GET /api/stacks`` with an access token (``X-API-Key``).

Field names follow Portainer's published API (portainer.Stack and gittypes.RepoConfig):
Id, Name, Type, EndpointId, Status (1 active, 2 inactive), GitConfig.URL / ReferenceName /
ConfigFilePath / ConfigHash (the commit a git stack was deployed from).
"""

from __future__ import annotations

import json
from typing import Any

from playbook.errors import ConfigError, PortainerError
from playbook.ports import PortainerStack

TIMEOUT_SECONDS = 30
TOKEN_FIX = ("create an access token in Portainer (My account → Access tokens) and store it as the "
             "PORTAINER_API_TOKEN secret; PORTAINER_URL is the address you open Portainer at, e.g. https://portainer.lan:9443")


class PortainerAPI:
    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"PORTAINER_URL {url!r} is not an http(s) URL", fix=TOKEN_FIX)
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def __repr__(self) -> str:  # the token stays out of logs
        return f"PortainerAPI({self.url!r})"

    def _get(self, path: str) -> Any:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url + path, headers={"X-API-Key": self._token,
                                                                   "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (http(s) only)
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ConfigError(f"Portainer refused the access token ({exc.code})", fix=TOKEN_FIX) from None
            raise PortainerError(f"Portainer answered {exc.code} for GET {path}",
                                 fix="check that PORTAINER_URL points at Portainer itself (not a proxy login page)") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PortainerError(f"Portainer at {self.url} is unreachable: {reason}",
                                 fix="check PORTAINER_URL and that the runner can reach it") from None
        except ValueError:
            raise PortainerError(f"Portainer at {self.url} did not answer JSON for GET {path}",
                                 fix="check that PORTAINER_URL points at Portainer itself") from None

    def list_stacks(self) -> list[PortainerStack]:
        data = self._get("/api/stacks")
        if not isinstance(data, list):
            raise PortainerError("GET /api/stacks did not return a list", fix="check PORTAINER_URL")
        stacks = []
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("Id"), int) or not isinstance(item.get("Name"), str):
                continue
            raw_git = item.get("GitConfig")
            git: dict[str, Any] = raw_git if isinstance(raw_git, dict) else {}
            stacks.append(PortainerStack(
                id=item["Id"], name=item["Name"], status=int(item.get("Status") or 0),
                endpoint_id=int(item.get("EndpointId") or 0), git_url=str(git.get("URL") or ""),
                git_ref=str(git.get("ReferenceName") or ""), git_config_path=str(git.get("ConfigFilePath") or ""),
                git_hash=str(git.get("ConfigHash") or "")))
        return stacks
