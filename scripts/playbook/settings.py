"""Settings: the only reader of ``os.environ``.

Everything else receives a ``Settings`` (or the values it needs) explicitly, so
tests build one from a plain dict and never touch the real environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from playbook.errors import MissingSecretError


@dataclass(frozen=True)
class Settings:
    root: Path
    github_token: str = ""
    github_repository: str = ""
    github_api_url: str = "https://api.github.com"
    github_server_url: str = "https://github.com"
    github_run_id: str = ""
    github_event_name: str = ""
    github_event_path: str = ""
    bot_login: str = "github-actions[bot]"
    gemini_api_key: str = ""
    gemini_base_url: str = ""
    anthropic_api_key: str = ""
    anthropic_base_url: str = ""
    claude_oauth_token: str = ""
    claude_bin: str = ""
    dispatch_token: str = ""
    playbook_token: str = ""
    portainer_url: str = ""
    portainer_token: str = ""
    offline: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, root: str | Path | None = None) -> Settings:
        def get(name: str, default: str = "") -> str:
            return (environ.get(name) or default).strip()

        api_url = get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        return cls(
            root=Path(root or get("PLAYBOOK_DIR") or Path.cwd()).resolve(),
            github_token=get("GITHUB_TOKEN"),
            github_repository=get("GITHUB_REPOSITORY"),
            github_api_url=api_url,
            github_server_url=get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
            github_run_id=get("GITHUB_RUN_ID"),
            github_event_name=get("GITHUB_EVENT_NAME"),
            github_event_path=get("GITHUB_EVENT_PATH"),
            bot_login=get("PLAYBOOK_BOT_LOGIN", "github-actions[bot]"),
            gemini_api_key=get("GEMINI_API_KEY") or get("GOOGLE_API_KEY"),
            gemini_base_url=get("PLAYBOOK_GEMINI_BASE_URL"),
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            claude_oauth_token=get("CLAUDE_CODE_OAUTH_TOKEN"),
            claude_bin=get("PLAYBOOK_CLAUDE_BIN"),
            dispatch_token=get("BMAD_DISPATCH_TOKEN"),
            playbook_token=get("BMAD_PLAYBOOK_TOKEN"),
            portainer_url=get("PORTAINER_URL").rstrip("/"),
            portainer_token=get("PORTAINER_API_TOKEN"),
            offline=get("PLAYBOOK_OFFLINE").lower() in {"1", "true", "yes"},
            extra={k: v for k, v in environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}},
        )

    def require(self, attribute: str, variable: str) -> str:
        value = getattr(self, attribute)
        if not value:
            raise MissingSecretError(variable)
        return str(value)

    @property
    def run_url(self) -> str:
        if self.github_repository and self.github_run_id:
            return f"{self.github_server_url}/{self.github_repository}/actions/runs/{self.github_run_id}"
        return ""

    def secrets(self) -> list[str]:
        """Every secret value in play, for redaction and canary tests."""
        values = [
            self.github_token,
            self.gemini_api_key,
            self.anthropic_api_key,
            self.claude_oauth_token,
            self.dispatch_token,
            self.playbook_token,
            self.portainer_token,
        ]
        return [v for v in values if v]

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(root={str(self.root)!r}, repository={self.github_repository!r})"
