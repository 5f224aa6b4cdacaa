"""Routing a story to a node from the registry, and the note the dev run puts in Claude's prompt."""

from __future__ import annotations

from pathlib import Path

from playbook.topology import importer, placement, registry
from topology.test_registry_import import demo_apps


def test_service_stays_where_it_runs_and_new_ones_go_to_the_busiest_docker_host(tmp_path: Path) -> None:
    data = importer.build(apps=demo_apps(tmp_path / "apps"), infra=None, default_node="docker-01").registry
    assert placement.suggest_node(data, "dns-pihole") == ("docker-01", "`dns-pihole` already runs there")
    node, why = placement.suggest_node(data, "media-jellyfin")
    assert node == "docker-01" and "busiest" in why
    note = placement.placement_note(data, "media-jellyfin")
    assert "Node: `docker-01`" in note and "53/tcp, 53/udp" in note and "dns-pihole.example.com" in note
    own = placement.placement_note(data, "dns-pihole")
    assert "do not publish them again): none." in own  # its own ports are not "taken"
    assert placement.suggest_node(registry.empty(), "x") == (None, "no service in the registry has a node yet")
    assert placement.placement_note(registry.empty(), "x") == ""
