"""The Claude Code CLI, run headless: the only builder of the ``claude`` argv and env.

Two uses:

* ``run_claude`` — a dev run in a target repository: the CLI edits files itself with
  an exact allowlist of tools and a turn limit; the JSON result is parsed into a
  ``ClaudeResult``. Whatever it wrote is judged afterwards by ``playbook.delivery.diffpolicy``.
* ``ClaudeTextModel`` — a ``TextModel`` for planning phases routed to Claude: one turn,
  no tools, the answer text back.

The child never sees ``os.environ``: ``build_env`` makes a fresh dict holding only
PATH, LANG, a private HOME, the model credential, ANTHROPIC_BASE_URL and the
switches that turn off telemetry, updates and error reporting. GITHUB_TOKEN and
the dispatch tokens therefore cannot leak through a tool call such as ``env``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook import _process
from playbook.adapters.agent_user import AgentUser
from playbook.errors import (
    ModelOutputError,
    ModelUnavailableError,
    ProcessError,
    QuotaExhaustedError,
)
from playbook.ports import ModelRequest, ModelResponse, Usage
from playbook.settings import Settings

PROVIDER = "claude-cli"

# The built-in tools a dev run has at all (``--tools``); every other tool does not exist for it.
DEV_TOOLS: tuple[str, ...] = ("Read", "Write", "Edit", "Glob", "Grep", "Bash")

# Commands that run without asking: validators only. Nothing that reaches the network, commits
# or pushes (publishing happens later, under the playbook's control) and nothing that lists or
# prints files (``cat``/``ls`` would read outside the path rules below; Read and Glob do it
# inside them).
ALLOWED_COMMANDS: tuple[str, ...] = (
    "Bash(docker-compose config:*)",
    "Bash(docker compose config:*)",
    "Bash(terraform fmt:*)",
    "Bash(terraform validate:*)",
    "Bash(packer fmt:*)",
    "Bash(packer validate:*)",
    "Bash(ansible-lint:*)",
    "Bash(yamllint:*)",
)
# Kept for callers that pass a tool list of their own: the validators, no file tool. File tools
# are only ever allowed path-scoped, through ``FileScope`` (a bare ``Read`` or ``Edit`` in the
# allow list is honoured by the CLI everywhere on the machine, not only in the working directory).
ALLOWED_TOOLS: tuple[str, ...] = ALLOWED_COMMANDS

# Denied even if a settings file would allow them.
DISALLOWED_TOOLS: tuple[str, ...] = (
    "WebFetch",
    "WebSearch",
    "Bash(git push:*)",
    "Bash(git commit:*)",
    "Bash(git remote:*)",
    "Bash(git config:*)",
    "Bash(curl:*)",
    "Bash(wget:*)",
    "Bash(ssh:*)",
    "Bash(scp:*)",
    "Bash(nc:*)",
)

# Permission-rule syntax of the pinned CLI (2.1.330): ``Read(...)`` rules govern Read, Glob and
# Grep; ``Edit(...)`` rules govern Write and Edit. ``./x`` is relative to the working directory,
# ``//x`` is the absolute path /x, ``~/x`` is under HOME. Deny rules win over allow rules, so the
# denials name only what must stay shut even inside the allowed paths.
ALWAYS_DENIED_PATHS: tuple[str, ...] = (
    "Read(./.git/**)", "Edit(./.git/**)", "Edit(./.github/**)", "Edit(./.claude/**)", "Edit(./CLAUDE.md)",
    "Read(./**/.env)", "Read(./**/.env.*.local)", "Read(./**/*.tfstate)", "Read(./**/*.tfvars)",
    "Read(./**/*.pem)", "Read(./**/*.key)", "Read(./**/id_rsa*)", "Read(./**/id_ed25519*)",
    "Read(./**/kubeconfig*)",
    "Read(~/**)", "Edit(~/**)", "Read(//proc/**)", "Edit(//proc/**)", "Read(//sys/**)", "Read(//etc/**)",
)


@dataclass(frozen=True)
class FileScope:
    """Where the file tools of one run may act, as the CLI's own permission rules.

    Reads (Read, Glob, Grep) only under the working directory; writes and edits (Write, Edit)
    only under ``write_prefixes`` (repo-relative directories such as ``stacks/dns-pihole/``, or
    single files).
    ``denied_dirs`` are absolute directories outside the checkout named explicitly (the
    runner's home and temp, the playbook checkout, the result directory), so a symlink or a
    rule mistake still meets a denial.
    """

    write_prefixes: tuple[str, ...]
    denied_dirs: tuple[str, ...] = ()

    def allow_rules(self) -> list[str]:
        rules = ["Read(./**)"]
        for prefix in self.write_prefixes:
            clean = prefix.strip("/")
            if not clean or clean.startswith(".") or ".." in clean.split("/") or "*" in clean:
                raise ValueError(f"not a repo-relative path: {prefix!r}")
            rules.append(f"Edit(./{clean}/**)" if prefix.endswith("/") else f"Edit(./{clean})")
        return rules

    def deny_rules(self) -> list[str]:
        rules = list(ALWAYS_DENIED_PATHS)
        for directory in self.denied_dirs:
            absolute = "/" + str(directory).strip("/")
            rules += [f"Read(/{absolute}/**)", f"Edit(/{absolute}/**)"]
        return rules

    def settings_json(self) -> str:
        """The ``--settings`` document: our rules, and nothing a repository file could add."""
        return json.dumps({"permissions": {"allow": self.allow_rules(), "deny": self.deny_rules(),
                                           "defaultMode": "default"}}, separators=(",", ":"))


# Switches that stop the CLI calling home; the values are what its docs ask for.
QUIET_SWITCHES: dict[str, str] = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}

# Linux caps one argv string at 128 KiB (MAX_ARG_STRLEN); longer prompts go through stdin.
ARGV_PROMPT_LIMIT = 100_000

INSTALL_FIX = (
    "run `npm ci` in the playbook repository (it pins @anthropic-ai/claude-code), "
    "or set PLAYBOOK_CLAUDE_BIN to the claude executable"
)
CREDENTIAL_FIX = (
    "set ANTHROPIC_API_KEY (an API key) or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`); "
    "in GitHub: Settings → Secrets and variables → Actions → New repository secret"
)
_TAIL = 2000

_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the checkout holding scripts/playbook


@dataclass(frozen=True)
class ClaudeResult:
    """The parsed ``--output-format json`` result of one run (or a timeout)."""

    subtype: str  # success | error_max_turns | error_during_execution | ... | timeout
    is_error: bool
    result: str | None
    session_id: str
    num_turns: int
    total_cost_usd: float
    usage: Usage
    returncode: int
    terminal_reason: str = ""
    errors: tuple[str, ...] = ()
    permission_denials: tuple[dict[str, Any], ...] = ()
    api_error_status: int | None = None
    timed_out: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def incomplete_reason(self) -> str | None:
        """Why the run did not finish its work, or None when it did."""
        if self.timed_out:
            return "timeout"
        if self.subtype == "error_max_turns" or self.terminal_reason == "max_turns":
            return "turn limit"
        if self.is_error or self.subtype != "success":
            detail = "; ".join(self.errors) or (self.result or "") or self.subtype
            return f"error: {detail}"[:500]
        return None


# --------------------------------------------------------------------------- locating


def find_claude(settings: Settings) -> str:
    """PLAYBOOK_CLAUDE_BIN, else node_modules/.bin/claude of the playbook, else PATH."""
    if settings.claude_bin:
        path = Path(settings.claude_bin)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise ModelUnavailableError(f"PLAYBOOK_CLAUDE_BIN={settings.claude_bin} is not an executable file",
                                    fix=INSTALL_FIX)
    roots = [settings.root / "node_modules" / ".bin", _PACKAGE_ROOT / "node_modules" / ".bin"]
    search_path = settings.extra.get("PATH", "")
    for directory in [*roots, *search_path.split(os.pathsep)]:
        candidate = Path(str(directory)) / "claude" if directory else None
        if candidate and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ModelUnavailableError("the Claude Code CLI (claude) is not installed", fix=INSTALL_FIX)


def require_credentials(settings: Settings) -> None:
    if not (settings.anthropic_api_key or settings.claude_oauth_token):
        raise ModelUnavailableError("no Claude credentials: ANTHROPIC_API_KEY and CLAUDE_CODE_OAUTH_TOKEN are unset",
                                    fix=CREDENTIAL_FIX)


# --------------------------------------------------------------------------- argv + env


def build_argv(
    claude_bin: str,
    prompt: str | None,
    *,
    allowed_tools: Sequence[str],
    disallowed_tools: Sequence[str] = (),
    max_turns: int,
    append_system_prompt: str = "",
    model: str | None = None,
    system_prompt: str | None = None,
    tools: Sequence[str] | None = None,
    scope: FileScope | None = None,
) -> list[str]:
    """The argv of one headless run. ``prompt=None`` means the prompt comes on stdin.

    ``tools`` limits which built-in tools exist at all (``[]`` for none); the allow
    list only decides which of them run without asking, and in -p mode nobody can
    answer (``--permission-prompts none``), so everything else is refused.
    ``--restricted`` ignores user, project and local settings files (a target repo's
    ``.claude/settings.json`` cannot widen anything) and confines the file tools to the
    working directory; ``scope`` adds the path-scoped rules inside it.
    """
    argv = [claude_bin, "-p"]
    if prompt is not None:
        argv.append(prompt)
    argv += ["--output-format", "json", "--max-turns", str(max_turns), "--no-session-persistence",
             "--strict-mcp-config", "--restricted", "--permission-prompts", "none"]
    if scope is not None:
        argv += ["--settings", scope.settings_json()]
        allowed_tools = [*scope.allow_rules(), *allowed_tools]
    if tools is not None:
        argv += ["--tools", ",".join(tools)]
    if allowed_tools:
        argv += ["--allowedTools", ",".join(allowed_tools)]
    if disallowed_tools:
        argv += ["--disallowedTools", ",".join(disallowed_tools)]
    if system_prompt is not None:
        argv += ["--system-prompt", system_prompt]
    if append_system_prompt:
        argv += ["--append-system-prompt", append_system_prompt]
    if model:
        argv += ["--model", model]
    return argv


def build_env(settings: Settings, home: Path) -> dict[str, str]:
    """A fresh environment for the CLI: never a copy of os.environ."""
    env = {
        "PATH": settings.extra.get("PATH") or os.defpath,
        "LANG": settings.extra.get("LANG") or "C.UTF-8",
        "HOME": str(home),
        **QUIET_SWITCHES,
    }
    if settings.anthropic_api_key:
        env["ANTHROPIC_API_KEY"] = settings.anthropic_api_key
    elif settings.claude_oauth_token:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = settings.claude_oauth_token
    if settings.anthropic_base_url:
        env["ANTHROPIC_BASE_URL"] = settings.anthropic_base_url
    return env


# --------------------------------------------------------------------------- running


def run_claude(
    prompt: str,
    *,
    cwd: Path,
    settings: Settings,
    max_turns: int,
    timeout_seconds: float,
    allowed_tools: Sequence[str] = ALLOWED_TOOLS,
    disallowed_tools: Sequence[str] = DISALLOWED_TOOLS,
    append_system_prompt: str = "",
    model: str | None = None,
    system_prompt: str | None = None,
    tools: Sequence[str] | None = None,
    home: Path | None = None,
    scope: FileScope | None = None,
    agent: AgentUser | None = None,
) -> ClaudeResult:
    """Run the CLI in ``cwd`` and parse its JSON result.

    Turn-limit and error results come back as a ``ClaudeResult`` (the files written
    so far are kept by the caller); a timeout does too, with ``timed_out``. Raises
    ModelUnavailableError when the CLI or credentials are missing, ModelOutputError
    when its output is not a result. With ``agent`` the CLI runs as that unprivileged
    user (``home`` must then be a directory it owns).
    """
    claude_bin = find_claude(settings)
    require_credentials(settings)
    if tools is None:
        tools = DEV_TOOLS
    via_stdin = len(prompt.encode("utf-8")) > ARGV_PROMPT_LIMIT
    argv = build_argv(
        claude_bin,
        None if via_stdin else prompt,
        allowed_tools=allowed_tools,
        disallowed_tools=disallowed_tools,
        max_turns=max_turns,
        append_system_prompt=append_system_prompt,
        model=model,
        system_prompt=system_prompt,
        tools=tools,
        scope=scope,
    )
    if agent is not None:
        argv = agent.wrap(argv)
    with tempfile.TemporaryDirectory(prefix="playbook-claude-home-") as private_home:
        env = build_env(settings, home or Path(private_home))
        try:
            done = _process.run(argv, cwd=cwd, env=env, input=prompt if via_stdin else "",
                                timeout=timeout_seconds, check=False)
        except ProcessError as exc:
            if exc.returncode == -1:  # _process reports a timeout as -1
                return _timed_out(timeout_seconds)
            raise ModelUnavailableError(f"could not start {claude_bin}: {_redact(exc.stderr, settings)}",
                                        fix=INSTALL_FIX) from None
    return parse_result(done.stdout, done.stderr, done.returncode, settings)


def parse_result(stdout: str, stderr: str, returncode: int, settings: Settings) -> ClaudeResult:
    data = _last_json_object(stdout)
    if data is None or data.get("type") != "result":
        tail = _redact(stderr.strip()[-_TAIL:] or stdout.strip()[-_TAIL:], settings) or "(no output)"
        lowered = tail.lower()
        if any(s in lowered for s in ("api key", "/login", "oauth", "not logged in", "authentication")):
            raise ModelUnavailableError(f"the Claude Code CLI is not authenticated (exit {returncode}): {tail}",
                                        fix=CREDENTIAL_FIX)
        raise ModelOutputError(
            f"the Claude Code CLI printed no JSON result (exit {returncode}); stderr tail:\n{tail}",
            fix="check the CLI version pinned in package.json and the stderr above; re-run the job",
        )
    usage = data.get("usage") or {}
    return ClaudeResult(
        subtype=str(data.get("subtype") or ""),
        is_error=bool(data.get("is_error")),
        result=data.get("result") if isinstance(data.get("result"), str) else None,
        session_id=str(data.get("session_id") or ""),
        num_turns=int(data.get("num_turns") or 0),
        total_cost_usd=float(data.get("total_cost_usd") or 0.0),
        usage=Usage(
            int(usage.get("input_tokens") or 0)
            + int(usage.get("cache_creation_input_tokens") or 0)
            + int(usage.get("cache_read_input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
        ),
        returncode=returncode,
        terminal_reason=str(data.get("terminal_reason") or ""),
        errors=tuple(str(e) for e in data.get("errors") or ()),
        permission_denials=tuple(d for d in data.get("permission_denials") or () if isinstance(d, dict)),
        api_error_status=data.get("api_error_status") if isinstance(data.get("api_error_status"), int) else None,
        raw=data,
    )


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    """The JSON result; tolerate stray lines before it (warnings printed to stdout)."""
    text = stdout.strip()
    candidates = [text] + [line for line in reversed(text.splitlines()) if line.startswith("{")]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _timed_out(timeout_seconds: float) -> ClaudeResult:
    return ClaudeResult(subtype="timeout", is_error=True, result=None, session_id="", num_turns=0,
                        total_cost_usd=0.0, usage=Usage(), returncode=-1,
                        errors=(f"timed out after {timeout_seconds:g}s",), timed_out=True)


def _redact(text: str, settings: Settings) -> str:
    for secret in settings.secrets():
        text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------- TextModel


class ClaudeTextModel:
    """``TextModel`` for planning phases routed to Claude: one turn, no tools."""

    provider = PROVIDER

    def __init__(self, settings: Settings, *, timeout_seconds: float = 600) -> None:
        # Fail at construction so the router can fall back before any prompt is built.
        self.claude_bin = find_claude(settings)
        require_credentials(settings)
        self.settings = settings
        self.timeout_seconds = timeout_seconds

    def generate(self, request: ModelRequest) -> ModelResponse:
        prompt = request.prompt
        if request.json_schema is not None:
            prompt += ("\n\nAnswer with one JSON document only (no prose, no code fence) matching this JSON "
                       "schema:\n" + json.dumps(request.json_schema, indent=2))
        # An empty working directory: no repository files, no CLAUDE.md picked up by accident.
        with tempfile.TemporaryDirectory(prefix="playbook-claude-cwd-") as cwd:
            result = run_claude(
                prompt,
                cwd=Path(cwd),
                settings=self.settings,
                max_turns=1,
                timeout_seconds=self.timeout_seconds,
                allowed_tools=(),
                disallowed_tools=(),
                model=request.model or None,
                system_prompt=request.system,
                tools=(),
            )
        if result.timed_out:
            raise ModelUnavailableError(f"the Claude Code CLI timed out after {self.timeout_seconds:g}s",
                                        fix="raise limits.model_timeout_seconds in playbook.yaml or retry")
        if result.is_error:
            status = result.api_error_status
            detail = _redact(result.result or "; ".join(result.errors) or result.subtype, self.settings)
            if status == 429:
                raise QuotaExhaustedError(f"Claude quota or rate limit: {detail}",
                                          fix="wait for the limit to reset or let the fallback route answer")
            if status in (401, 403):
                raise ModelUnavailableError(f"Claude rejected the credentials: {detail}", fix=CREDENTIAL_FIX)
            if status is not None and status >= 500:
                raise ModelUnavailableError(f"Claude API error {status}: {detail}", fix="retry later")
            raise ModelOutputError(f"the Claude Code CLI reported an error: {detail}",
                                   fix="check the model name in playbook.yaml `models:` and retry")
        if not (result.result or "").strip():
            raise ModelOutputError("Claude answered with empty text", fix="retry, or use /revise with more detail")
        return ModelResponse(
            text=result.result or "",
            provider=PROVIDER,
            model=request.model,
            usage=result.usage,
            finish_reason=str(result.raw.get("stop_reason") or result.subtype),
        )
