"""`playbook drift` against the fake GitHub (PyGithub) and the fake Portainer: one issue, updated, closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.portainer_api import FakePortainer
from flow_harness import BOT, REPO, Harness
from playbook.adapters.portainer import PortainerAPI
from playbook.cli import main
from playbook.delivery.scaffold import render_stack
from playbook.demo.reference import DEMO_STACKS
from playbook.errors import ConfigError
from playbook.topology import drift, importer, registry


def _stack(slug: str, **options) -> dict[str, str]:
    return {f"stacks/{slug}/{name}": text for name, text in render_stack(slug, **options).items()}


PIHOLE = _stack("dns-pihole", **DEMO_STACKS["dns-pihole"])
WHOAMI = _stack("app-whoami", image="traefik/whoami:v1.10.3", port=80)


def _seed(h: Harness, tmp_path: Path) -> Path:
    apps = h.targets["apps"]
    h.github.push(apps, "main", {**PIHOLE, **WHOAMI}, "two stacks")
    checkout = tmp_path / "apps-checkout"
    for rel, text in {**PIHOLE, **WHOAMI}.items():
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_text(text)
    out = tmp_path / "topology.yaml"
    importer.import_to(out, apps=checkout, infra=None, apps_repo=apps, default_node="docker-01")
    return out


def _drift(h: Harness, registry_file: Path, capsys, **env: str | None) -> str:
    for key, value in {**h.env, "PORTAINER_URL": None, "PORTAINER_API_TOKEN": None, **env}.items():
        if value is None:
            h.monkeypatch.delenv(key, raising=False)
        else:
            h.monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_:
        main(["drift", "--registry", str(registry_file), "--issue"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _drift_issues(h: Harness) -> list:
    return [i for i in h.github.repos[REPO].issues.values() if drift.DRIFT_LABEL in i.labels]


def test_hand_bumped_tag_and_deleted_stack_open_one_issue_updated_then_closed(h: Harness, tmp_path: Path, capsys):
    registry_file = _seed(h, tmp_path)
    out = _drift(h, registry_file, capsys)
    assert "0 drift item(s); issue: no drift; no issue open" in out
    assert "portainer: not configured: repos only" in out

    apps = h.targets["apps"]
    compose = PIHOLE["stacks/dns-pihole/docker-compose.yml"].replace("pihole/pihole:2026.07.2", "pihole/pihole:2026.07.3")
    h.github.push(apps, "main", {"stacks/dns-pihole/docker-compose.yml": compose,
                                 **{p: None for p in WHOAMI}}, "bump by hand, delete whoami")
    out = _drift(h, registry_file, capsys)
    assert "dns-pihole: changed image" in out and "pihole/pihole:2026.07.3" in out
    assert "app-whoami: removed stack" in out
    issues = _drift_issues(h)
    assert len(issues) == 1 and issues[0].state == "open" and issues[0].author == (BOT, "Bot")
    body = issues[0].body
    assert body.startswith(drift.MARKER) and "### dns-pihole" in body and "### app-whoami" in body
    assert "| changed | image | ekofr/pihole-exporter:v1.2.0, pihole/pihole:2026.07.2 |" in body
    assert "repos only" in body and "```mermaid" in body

    # next run, more drift: the same issue is updated in place, never a second one
    ports = compose.replace(':53:53/udp"', ':5353:53/udp"')
    h.github.push(apps, "main", {"stacks/dns-pihole/docker-compose.yml": ports}, "move a port")
    out = _drift(h, registry_file, capsys)
    assert "updated #" in out and len(_drift_issues(h)) == 1 and "5353:53/udp" in _drift_issues(h)[0].body
    h.github.reset_calls()
    out = _drift(h, registry_file, capsys, GITHUB_RUN_ID="4343")  # the next day's run, same drift
    assert "already says this" in out and h.github.count("PATCH") == 0 and h.github.count("POST") == 0
    # fixed and small: per target repo one repo + ref + tree read, one blob per stack file; one issue list
    assert h.github.count() == 9 and h.github.count("GET", "/git/blobs/") == 2  # dns-pihole compose + .env.sample
    assert h.github.count("GET", f"/repos/{REPO}/issues") == 1

    # fixed (here: the registry accepts the change): the issue is closed
    checkout = tmp_path / "apps-checkout"
    (checkout / "stacks/dns-pihole/docker-compose.yml").write_text(ports)
    import shutil

    shutil.rmtree(checkout / "stacks" / "app-whoami")
    importer.import_to(registry_file, apps=checkout, infra=None, apps_repo=apps)
    out = _drift(h, registry_file, capsys)
    assert "no drift; closed #" in out
    assert [i.state for i in _drift_issues(h)] == ["closed"]

    # drift coming back reopens that issue; an issue someone else wrote with the marker is never touched
    decoy = h.github.add_issue(REPO, "fake drift", drift.MARKER + "\nmine", labels=[drift.DRIFT_LABEL], author="mallory")
    h.github.push(apps, "main", {**WHOAMI}, "whoami is back")
    out = _drift(h, registry_file, capsys)
    assert f"drift; reopened #{issues[0].number}" in out
    assert h.github.repos[REPO].issues[decoy].body == drift.MARKER + "\nmine"
    assert [i.state for i in _drift_issues(h)] == ["open", "open"]


def test_portainer_live_stacks_status_and_deployed_commit(h: Harness, tmp_path: Path, capsys):
    registry_file = _seed(h, tmp_path)
    head = h.github.branch_head(h.targets["apps"], "main") or ""
    with FakePortainer() as portainer:
        portainer.add_stack("dns-pihole", git_hash="0" * 40, path="stacks/dns-pihole/docker-compose.yml")
        portainer.add_stack("app-unrelated", status=2)
        out = _drift(h, registry_file, capsys, PORTAINER_URL=portainer.url, PORTAINER_API_TOKEN=portainer.token)
        assert f"portainer: compared with {portainer.url}" in out
        assert f"dns-pihole: portainer deployed commit: {head[:12]} -> 000000000000" in out
        assert "app-whoami: portainer live stack: registered -> no Portainer stack" in out
        assert portainer.requests == [("GET", "/api/stacks")]
        portainer.stacks[0]["GitConfig"]["ConfigHash"] = head
        portainer.add_stack("app-whoami", status=2, git_hash=head)
        out = _drift(h, registry_file, capsys, PORTAINER_URL=portainer.url, PORTAINER_API_TOKEN=portainer.token)
        assert "app-whoami: portainer status: active -> inactive (stopped)" in out and "dns-pihole:" not in out

        out = _drift(h, registry_file, capsys, PORTAINER_URL=portainer.url, PORTAINER_API_TOKEN="wrong")
        assert "portainer: not compared: Portainer refused the access token (401)" in out


def test_portainer_adapter_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        PortainerAPI("portainer.lan", "t")
    with FakePortainer() as portainer:
        with pytest.raises(ConfigError) as err:
            PortainerAPI(portainer.url, "bad").list_stacks()
        assert "PORTAINER_API_TOKEN" in str(err.value)
        assert "bad" not in repr(PortainerAPI(portainer.url, "bad"))


def test_untrusted_stack_text_cannot_mention_or_break_the_table(h: Harness, tmp_path: Path) -> None:
    data = registry.empty()
    data["services"].append({"name": "app-evil", "images": ["evil:0"],
                             "source": {"repo": "me/apps", "path": "stacks/app-evil/docker-compose.yml"}})
    snap = drift.Snapshot("me/apps", "apps", "a" * 40, {
        "stacks/app-evil/docker-compose.yml": "services:\n  x:\n    image: \"evil:1 | @admin fixes #1\"\n"})
    report = drift.detect(data, [snap])
    body = drift.render(report, data)
    assert "evil:1 \\| @\u200badmin fixes\u200b #1" in body
    assert "@admin" not in body and "fixes #1" not in body


def test_infra_drift_and_local_checkouts(tmp_path: Path, capsys, monkeypatch, repo_root: Path) -> None:
    from topology.test_registry_import import INFRA_BPG, demo_apps, infra

    apps, infra_dir = demo_apps(tmp_path / "apps"), infra(tmp_path / "infra")
    from playbook.config import load_config

    targets = load_config(repo_root).targets
    out = tmp_path / "topology.yaml"
    importer.import_to(out, apps=apps, infra=infra_dir, apps_repo=targets["apps"].repo,
                       infra_repo=targets["infra"].repo)
    (infra_dir / "terraform" / "docker" / "main.tf").write_text(INFRA_BPG.replace("vm_id     = 105", "vm_id     = 106"))
    (infra_dir / "terraform" / "media" / "main.tf").unlink()
    monkeypatch.setenv("PLAYBOOK_DIR", str(repo_root))
    monkeypatch.delenv("PORTAINER_URL", raising=False)
    with pytest.raises(SystemExit):
        main(["drift", "--registry", str(out), "--apps", str(apps), "--infra", str(infra_dir)])
    printed = capsys.readouterr().out
    assert "docker-01: changed VMID: 105 -> 106" in printed
    assert "media-01: removed VM/LXC" in printed and "ha: removed VM/LXC" in printed
    assert "dns-pihole" not in printed and "issue: not synced" in printed


def test_an_unreadable_target_repo_is_reported_in_the_issue(h: Harness, tmp_path: Path, capsys) -> None:
    registry_file = _seed(h, tmp_path)
    h.github.set_tokens(h.targets["infra"], ["some-other-token"])
    out = _drift(h, registry_file, capsys)
    assert f"{h.targets['infra']}: unreadable repository" in out and "opened #" in out
    body = _drift_issues(h)[0].body
    assert "give BMAD_DISPATCH_TOKEN read access" in body


def test_no_registry_means_nothing_to_compare(h: Harness, tmp_path: Path, capsys) -> None:
    out = _drift(h, tmp_path / "missing.yaml", capsys)
    assert "no topology registry" in out and _drift_issues(h) == []
