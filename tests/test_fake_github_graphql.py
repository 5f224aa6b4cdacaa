"""The fake GitHub's GraphQL: every query is checked against GitHub's published schema, and the
batched file reads the adapter makes are answered from the fake's repositories."""

from __future__ import annotations

import pytest

from fakes import github_graphql
from fakes.github_api import FakeGitHub
from playbook.adapters.github import GitHubForge
from playbook.errors import NotFoundError

REPO = "owner/infra"
TOKEN = "ghs_graphql_test_token"


@pytest.fixture
def forge(fake_github: FakeGitHub) -> GitHubForge:
    fake_github.add_repo(REPO, {"README.md": "hello\n", "stacks/app/compose.yaml": "services: {}\n"})
    fake_github.set_identity(TOKEN, "bot", "Bot")
    return GitHubForge(REPO, TOKEN, base_url=fake_github.url, backoff_factor=0)


def test_the_schema_is_githubs_published_one():
    schema = github_graphql.schema()
    assert {"Blob", "Tree", "Commit", "Tag"} == {t.name for t in schema.get_possible_types(schema.get_type("GitObject"))}
    assert "expression" in schema.get_type("Repository").fields["object"].args


@pytest.mark.parametrize(("query", "expected"), [
    ("{ repository(owner: \"o\", name: \"r\") { object(expression: \"main:a\") { ... on Blob { txt } } } }",
     "Cannot query field 'txt' on type 'Blob'"),
    ("{ repository(owner: \"o\") { id } }", "Argument 'Query.repository(name:)' of type 'String!' is required"),
    ("{ repository(owner: \"o\", name: \"r\") { object(expression: \"main:a\") { text } } }",
     "Cannot query field 'text' on type 'GitObject'"),
    ("query { repository(", "Syntax Error"),
])
def test_invalid_queries_are_refused_with_githubs_reasons(query, expected):
    problems = github_graphql.validation_errors(query)
    assert any(expected in p for p in problems), problems


def test_many_files_in_one_query_through_pygithub(forge: GitHubForge, fake_github: FakeGitHub):
    head = fake_github.branch_head(REPO, "main")
    assert head
    fake_github.reset_calls()
    found = forge.read_files(head, ["README.md", "stacks/app/compose.yaml", "missing.md"])
    assert found == {"README.md": "hello\n", "stacks/app/compose.yaml": "services: {}\n", "missing.md": None}
    assert [(c.method, c.path) for c in fake_github.calls] == [("POST", "/graphql")]


def test_batches_of_a_hundred(forge: GitHubForge, fake_github: FakeGitHub):
    files = {f"docs/{n}.md": f"doc {n}\n" for n in range(230)}
    head = fake_github.push(REPO, "main", files, "docs")
    fake_github.reset_calls()
    found = forge.read_files(head, sorted(files))
    assert found == files
    assert fake_github.count("POST", "/graphql") == 3


def test_a_repository_the_token_cannot_see_is_not_found(forge: GitHubForge, fake_github: FakeGitHub):
    fake_github.set_tokens(REPO, ["another-token"])
    with pytest.raises(NotFoundError, match="reading 1 files"):
        forge.read_files("main", ["README.md"])
