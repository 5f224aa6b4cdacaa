"""The demo's local forge answers like GitHub where delivery asks it: the default branch's newest
commits, merges and what they merged, newest first (what `receive` checks merge_sha against)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playbook.demo.local_forge import LocalHub


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_recent_default_commits_lists_the_merge_and_what_it_merged(tmp_path: Path) -> None:
    repo = tmp_path / "playbook"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.md").write_text("a\n")
    _git(repo, "add", "a.md")
    _git(repo, "commit", "-q", "-m", "start")
    _git(repo, "switch", "-q", "-c", "bmad/1-pihole")
    (repo / "b.md").write_text("b\n")
    _git(repo, "add", "b.md")
    _git(repo, "commit", "-q", "-m", "stories")
    story = _git(repo, "rev-parse", "HEAD")
    hub = LocalHub({"you/homelab-playbook": repo})
    pull = hub.open_pull("you/homelab-playbook", "bmad/1-pihole", "main", "stories", "")
    merge = hub.merge_pull("you/homelab-playbook", pull.number)

    branch, commits = hub.forge("you/homelab-playbook").recent_default_commits(100)

    assert branch == "main"
    assert commits[0] == merge and story in commits and len(commits) == 3
    assert hub.forge("you/homelab-playbook").recent_default_commits(1) == ("main", [merge])
