"""What will deploy: the normalised compose diff between base and head, as a library and a CLI mode."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from playbook.checks.deploy_diff import MARKER, compose_texts, deploy_diff, normalise, render_markdown
from playbook.cli import cli
from playbook.delivery.scaffold import render_stack
from playbook.demo.reference import DEMO_STACKS

PATH = "stacks/dns-pihole/docker-compose.yml"


def pihole(**changes: object) -> str:
    return render_stack("dns-pihole", **dict(DEMO_STACKS["dns-pihole"], **changes))["docker-compose.yml"]


def test_normalise_keeps_what_deploys_in_one_order() -> None:
    config = normalise(yaml.safe_load(pihole()))
    main = config["services"]["dns-pihole"]
    assert list(main) == ["image", "ports", "labels", "volumes", "networks"]
    assert main["ports"] == ["${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}:53->53/tcp",
                             "${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}:53->53/udp"]
    assert list(main["labels"]) == sorted(main["labels"])
    assert config["networks"] == {"proxy": "external"} and config["volumes"] == {"etc-pihole": "owned"}
    assert "environment" not in main and "healthcheck" not in main  # not what the reviewer asked for


def test_same_config_in_other_syntax_is_no_change() -> None:
    long_form = yaml.safe_load(pihole())
    svc = long_form["services"]["dns-pihole"]
    svc["labels"] = [f"{k}={v}" for k, v in reversed(list(svc["labels"].items()))]
    svc["environment"]["FTLCONF_dns_dnssec"] = "true"  # environment is not part of the deploy view
    assert deploy_diff({PATH: pihole()}, {PATH: yaml.safe_dump(long_form)}).empty


def test_an_image_bump_and_a_new_port_show_as_one_changed_stack() -> None:
    head = pihole(image="pihole/pihole:2026.07.3", extra_ports=DEMO_STACKS["dns-pihole"]["extra_ports"] + [
        "${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}:853:853/tcp"])
    diff = deploy_diff({PATH: pihole(), "README.md": "x"}, {PATH: head, "README.md": "y"})
    (change,) = diff.changes
    assert (change.path, change.status, change.services) == (PATH, "changed", ("dns-pihole", "dns-pihole-exporter"))
    added = [line for line in change.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in change.diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert added == ["+    image: pihole/pihole:2026.07.3",
                     "+    - ${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}:853->853/tcp"]
    assert removed == ["-    image: pihole/pihole:2026.07.2"]


def test_added_and_removed_stacks() -> None:
    other = "stacks/media-jellyfin/docker-compose.yml"
    diff = deploy_diff({PATH: pihole()}, {other: "services:\n  jf:\n    image: jellyfin/jellyfin:10.11.11\n",
                                          PATH: None})
    assert [(c.path, c.status) for c in diff.changes] == [(PATH, "removed"), (other, "added")]


def test_markdown_is_one_marked_comment_that_cannot_break_its_fence() -> None:
    hostile = "services:\n  x:\n    image: a/b:1\n    labels:\n      note: \"```\\n@owner Closes #1\"\n"
    text = render_markdown(deploy_diff({}, {"stacks/a-b/docker-compose.yml": hostile}))
    assert text.startswith(MARKER + "\n### What will deploy")
    fence_lines = [line for line in text.splitlines() if line.startswith("````")]
    assert len(fence_lines) == 2  # a longer fence than any backtick run inside
    assert render_markdown(deploy_diff({}, {})).endswith("No compose stack changes what Portainer runs.\n")


def test_cli_diff_base_between_two_checkouts(tmp_path: Path) -> None:
    for side, image in (("base", "pihole/pihole:2026.07.2"), ("head", "pihole/pihole:2026.07.3")):
        target = tmp_path / side / PATH
        target.parent.mkdir(parents=True)
        target.write_text(pihole(image=image))
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "head"), "--diff-base", str(tmp_path / "base")])
    assert result.exit_code == 0, result.output
    assert "+    image: pihole/pihole:2026.07.3" in result.output and MARKER in result.output
    as_json = CliRunner().invoke(cli, ["check", str(tmp_path / "head"), "--diff-base", str(tmp_path / "base"),
                                       "--format", "json"])
    assert [s["path"] for s in json.loads(as_json.output)["stacks"]] == [PATH]
    assert compose_texts(tmp_path / "head") == {PATH: pihole(image="pihole/pihole:2026.07.3")}
    refused = CliRunner().invoke(cli, ["check", str(tmp_path / "head"), "--diff-base", str(tmp_path / "base"),
                                       "--format", "sarif"])
    assert refused.exit_code == 2
