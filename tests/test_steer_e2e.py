"""Steering the IaC PR end to end: the jobs of bmad-dev.yml for a comment, in their order, on the loopback
fakes and the REAL claude binary.

Each job runs the command its workflow step runs, in a fresh checkout, and hands the next one only what the
workflow hands over (steer.json, the playbook source, result.json + changes.patch, review.json):

    issue_comment → steer → source → dev → publish → review → post-review      (/revise, /retry)
    issue_comment → steer → source → review → post-review                      (/review)
    issue_comment → steer → steer-reply                                        (a refusal)

The request got there the real way first: four approved phases, the planning PR merged, the story dispatched,
dev + publish opened the IaC PR and reported on the playbook issue.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import node_tool, run_main
from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
from flow_harness import REPO, _template
from playbook.adapters import git as gitlib
from playbook.delivery.scaffold import render_stack
from playbook.demo.reference import DEMO_STACKS

CLAUDE = node_tool(".bin", "claude")
APPS_TOKEN = "ghs_canary_apps_token_0123456789"
PLAYBOOK_TOKEN = "github_pat_canary_playbook_0123456789"
ANTHROPIC_KEY = "sk-ant-canary-0123456789"
COMPOSE = "stacks/dns-pihole/docker-compose.yml"
README = "stacks/dns-pihole/README.md"
JOB_VARIABLES = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "BMAD_PLAYBOOK_TOKEN", "BMAD_DISPATCH_TOKEN", "GEMINI_API_KEY",
                 "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "PLAYBOOK_CLAUDE_BIN", "PLAYBOOK_REPO", "GITHUB_EVENT_PATH",
                 "GITHUB_EVENT_NAME", "GITHUB_OUTPUT", "PLAYBOOK_DIR")

pytestmark = [pytest.mark.claude, pytest.mark.slow]


class Workflow:
    """The target repo's bmad-dev.yml, job by job, for one event at a time."""

    def __init__(self, h: Any, fake_github: Any, anthropic: FakeAnthropicAPI, tmp: Path, monkeypatch: Any,
                 repo_root: Path) -> None:
        self.h, self.github, self.anthropic, self.tmp, self.mp = h, fake_github, anthropic, tmp, monkeypatch
        self.repo_root = repo_root
        self.apps = h.targets["apps"]
        self.runs = 0

    # -- what the runner provides ------------------------------------------------------------

    def job_env(self, **values: str) -> None:
        """A job's environment: only what its `env:` names (plus the runner's own variables)."""
        for name in JOB_VARIABLES:
            self.mp.delenv(name, raising=False)
        for name, value in {"GITHUB_API_URL": self.github.url, "GITHUB_SERVER_URL": "https://github.example",
                            "GITHUB_EVENT_PATH": str(self.event_path), "GITHUB_EVENT_NAME": self.event_name,
                            **values}.items():
            self.mp.setenv(name, value)

    def checkout(self, job: str) -> Path:
        """actions/checkout of the target with fetch-depth 0: the default branch, every story branch local."""
        dest = self.temp / f"{job}-target"
        repo = self.github.repos[self.apps]
        self._write(dest, self.github.files_at(self.apps, "main"))
        gitlib.init_repo(dest)
        gitlib.git(dest, "add", "-A")
        gitlib.git(dest, "commit", "-q", "-m", "main")
        for branch in sorted(b for b in repo.refs if b.startswith("bmad/story-")):
            gitlib.git(dest, "switch", "-q", "-c", branch)
            files = self.github.files_at(self.apps, branch)
            for path in gitlib.git(dest, "ls-files").split():
                if path not in files:
                    (dest / path).unlink()
            self._write(dest, files)
            gitlib.git(dest, "add", "-A")
            gitlib.git(dest, "commit", "-q", "-m", branch)
            gitlib.git(dest, "switch", "-q", "main")
        return dest

    @staticmethod
    def _write(dest: Path, files: dict[str, str]) -> None:
        for path, content in files.items():
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_text(content)

    # -- the jobs ----------------------------------------------------------------------------

    def source(self, ref: str = "main") -> Path:
        """The playbook at the payload's merge_sha (a comment has none: the default branch), as the artifact."""
        dest = self.temp / "playbook"
        for name in ("skills", "patterns"):
            shutil.copytree(self.repo_root / name, dest / name)
        shutil.copy(self.repo_root / "playbook.yaml", dest / "playbook.yaml")
        self._write(dest, self.github.files_at(REPO, ref))
        return dest

    def comment(self, pr: int, body: str, *, author: str = "owner", comment_id: int | None = None) -> dict[str, Any]:
        """A new comment on the IaC PR: one runner temp, one event file for every job of this run."""
        self.runs += 1
        self.temp = self.tmp / f"run-{self.runs}"
        self.temp.mkdir()
        comment_id = comment_id or self.github.add_comment(self.apps, pr, body, author, "User")
        event = _template("issue_comment.approve.json")
        event["repository"]["full_name"] = self.apps
        event["issue"].update(number=pr, pull_request={"url": f"{self.github.url}/repos/{self.apps}/pulls/{pr}"})
        event["comment"].update(id=comment_id, body=body)
        event["comment"]["user"].update(login=author, type="User")
        self.event_name, self.event_path = "issue_comment", self.temp / "event.json"
        self.event_path.write_text(json.dumps(event))
        return event

    def steer(self) -> dict[str, str]:
        output = self.temp / "steer-output"
        output.write_text("")
        self.job_env(GITHUB_REPOSITORY=self.apps, GITHUB_TOKEN=APPS_TOKEN, BMAD_PLAYBOOK_TOKEN=PLAYBOOK_TOKEN)
        assert run_main(["steer", "--event-file", str(self.event_path), "--out", str(self.temp / "steer"),
                      "--output-file", str(output)]) == 0
        return dict(line.split("=", 1) for line in output.read_text().splitlines())

    def steer_reply(self) -> int:
        self.job_env(GITHUB_REPOSITORY=self.apps, GITHUB_TOKEN=APPS_TOKEN)
        return run_main(["steer-reply", "--steer", str(self.temp / "steer")])

    def dev(self, playbook: Path) -> int:
        target = self.checkout("dev")
        self.job_env(PLAYBOOK_REPO=REPO, PLAYBOOK_CLAUDE_BIN=str(CLAUDE), ANTHROPIC_API_KEY=ANTHROPIC_KEY,
                     ANTHROPIC_BASE_URL=self.anthropic.base_url)
        return run_main(["dev", "--event-file", str(self.event_path), "--playbook-dir", str(playbook), "--repo-dir",
                      str(target), "--kind", "apps", "--out", str(self.temp / "bmad-dev"), "--steer",
                      str(self.temp / "steer")])

    def publish(self, playbook: Path) -> int:
        target = self.checkout("publish")
        self.job_env(PLAYBOOK_REPO=REPO, GITHUB_REPOSITORY=self.apps, GITHUB_TOKEN=APPS_TOKEN,
                     BMAD_PLAYBOOK_TOKEN=PLAYBOOK_TOKEN, GITHUB_OUTPUT=str(self.temp / "publish-output"))
        return run_main(["publish", "--result", str(self.temp / "bmad-dev"), "--steer", str(self.temp / "steer"),
                      "--repo-dir", str(target), "--playbook-dir", str(playbook)])

    def review(self, playbook: Path) -> int:
        target = self.checkout("review")
        self.job_env(PLAYBOOK_CLAUDE_BIN=str(CLAUDE), ANTHROPIC_API_KEY=ANTHROPIC_KEY,
                     ANTHROPIC_BASE_URL=self.anthropic.base_url)
        return run_main(["review", "--event-file", str(self.event_path), "--steer", str(self.temp / "steer"),
                      "--playbook-dir", str(playbook), "--repo-dir", str(target), "--out",
                      str(self.temp / "bmad-review")])

    def post_review(self) -> int:
        self.job_env(GITHUB_REPOSITORY=self.apps, GITHUB_TOKEN=APPS_TOKEN)
        return run_main(["post-review", "--review", str(self.temp / "bmad-review")])

    def run(self, dev_turns: list[Any], review_turns: list[Any]) -> list[str]:
        """The jobs in their order, each started by the `if:` of bmad-dev.yml; returns the jobs that ran."""
        outputs = self.steer()
        ran = ["steer"]
        if outputs.get("refused") == "true":
            assert self.steer_reply() == 0
            return [*ran, "steer-reply"]
        command = outputs.get("command", "")
        if not command:
            return ran
        playbook = self.source()
        ran.append("source")
        published = False
        if command in ("revise", "retry"):
            self.anthropic.script(dev_turns)
            dev_rc = self.dev(playbook)
            ran.append("dev")
            if dev_rc in (0, 1, 5):  # success or failure: publish reports either
                published = self.publish(playbook) == 0
                ran.append("publish")
        if published or command == "review":
            self.anthropic.script(review_turns)
            if self.review(playbook) == 0:
                ran.append("review")
                assert self.post_review() == 0
                ran.append("post-review")
        return ran


