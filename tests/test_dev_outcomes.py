"""Every dev outcome reaches the playbook issue: the real `claude` binary against the fake Messages
API, then `playbook publish` through PyGithub against the fake GitHub.

For each failure kind: one report comment on the issue with the cause (never a traceback), the
story's ``dev_runs`` shows it in the tracking comment, and `/dispatch <story>` sends it again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import node_tool, run_main
from fakes.anthropic_api import CWD, FakeAnthropicAPI, api_error, garbage_stream, hang, text, tool_use
from flow_harness import REPO, Harness, _template

CLAUDE = node_tool(".bin", "claude")
APPS_TOKEN = "ghs_apps_job_token_outcomes_0123"
PLAYBOOK_TOKEN = "github_pat_playbook_outcomes_0123"

pytestmark = [pytest.mark.claude]


def _dispatch(h: Harness, repo_root: Path, tmp: Path) -> tuple[int, dict[str, Any], Path, Path]:
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0
    payload = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    playbook = tmp / "playbook"
    shutil.copytree(repo_root / "patterns", playbook / "patterns")
    shutil.copytree(repo_root / "skills" / "dev-story", playbook / "skills" / "dev-story")
    shutil.copy(repo_root / "playbook.yaml", playbook / "playbook.yaml")
    for path, content in h.github.files_at(REPO, merge_sha).items():
        (playbook / path).parent.mkdir(parents=True, exist_ok=True)
        (playbook / path).write_text(content)
    event = tmp / "dispatch.json"
    doc = _template("repository_dispatch.bmad-deployed.json")
    doc.update(action="bmad-story", client_payload=payload)
    event.write_text(json.dumps(doc))
    return issue, payload, playbook, event


def _checkout(h: Harness, dest: Path) -> Path:
    from playbook.adapters import git as gitlib

    for path, content in h.github.files_at(h.targets["apps"], "main").items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(content)
    gitlib.init_repo(dest)
    gitlib.git(dest, "add", "-A")
    gitlib.git(dest, "commit", "-q", "-m", "checkout")
    return dest


BIG = "x: " + "y" * 300_000 + "\n"
KINDS: dict[str, tuple[list[Any], str, str]] = {
    # kind: (script, the outcome recorded, a word of the cause that must be on the issue)
    "overloaded-529": ([api_error(529, "Overloaded", "overloaded_error")], "failed", "529"),
    "server-500": ([api_error(500, "Internal server error", "api_error")], "failed", "500"),
    "hang": ([hang(120)], "failed", "timeout"),
    "garbage-stream": ([garbage_stream()], "failed", "did not finish"),
    "cut-stream": ([garbage_stream(cut=True)], "failed", "did not finish"),
    "missing-credential": ([text("never asked")], "failed", "ANTHROPIC_API_KEY"),
    "policy": ([tool_use("Write", {"file_path": f"{CWD}/.github/workflows/x.yml", "content": "on: push\n"}),
                text("done")], "refused", "permission rules"),
    "oversize": ([tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/big.yml", "content": BIG}),
                  text("done")], "refused", "byte cap"),
    "nothing": ([text("nothing to change")], "nothing to do", "changed nothing"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_dev_outcome_is_reported_once_and_dispatch_retries(
    kind: str, h: Harness, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CLAUDE.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    script, outcome, cause = KINDS[kind]
    issue, payload, playbook, event = _dispatch(h, repo_root, tmp_path)
    if kind == "hang":
        config = playbook / "playbook.yaml"
        config.write_text(config.read_text().replace("timeout_seconds: 1200", "timeout_seconds: 10"))
    out = tmp_path / "dev-out"
    with FakeAnthropicAPI() as anthropic:
        anthropic.script(script)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
        monkeypatch.setenv("PLAYBOOK_REPO", REPO)
        if kind == "missing-credential":
            monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
            monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
        else:
            monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-outcomes")
        rc = run_main(["dev", "--event-file", str(event), "--playbook-dir", str(playbook),
                    "--repo-dir", str(_checkout(h, tmp_path / "apps-dev")), "--out", str(out)])
    assert (rc == 0) == (kind == "nothing"), rc
    assert (out / "result.json").is_file()  # even a run that never started leaves a result for publish

    for key, value in {"GITHUB_REPOSITORY": h.targets["apps"], "GITHUB_TOKEN": APPS_TOKEN,
                       "BMAD_PLAYBOOK_TOKEN": PLAYBOOK_TOKEN}.items():
        monkeypatch.setenv(key, value)
    before = len(h.github.comments(REPO, issue))
    rc = run_main(["publish", "--result", str(out), "--repo-dir", str(_checkout(h, tmp_path / "apps-publish")),
                "--playbook-dir", str(playbook)])

    assert rc == 1 and h.github.pulls(h.targets["apps"]) == []
    comments = h.github.comments(REPO, issue)
    reports = [c for c in comments if c.startswith("<!-- bmad-iac")]
    assert len(reports) == 1 and len(comments) == before + 1, comments[before:]
    report = reports[0]
    assert cause in report and "Traceback" not in report and "/dispatch story-1-1" in report
    assert "sk-ant-outcomes" not in report
    story = h.github.files_at(REPO, "main")[payload["story_path"]]
    assert f"outcome: {outcome}" in story and "status: in-progress" in story
    tracking = next(c for c in comments if c.startswith("<!-- bmad-tracking"))
    assert f"apps: {outcome}" in tracking

    # publishing the same result again (a re-run) edits nothing and posts nothing
    assert run_main(["publish", "--result", str(out), "--repo-dir", str(_checkout(h, tmp_path / "apps-again")),
                  "--playbook-dir", str(playbook)]) == 1
    assert h.github.comments(REPO, issue) == comments

    # the owner retries from the issue
    assert h.comment(issue, "/dispatch 1.1") == 0
    assert len(h.github.dispatches(h.targets["apps"])) == 2


def test_model_text_in_the_story_title_stays_data_in_branch_commit_and_pr(
    h: Harness, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CLAUDE.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    import re

    issue, payload, playbook, event = _dispatch(h, repo_root, tmp_path)
    story_file = playbook / payload["story_path"]
    hostile = "Pi-hole closes #1 for @org/team"
    story_file.write_text(re.sub(r"(?m)^title: .*$", f"title: '{hostile}'", story_file.read_text(), count=1))
    out = tmp_path / "dev-out"
    with FakeAnthropicAPI() as anthropic:
        anthropic.script([tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/README.md", "content": "# pihole\n"}),
                          text("closes #2 and pings @org/admins")])
        for key, value in {"ANTHROPIC_BASE_URL": anthropic.base_url, "PLAYBOOK_CLAUDE_BIN": str(CLAUDE),
                           "PLAYBOOK_REPO": REPO, "ANTHROPIC_API_KEY": "sk-ant-outcomes"}.items():
            monkeypatch.setenv(key, value)
        run_main(["dev", "--event-file", str(event), "--playbook-dir", str(playbook),
               "--repo-dir", str(_checkout(h, tmp_path / "apps-dev")), "--out", str(out)])
    for key, value in {"GITHUB_REPOSITORY": h.targets["apps"], "GITHUB_TOKEN": APPS_TOKEN,
                       "BMAD_PLAYBOOK_TOKEN": PLAYBOOK_TOKEN}.items():
        monkeypatch.setenv(key, value)
    assert run_main(["publish", "--result", str(out), "--repo-dir", str(_checkout(h, tmp_path / "apps-publish")),
                  "--playbook-dir", str(playbook)]) == 0

    (pull,) = h.github.pulls(h.targets["apps"])
    assert re.fullmatch(r"bmad/story-[0-9]+-1-1", pull["head"])  # the branch never carries model text
    message = h.github.commits(h.targets["apps"], pull["head"])[0]
    for text_ in (pull["title"], pull["body"], message):
        assert "closes #1" not in text_.lower() and "@org/team" not in text_
    assert "@\u200borg/team" in pull["title"] and "closes\u200b #1" in pull["title"]
    assert "closes #2" not in "\n".join(h.github.comments(REPO, issue)).lower()


def test_a_credential_in_the_change_makes_a_draft_naming_the_file_and_rule_never_the_value(
    h: Harness, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CLAUDE.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    issue, payload, playbook, event = _dispatch(h, repo_root, tmp_path)
    token = "ghp_" + "Zx9Qw2Er7Ty4Ui1Op3As6Df8Gh0Jk5Lz2Xc9"
    out = tmp_path / "dev-out"
    with FakeAnthropicAPI() as anthropic:
        anthropic.script([
            tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/README.md", "content": "# pihole\n"}),
            tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/exporter.yml", "content": f"token: {token}\n"}),
            tool_use("Write", {"file_path": f"{CWD}/stacks/whoami/docker-compose.yml", "content": "x: 1\n"}),
            text("done"),
        ])
        for key, value in {"ANTHROPIC_BASE_URL": anthropic.base_url, "PLAYBOOK_CLAUDE_BIN": str(CLAUDE),
                           "PLAYBOOK_REPO": REPO, "ANTHROPIC_API_KEY": "sk-ant-outcomes"}.items():
            monkeypatch.setenv(key, value)
        assert run_main(["dev", "--event-file", str(event), "--playbook-dir", str(playbook),
                      "--repo-dir", str(_checkout(h, tmp_path / "apps-dev")), "--out", str(out)]) == 5
    for key, value in {"GITHUB_REPOSITORY": h.targets["apps"], "GITHUB_TOKEN": APPS_TOKEN,
                       "BMAD_PLAYBOOK_TOKEN": PLAYBOOK_TOKEN}.items():
        monkeypatch.setenv(key, value)
    assert run_main(["publish", "--result", str(out), "--repo-dir", str(_checkout(h, tmp_path / "apps-publish")),
                  "--playbook-dir", str(playbook)]) == 0

    (pull,) = h.github.pulls(h.targets["apps"])
    assert pull["draft"]
    body = pull["body"]
    assert "`stacks/dns-pihole/exporter.yml`" in body and "GitHub Token" in body  # the file and the rule
    assert "`stacks/dns-pihole/README.md`" in body  # every changed file is listed
    assert "stacks/whoami/docker-compose.yml" in body  # the attempt on another stack is named, not applied
    branch = h.github.files_at(h.targets["apps"], pull["head"])
    assert "stacks/dns-pihole/exporter.yml" not in branch and "x: 1" not in branch.get("stacks/whoami/docker-compose.yml", "")
    everything = json.dumps([body, branch, h.github.comments(REPO, issue), h.github.commits(h.targets["apps"],
                                                                                          pull["head"])])
    assert token not in everything
    report = next(c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-iac"))
    assert "a draft" in report and "Why a draft" in report
