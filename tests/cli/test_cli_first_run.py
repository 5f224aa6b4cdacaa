"""Local mode as a newcomer meets it: branches from the default branch, all-or-nothing steps,
PLAYBOOK_DIR, stale and hand-edited approvals, truncation, the commands offered, `playbook list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from playbook.adapters import git as gitlib
from playbook.cli import cli


def run(*argv: str, ok: bool = True):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, list(argv))
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    else:
        assert result.exit_code != 0, result.output
    return result


def branches(repo: Path) -> list[str]:
    return sorted(gitlib.git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split())


def snapshot(repo: Path) -> tuple[str, str | None, list[str], str]:
    return (gitlib.current_branch(repo), gitlib.head(repo), branches(repo),
            gitlib.git(repo, "status", "--porcelain", "-uall"))


def test_two_plans_in_a_row_give_independent_branches(playbook_checkout):
    repo = str(playbook_checkout)
    main = gitlib.head(repo)
    first = json.loads(run("plan", "Deploy Pi-hole with Traefik", "--repo", repo, "--json").output)
    second = json.loads(run("plan", "Deploy Jellyfin with Traefik", "--repo", repo, "--json").output)
    assert first["base"] == second["base"] == "main"
    assert first["branch"] != second["branch"]
    assert gitlib.git(repo, "rev-parse", second["branch"] + "~1").strip() == main
    assert gitlib.git(repo, "merge-base", first["branch"], second["branch"]).strip() == main
    # the second branch carries nothing of the first request
    assert not gitlib.git(repo, "ls-tree", "-r", "--name-only", second["branch"], "--",
                          "_bmad-output/planning-artifacts/1-deploy-pi-hole-with-traefik").strip()
    assert first["review"].endswith("/product-brief.md")


def test_plan_names_the_product_brief_and_the_revision_to_approve(playbook_checkout):
    out = run("plan", "Deploy Pi-hole", "--repo", str(playbook_checkout)).output
    assert "next: review the Product Brief (_bmad-output/planning-artifacts/1-deploy-pi-hole/product-brief.md)" in out
    assert "`playbook approve r1`" in out and "request.md" not in out


def test_a_failed_plan_leaves_the_checkout_exactly_as_it_was(playbook_checkout):
    repo = str(playbook_checkout)
    before = snapshot(playbook_checkout)
    result = run("plan", "Deploy Vaultwarden", "--online", "--repo", repo, ok=False)
    assert "GEMINI_API_KEY" in str(result.exception)
    assert "retry with `playbook plan" in str(result.exception) and "nothing was changed" in str(result.exception)
    assert snapshot(playbook_checkout) == before
    assert gitlib.git(repo, "status", "--porcelain", "-uall", "--ignored") == ""
    # and the next plan takes the first free number, as if nothing had happened
    assert json.loads(run("plan", "Deploy Vaultwarden", "--repo", repo, "--json").output)["branch"] == \
        "bmad/1-deploy-vaultwarden"


def test_a_failed_approve_undoes_the_approval_commit(playbook_checkout):
    repo = str(playbook_checkout)
    run("plan", "Deploy Pi-hole", "--repo", repo)
    (playbook_checkout / "notes.txt").write_text("my own untracked notes\n")
    before = snapshot(playbook_checkout)
    result = run("approve", "--online", "--repo", repo, ok=False)  # approving works, the PRD cannot be drafted
    assert "retry with `playbook approve`" in str(result.exception)
    assert snapshot(playbook_checkout) == before
    assert (playbook_checkout / "notes.txt").read_text() == "my own untracked notes\n"
    status = json.loads(run("status", "--json", "--repo", repo).output)
    assert [p["status"] for p in status["phases"]] == ["draft", None, None, None]


def test_playbook_dir_and_a_subdirectory_both_find_the_checkout(playbook_checkout, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PLAYBOOK_DIR", str(playbook_checkout))
    run("plan", "Deploy Pi-hole")
    assert json.loads(run("status", "--json").output)["stage"] == "awaiting-approval"
    run("approve", "r1")
    assert [r["request"] for r in json.loads(run("list", "--json").output)["requests"]] == ["1-deploy-pi-hole"]
    monkeypatch.delenv("PLAYBOOK_DIR")
    monkeypatch.chdir(playbook_checkout / "skills")
    assert json.loads(run("status", "--json").output)["phases"][1]["status"] == "draft"


def test_approve_refuses_a_stale_revision_like_the_slash_command(playbook_checkout):
    repo = str(playbook_checkout)
    run("plan", "Deploy Pi-hole", "--repo", repo)
    run("revise", "Use pihole.home.example", "--repo", repo)
    head = gitlib.head(repo)
    result = run("approve", "r1", "--repo", repo, ok=False)
    assert "stale approval: you named r1, but the current Product Brief is r2" in str(result.exception)
    assert "`playbook approve r2`" in str(result.exception)
    assert gitlib.head(repo) == head
    assert "not a revision" in run("approve", "latest", "--repo", repo, ok=False).output
    out = run("approve", "r2", "--repo", repo).output
    assert "brief: r2 approved" in out and "prd: r1 committed" in out
    assert "next: review the PRD" in out and "`playbook approve r1`" in out


@pytest.mark.parametrize("commit_it", [False, True], ids=["uncommitted", "committed"])
def test_a_hand_edited_draft_becomes_its_own_revision_and_is_not_approved(playbook_checkout, commit_it):
    repo = str(playbook_checkout)
    plan = json.loads(run("plan", "Deploy Pi-hole", "--repo", repo, "--json").output)
    draft = playbook_checkout / plan["review"]
    draft.write_text(draft.read_text() + "\nKeep DNS on the host network.\n")
    if commit_it:
        gitlib.git(repo, "commit", "-qam", "tweak the brief")
    out = run("approve", "--repo", repo).output
    assert "your hand edit is recorded as r2" in out and "nothing was approved" in out
    assert "`playbook approve r2`" in out
    assert gitlib.git(repo, "status", "--porcelain") == ""
    text = draft.read_text()
    assert "revision: 2" in text and "status: draft" in text and "trigger: hand-edit" in text
    assert "Keep DNS on the host network." in text
    assert "(hand edit)" in run("status", "--repo", repo).output
    assert "stale approval" in str(run("approve", "r1", "--repo", repo, ok=False).exception)
    assert "brief: r2 approved" in run("approve", "r2", "--repo", repo).output
    assert "Keep DNS on the host network." in gitlib.git(repo, "show", f"HEAD~1:{plan['review']}")


def test_revise_refuses_to_overwrite_an_uncommitted_hand_edit(playbook_checkout):
    repo = str(playbook_checkout)
    plan = json.loads(run("plan", "Deploy Pi-hole", "--repo", repo, "--json").output)
    draft = playbook_checkout / plan["review"]
    edited = draft.read_text() + "\nmine\n"
    draft.write_text(edited)
    result = run("revise", "Use a macvlan", "--repo", repo, ok=False)
    assert "uncommitted edits that a revision would overwrite" in str(result.exception)
    assert draft.read_text() == edited


def test_a_truncated_request_says_so_on_the_terminal(playbook_checkout):
    config = playbook_checkout / "playbook.yaml"
    config.write_text(config.read_text().replace("request_chars: 20000", "request_chars: 120"))
    gitlib.git(playbook_checkout, "commit", "-qam", "small request limit")
    words = "Deploy Pi-hole with Traefik ingress and Let's Encrypt TLS, Authentik SSO, Prometheus metrics " * 3
    result = run("plan", words, "--repo", str(playbook_checkout))
    assert "warning: the request was longer than limits.request_chars" in result.output
    data = json.loads(run("status", "--json", "--repo", str(playbook_checkout)).output)
    request = gitlib.git(playbook_checkout, "show", f"HEAD:_bmad-output/planning-artifacts/{data['request']}/request.md")
    assert "truncated: true" in request
    body = request.split("---", 2)[2].strip()
    assert words.startswith(body) and words[len(body)] == " "  # cut at a word boundary


def test_status_offers_only_commands_that_work_locally(playbook_checkout):
    repo = str(playbook_checkout)
    run("plan", "Deploy Pi-hole", "--repo", repo)
    out = run("status", "--repo", repo).output
    assert "`playbook approve r1`" in out and '`playbook revise "<feedback>"`' in out
    for github_only in ("/cancel", "/cost", "/dispatch", "/retry", "/route", "cancel", "dispatch"):
        assert github_only not in out.split("next:")[1]
    for _ in range(4):
        run("approve", "--repo", repo)
    data = json.loads(run("status", "--json", "--repo", repo).output)
    assert data["stage"] == "complete"
    assert data["allowed"] == ["status", "dev", "list"]
    assert "playbook dev --story <ID> --target-dir <target checkout>" in data["next"]


def test_list_shows_every_request_from_any_branch(playbook_checkout):
    repo = str(playbook_checkout)
    run("plan", "Deploy Pi-hole", "--repo", repo)
    run("approve", "--repo", repo)
    run("plan", "Deploy Jellyfin", "--repo", repo)
    gitlib.git(repo, "switch", "-q", "main")
    gitlib.git(repo, "merge", "-q", "--no-ff", "bmad/2-deploy-jellyfin", "-m", "merge jellyfin")
    gitlib.git(repo, "branch", "-q", "-D", "bmad/2-deploy-jellyfin")
    data = json.loads(run("list", "--json", "--repo", repo).output)["requests"]
    assert [(r["request"], r["branch"], r["stage"], r["phase"], r["revision"]) for r in data] == [
        ("1-deploy-pi-hole", "bmad/1-deploy-pi-hole", "awaiting-approval", "prd", 1),
        ("2-deploy-jellyfin", "main", "awaiting-approval", "brief", 1),
    ]
    assert data[0]["next"][0] == "git switch bmad/1-deploy-pi-hole" and data[0]["cost_usd"] == 0.0
    out = run("list", "--repo", repo).output
    assert "1-deploy-pi-hole" in out and "2-deploy-jellyfin" in out and "next: git switch" in out
    # a third plan from the default branch does not reuse the merged request's number
    assert json.loads(run("plan", "Deploy Vaultwarden", "--repo", repo, "--json").output)["branch"] == \
        "bmad/3-deploy-vaultwarden"


def test_list_shows_requests_fetched_from_github_and_plan_skips_their_numbers(playbook_checkout, tmp_path):
    run("plan", "Deploy Pi-hole", "--repo", str(playbook_checkout))
    clone = tmp_path / "clone"
    gitlib.git(tmp_path, "clone", "-q", str(playbook_checkout), str(clone))
    gitlib.git(clone, "switch", "-q", "main")
    gitlib.git(clone, "branch", "-q", "-D", "bmad/1-deploy-pi-hole")  # only origin/bmad/1-… is left
    (entry,) = json.loads(run("list", "--json", "--repo", str(clone)).output)["requests"]
    assert (entry["request"], entry["branch"], entry["checked_out"]) == ("1-deploy-pi-hole", "bmad/1-deploy-pi-hole",
                                                                         False)
    assert entry["next"][0] == "git switch bmad/1-deploy-pi-hole"
    assert json.loads(run("plan", "Deploy Jellyfin", "--repo", str(clone), "--json").output)["branch"] == \
        "bmad/2-deploy-jellyfin"