def _review_turns(message: str) -> list[Any]:
    findings = {"findings": [{"severity": "minor", "file": COMPOSE, "line": 28, "message": message}]}
    return [tool_use("Read", {"file_path": f"{CWD}/{COMPOSE}"}),
            text("# Code review\n\n## Verdict\n\nfine\n\n```json\n" + json.dumps(findings) + "\n```\n")]


def _reviews(fake_github: Any, repo: str, pr: int) -> list[dict[str, Any]]:
    return list(fake_github.repos[repo].pulls[pr].reviews)


@pytest.fixture
def anthropic():
    with FakeAnthropicAPI() as api:
        yield api


@pytest.fixture
def delivered(h, fake_github, anthropic, repo_root, tmp_path, monkeypatch):
    """The Pi-hole request delivered the normal way: an open IaC PR in homelab-apps, reported on the issue."""
    if not CLAUDE.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    fake_github.set_identity(APPS_TOKEN, "github-actions[bot]", "Bot")
    fake_github.set_identity(PLAYBOOK_TOKEN, "owner", "User")
    issue, number = h.complete_planning("Hostname pihole.home.example; DNS on port 53 for the LAN.")
    merge_sha = fake_github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0
    flow = Workflow(h, fake_github, anthropic, tmp_path, monkeypatch, repo_root)
    fake_github.set_permission(flow.apps, "owner", "admin")
    fake_github.set_permission(flow.apps, "reader", "read")
    (dispatch,) = fake_github.dispatches(flow.apps)
    flow.runs += 1
    flow.temp = tmp_path / "run-dispatch"
    flow.temp.mkdir()
    event = _template("repository_dispatch.bmad-deployed.json")
    event.update(action="bmad-story", client_payload=dispatch["client_payload"])
    flow.event_name, flow.event_path = "repository_dispatch", flow.temp / "event.json"
    flow.event_path.write_text(json.dumps(event))
    playbook = flow.source(dispatch["client_payload"]["merge_sha"])
    stack = render_stack("dns-pihole", **DEMO_STACKS["dns-pihole"])
    anthropic.script([*[tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/{name}", "content": content})
                        for name, content in stack.items()], text("Wrote the stack.")])
    assert flow.dev(playbook) == 0
    assert flow.publish(playbook) == 0
    (pull,) = fake_github.pulls(flow.apps)
    return flow, issue, pull["number"], pull["head"]


