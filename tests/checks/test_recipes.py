"""Service recipes (patterns/services/): each example stack passes `playbook check` with every linter,
each header agrees with the checker's table, and the recipes reach Claude and the scaffolder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from playbook.checks import Tools, check_path, format_findings
from playbook.checks.recipes import RECIPES
from playbook.checks.rules_terraform import check_module
from playbook.checks.yamldoc import load
from playbook.delivery.scaffold import env_name_ok
from playbook.patterns import _split, load_recipes, recipes_for

PATTERNS = Path(__file__).resolve().parents[2] / "patterns"
RECIPE_DOCS = sorted(p for p in (PATTERNS / "services").glob("*.md") if p.name != "README.md")
BLOCK = re.compile(r"^```(?P<lang>\w+)(?: (?P<file>\S+))?\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
REQUIRED = {"pihole", "traefik", "authentik-outpost", "jellyfin", "vaultwarden", "home-assistant", "arr"}


def header(path: Path) -> dict:
    meta, _ = _split(path.read_text())
    return meta


def example_files(path: Path) -> dict[str, str]:
    return {m["file"]: m["body"] for m in BLOCK.finditer(path.read_text()) if m["file"]}


def test_every_required_recipe_exists() -> None:
    assert {p.stem for p in RECIPE_DOCS} == REQUIRED


@pytest.mark.parametrize("doc", RECIPE_DOCS, ids=[p.stem for p in RECIPE_DOCS])
def test_recipe_example_stack_passes_every_layer(tmp_path: Path, doc: Path) -> None:
    tools = Tools.discover()
    if not (tools.docker_compose and tools.compose_lint and tools.yamllint):
        if os.environ.get("CI"):
            pytest.fail("the pinned linters are missing in CI: pip install the package")
        pytest.skip("linters not installed")
    meta = header(doc)
    stack = tmp_path / "stacks" / meta["stack"]
    files = example_files(doc)
    assert {"docker-compose.yml", ".env.sample"} <= set(files), doc
    for name, body in files.items():
        (stack / name).parent.mkdir(parents=True, exist_ok=True)
        (stack / name).write_text(body)
    (stack / "README.md").write_text(f"# {meta['stack']}\n\nSee patterns/services/{doc.name}.\n")
    findings = check_path(stack, tools=tools)
    assert [f for f in findings if f.severity != "warning"] == [], format_findings(findings, "text")
    # The recipe's image really is the one the checker judges by, pinned to the current tag.
    compose = files["docker-compose.yml"]
    for image, tag in meta["current"].items():
        assert f"image: {image}:{tag}" in compose, (doc, image)


@pytest.mark.parametrize("doc", RECIPE_DOCS, ids=[p.stem for p in RECIPE_DOCS])
def test_recipe_header_matches_the_checker_table(doc: Path) -> None:
    meta = header(doc)
    assert set(meta) >= {"name", "title", "applies_to", "checks", "stack", "aliases", "images", "current", "sources"}
    assert meta["name"] == doc.stem and meta["checks"] == ["service-recipe"] and meta["sources"]
    rows = [r for r in RECIPES if r.name == doc.stem]
    assert rows, f"no row for {doc.stem} in checks/recipes.py"
    assert set(meta["images"]) == {image for r in rows for image in r.images}
    for image, tag in meta["current"].items():
        (row,) = [r for r in rows if image in r.images]
        assert row.current == str(tag), (doc, image)


def test_a_recipe_catches_what_its_document_warns_about(tmp_path: Path) -> None:
    doc = PATTERNS / "services" / "vaultwarden.md"
    stack = tmp_path / "stacks" / "security-vaultwarden"
    stack.mkdir(parents=True)
    for name, body in example_files(doc).items():
        (stack / name).write_text(body.replace('SIGNUPS_ALLOWED: "false"', 'SIGNUPS_ALLOWED: "true"'))
    (stack / "README.md").write_text("# x\n")
    findings = [f for f in check_path(stack, tools=Tools()) if f.severity == "error"]
    assert [(f.rule, "SIGNUPS_ALLOWED" in f.message) for f in findings] == [("service-recipe", True)]


def test_recipes_reach_claude_only_for_the_services_a_story_names(tmp_path: Path) -> None:
    from playbook.delivery.devrun import read_recipes

    recipes = load_recipes(PATTERNS)
    assert {r.pattern.name for r in recipes} == REQUIRED
    chosen = recipes_for("Deploy Pi-hole with Traefik ingress", recipes)
    assert [r.pattern.name for r in chosen] == ["pihole", "traefik"]
    assert recipes_for("Add a Sonarr instance", recipes)[0].pattern.name == "arr"
    playbook = tmp_path / "playbook"
    (playbook / "patterns").mkdir(parents=True)
    (playbook / "patterns" / "services").symlink_to(PATTERNS / "services")
    text = read_recipes(playbook, "apps", "Deploy Pi-hole for the LAN")
    assert text.startswith("### patterns/services/pihole.md") and "FTLCONF_dns_listeningMode" in text
    assert read_recipes(playbook, "infra", "Deploy Pi-hole for the LAN") == ""


@pytest.mark.parametrize(("name", "ok"), [
    ("FTLCONF_dns_listeningMode", True), ("FTLCONF_webserver_api_password", True),
    ("JELLYFIN_PublishedServerUrl", True), ("PUID", True), ("Mixed_Case", False), ("jellyfin_x", False),
])
def test_the_scaffolder_accepts_the_settings_recipes_document(name: str, ok: bool) -> None:
    assert env_name_ok(name) is ok


# --- the convention documents' examples -------------------------------------------------------

CONVENTION_DOCS = sorted(p for p in PATTERNS.glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("doc", CONVENTION_DOCS, ids=[p.stem for p in CONVENTION_DOCS])
def test_pattern_document_examples_parse(doc: Path) -> None:
    blocks = list(BLOCK.finditer(doc.read_text()))
    assert blocks, doc
    for block in blocks:
        if block["lang"] == "yaml":
            load(block["body"])  # raises YamlProblem with the line
        elif block["lang"] == "hcl":
            import hcl2

            hcl2.loads(block["body"])


def test_terraform_pattern_example_module_passes_our_rules(tmp_path: Path) -> None:
    text = (PATTERNS / "terraform-proxmox.md").read_text()
    module = tmp_path / "terraform" / "modules" / "lxc"
    module.mkdir(parents=True)
    for block in BLOCK.finditer(text):
        first = block["body"].splitlines()[0]
        if block["lang"] == "hcl" and first.startswith("# terraform/modules/lxc/"):
            (module / first.rsplit("/", 1)[1]).write_text(block["body"])
    assert (module / "versions.tf").is_file()
    assert [f for f in check_module(module) if f.rule != "terraform-layout"] == []
