"""pytest fixtures for the loopback GitHub API (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .github_api import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh fake GitHub on 127.0.0.1; fails the test if it ever served a non-conforming body."""
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.conformance_errors, "fake GitHub served bodies GitHub's OpenAPI description rejects:\n" + "\n".join(
        fake.conformance_errors
    )
