"""What the confinement tests of the dev run and of the review share (a pytest plugin, see
conftest.py): the fake Messages API the real `claude` binary talks to, the unprivileged agent user,
and the settings that point the CLI at the fake."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.anthropic_api import FakeAnthropicAPI
from playbook.adapters.agent_user import AgentUser
from playbook.settings import Settings

AGENT = "bmad-agent-test"  # a system user the tests create once (useradd) and leave in place


@pytest.fixture
def fake() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as api:
        yield api


@pytest.fixture
def agent() -> AgentUser:
    if os.geteuid() != 0:
        pytest.skip("the OS boundary needs root to switch users")
    try:
        pwd.getpwnam(AGENT)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        AGENT], check=True)
    return AgentUser.lookup(AGENT)


def claude_settings(root: Path, fake: FakeAnthropicAPI, claude: Path) -> Settings:
    return Settings.from_env({"PATH": os.environ.get("PATH", os.defpath), "ANTHROPIC_API_KEY": "sk-ant-test",
                              "ANTHROPIC_BASE_URL": fake.base_url, "PLAYBOOK_CLAUDE_BIN": str(claude),
                              "HOME": str(root)}, root=root)