def test_revise_retry_and_review_on_the_iac_pr_run_the_jobs_in_order(delivered, fake_github, anthropic):
    flow, issue, pr, branch = delivered
    apps = flow.apps
    commits = fake_github.commits(apps, branch)
    body_before = fake_github.repos[apps].issues[pr].body
    report = [c for c in fake_github.comments(REPO, issue) if c.startswith("<!-- bmad-iac ")]
    assert len(report) == 1

    # /revise from a writer: exactly one new commit, the PR body and the issue report updated, a fresh review
    event = flow.comment(pr, "/revise use port 8081")
    ran = flow.run(
        [tool_use("Read", {"file_path": f"{CWD}/{COMPOSE}"}),
         tool_use("Edit", {"file_path": f"{CWD}/{COMPOSE}", "old_string": 'loadbalancer.server.port: "80"',
                           "new_string": 'loadbalancer.server.port: "8081"'}),
         text("Traefik now reaches Pi-hole on port 8081.")],
        _review_turns("say in the README that the web UI moved to 8081"))
    assert ran == ["steer", "source", "dev", "publish", "review", "post-review"]
    dev_prompt = next(json.dumps(r["messages"][0]) for r in anthropic.main_requests()
                      if "use port 8081" in json.dumps(r["messages"][0]))  # the feedback reached the dev run
    after_revise = fake_github.commits(apps, branch)
    assert len(after_revise) == len(commits) + 1
    assert 'loadbalancer.server.port: "8081"' in fake_github.files_at(apps, branch)[COMPOSE]
    body = fake_github.repos[apps].issues[pr].body
    assert body != body_before and f"<!-- bmad-steered comments={event['comment']['id']} -->" in body
    (report_after,) = [c for c in fake_github.comments(REPO, issue) if c.startswith("<!-- bmad-iac ")]
    assert report_after != report[0] and "Revised from the PR conversation: commit " in report_after  # in place
    assert "Revision 2: apply the owner" in dev_prompt and 'port: \\"80\\"' in dev_prompt  # the current diff too
    (review,) = _reviews(fake_github, apps, pr)
    assert review["event"] == "COMMENT"
    reviewed = json.loads((flow.temp / "bmad-review" / "review.json").read_text())
    assert f"head={reviewed['head'][:12]}" in review["body"].splitlines()[0]
    review_prompt = next(json.dumps(r["messages"][0]) for r in anthropic.main_requests()
                         if "The change under review" in json.dumps(r["messages"][0]))
    assert 'port: \\"8081\\"' in review_prompt  # the revised branch is what was reviewed
    assert "web UI moved to 8081" in review["body"]
    assert len(fake_github.pulls(apps)) == 1

    # the same comment delivered again: steer finds it published; nothing else runs, nothing is committed
    flow.comment(pr, "/revise use port 8081", comment_id=event["comment"]["id"])
    assert flow.run([text("must not run")], [text("must not run")]) == ["steer"]
    assert fake_github.commits(apps, branch) == after_revise and len(_reviews(fake_github, apps, pr)) == 1

    # /retry: the story again on its branch, one more commit, reviewed again
    flow.comment(pr, "/retry")
    ran = flow.run(
        [tool_use("Read", {"file_path": f"{CWD}/{README}"}),
         tool_use("Write", {"file_path": f"{CWD}/{README}",
                            "content": fake_github.files_at(apps, branch)[README] + "\nWeb UI behind Traefik.\n"}),
         text("Documented the web UI.")],
        _review_turns("fine now"))
    assert ran == ["steer", "source", "dev", "publish", "review", "post-review"]
    after_retry = fake_github.commits(apps, branch)
    assert len(after_retry) == len(after_revise) + 1
    assert [r["event"] for r in _reviews(fake_github, apps, pr)] == ["COMMENT", "COMMENT"]

    # /review: only the review jobs; no commit; a review of its own although this head was reviewed
    review_event = flow.comment(pr, "/review")
    ran = flow.run([text("must not run")], _review_turns("still fine"))
    assert ran == ["steer", "source", "review", "post-review"]
    assert fake_github.commits(apps, branch) == after_retry
    reviews = _reviews(fake_github, apps, pr)
    assert len(reviews) == 3 and reviews[-1]["event"] == "COMMENT"
    assert f"request=comment-{review_event['comment']['id']}" in reviews[-1]["body"].splitlines()[0]
    # ... and delivered again: answered already, the review is not run twice
    flow.comment(pr, "/review", comment_id=review_event["comment"]["id"])
    assert flow.run([text("must not run")], [text("must not run")]) == ["steer"]
    assert len(_reviews(fake_github, apps, pr)) == 3

    # a reader's /revise: answered once on the PR, nothing runs
    refused = flow.comment(pr, "/revise use port 9090", author="reader")
    assert flow.run([text("must not run")], [text("must not run")]) == ["steer", "steer-reply"]
    flow.comment(pr, "/revise use port 9090", author="reader", comment_id=refused["comment"]["id"])
    assert flow.run([text("must not run")], [text("must not run")]) == ["steer", "steer-reply"]
    answers = [c for c in fake_github.comments(apps, pr) if c.startswith("<!-- bmad-steer-reply ")]
    assert len(answers) == 1 and "below write" in answers[0]
    assert fake_github.commits(apps, branch) == after_retry
    assert not fake_github.conformance_errors
