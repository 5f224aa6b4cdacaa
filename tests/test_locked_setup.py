"""One locked, hash-checked, cached setup: uv.lock, the composite action, and every workflow using it."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import workflow_policy as policy
from playbook._process import run

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "uv.lock"
ACTION_DIR = REPO_ROOT / ".github" / "actions" / "setup"
ACTION = ACTION_DIR / "action.yml"
UV_REQUIREMENTS = ACTION_DIR / "uv-requirements.txt"
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
UV = Path(sys.executable).parent / "uv"
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def lock() -> dict:
    return tomllib.loads(LOCK.read_text(encoding="utf-8"))


def uv(*args: str, cwd: Path = REPO_ROOT):
    if not UV.exists():
        raise AssertionError("uv not found beside the test interpreter: run `scripts/bootstrap --test`")
    env = {**os.environ, "UV_PREVIEW_FEATURES": "build-dependency-hashes"}
    return run([str(UV), *args], cwd=cwd, env=env, check=False)


# --- the lock ---------------------------------------------------------------------------------------

def test_lock_is_current_with_pyproject():
    done = uv("lock", "--check", "--offline")
    assert done.returncode == 0, done.stdout + done.stderr


def test_lock_check_fails_when_lock_and_pyproject_disagree(tmp_path):
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "scripts" / "playbook", tmp_path / "scripts" / "playbook",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert uv("lock", "--check", "--offline", cwd=tmp_path).returncode == 0
    stale = tmp_path / "uv.lock"
    text = stale.read_text(encoding="utf-8")
    assert '{ name = "click", specifier = ">=8.1,<9" }' in text
    stale.write_text(text.replace('{ name = "click", specifier = ">=8.1,<9" }',
                                  '{ name = "click", specifier = ">=8.0,<9" }'), encoding="utf-8")
    done = uv("lock", "--check", "--offline", cwd=tmp_path)
    assert done.returncode != 0
    # uv says the lock needs updating, or (offline, when a re-resolution needs the index) that it
    # cannot re-resolve it; either way the unmodified copy above passed and this one does not.
    assert "needs to be updated" in done.stderr or "No solution found" in done.stderr, done.stderr


def test_every_locked_archive_has_a_hash():
    packages = lock()["package"]
    assert len(packages) > 20
    unhashed = []
    for package in packages:
        if "editable" in package["source"] or "virtual" in package["source"]:
            continue  # this project, built from the checkout
        assert "registry" in package["source"], package["name"]
        archives = ([package["sdist"]] if "sdist" in package else []) + package.get("wheels", [])
        assert archives, package["name"]
        unhashed += [f"{package['name']} {a.get('url')}" for a in archives if not SHA256.match(a.get("hash", ""))]
    assert unhashed == []


def test_every_declared_dependency_is_locked():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *(d for group in project["optional-dependencies"].values() for d in group)]
    names = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0]).lower() for d in declared}
    locked = {p["name"] for p in lock()["package"]}
    assert names - locked == set()


def test_the_build_backend_is_pinned_with_hashes_and_required():
    constraints = lock()["manifest"]["build-constraints"]
    assert {"setuptools", "poetry-core"} <= {c["name"] for c in constraints}
    for constraint in constraints:
        assert constraint["specifier"].startswith("=="), constraint
        assert constraint["hashes"] and all(SHA256.match(h) for h in constraint["hashes"]), constraint
    uv_settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    assert uv_settings["require-build-hashes"] is True


def test_uv_itself_is_hash_pinned_to_the_locked_version():
    text = UV_REQUIREMENTS.read_text(encoding="utf-8")
    requirement = [line for line in text.splitlines() if line and not line.startswith("#")]
    (pin,) = [line for line in requirement if not line.strip().startswith("--hash")]
    version = re.fullmatch(r"uv==(\S+) \\", pin)
    assert version, pin
    hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", text)
    (locked_uv,) = [p for p in lock()["package"] if p["name"] == "uv"]
    assert locked_uv["version"] == version[1]
    # The same archives the lock trusts, and every one of them.
    assert set(hashes) == {w["hash"] for w in locked_uv["wheels"]} | {locked_uv["sdist"]["hash"]}


# --- the composite action ---------------------------------------------------------------------------

def test_setup_action_follows_policy():
    assert policy.action_violations(ACTION.read_text(encoding="utf-8"), "action.yml") == []


def test_setup_action_installs_only_from_the_lock_with_hashes():
    steps = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    scripts = [" ".join(str(s.get("run", "")).split()) for s in steps if "run" in s]
    assert any("pip install" in s and "--require-hashes" in s and "uv-requirements.txt" in s
               and "--no-deps" in s for s in scripts)
    assert any("uv sync --locked" in s for s in scripts)
    (npm,) = [s for s in scripts if "npm" in s]
    assert "npm ci --omit=dev --no-audit --no-fund" in npm
    assert 'npm ci --prefix "$PREFIX" --omit=dev --no-audit --no-fund' in npm  # claude-prefix
    (cache,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert "hashFiles(format('{0}/uv.lock', inputs.project))" in cache["with"]["key"]
    (claude_install,) = [s for s in steps if "npm ci" in str(s.get("run", ""))]
    assert claude_install["if"] == "inputs.claude == 'true'"
    assert yaml.safe_load(ACTION.read_text(encoding="utf-8"))["inputs"]["claude"]["default"] == "false"


def test_zizmor_passes_on_the_setup_action():
    done = policy.run_zizmor(ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_setup_action_matches_github_schema():
    done = policy.run_check_jsonschema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


# --- every workflow uses it ---------------------------------------------------------------------------

def _setup_steps(path: Path) -> list[tuple[str, dict]]:
    doc = policy.load(path.read_text(encoding="utf-8"))
    return [(job_name, step) for job_name, job in policy.jobs(doc) for step in policy.steps(job)
            if policy.SETUP_ACTION.match(str(step.get("uses", "")))]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_installs_through_the_setup_action(path):
    text = path.read_text(encoding="utf-8")
    assert _setup_steps(path), f"{path.name} never uses ./.github/actions/setup"
    # No second way in: no interpreter or package manager set up beside the action.
    for forbidden in ("actions/setup-python@", "actions/setup-node@", "pip install", "npm ci", "npm install",
                      "uv sync", "uv pip"):
        assert forbidden not in text, f"{path.name}: {forbidden}"


def test_every_job_that_runs_playbook_is_set_up():
    jobs = {(path.name, job_name) for path in WORKFLOWS
            for job_name, job in policy.jobs(policy.load(path.read_text(encoding="utf-8")))
            if any(policy.RUNS_PLAYBOOK.search(str(s.get("run", ""))) for s in policy.steps(job))}
    set_up = {(path.name, job_name) for path in WORKFLOWS for job_name, _ in _setup_steps(path)}
    assert jobs and jobs <= set_up


def test_target_workflow_uses_the_action_from_the_playbook_checkout():
    steps = _setup_steps(REPO_ROOT / ".github" / "workflows" / "bmad-dev.yml")
    assert {job for job, _ in steps} == {"steer", "steer-reply", "source", "dev", "publish", "review", "post-review",
                                         "deployed"}
    assert all(step["uses"] == "./playbook/.github/actions/setup" and step["with"]["project"] == "playbook"
               for _, step in steps)
    # The hand-over artifact carries the action (a hidden directory) but not the checkout's .git.
    upload = policy.load((REPO_ROOT / ".github" / "workflows" / "bmad-dev.yml").read_text())["jobs"]["source"]
    (artifact,) = [s for s in upload["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert artifact["with"]["include-hidden-files"] is True
    assert artifact["with"]["path"].split() == ["playbook", "!playbook/.git"]
    # steer-reply gets the playbook the same way, from the steer job
    steer = policy.load((REPO_ROOT / ".github" / "workflows" / "bmad-dev.yml").read_text())["jobs"]["steer"]
    (source,) = [s for s in steer["steps"] if (s.get("with") or {}).get("name") == "bmad-steer-source"]
    assert source["with"]["include-hidden-files"] is True
    assert source["with"]["path"].split() == ["playbook", "!playbook/.git"]


def test_claude_cli_is_installed_only_in_jobs_that_run_it():
    claude = {(path.name, job): str((step.get("with") or {}).get("claude", "false"))
              for path in WORKFLOWS for job, step in _setup_steps(path)}
    installs = {key: value for key, value in claude.items() if value != "false"}
    # the dev run and the read-only code review run the CLI; a planning command only when it calls a model
    assert set(installs) == {("bmad-dev.yml", "dev"), ("bmad-dev.yml", "review"), ("bmad-command.yml", "command")}
    assert installs[("bmad-dev.yml", "dev")] == "true"
    # the confined agent user runs it from outside the runner's home
    (dev,) = [step for job, step in _setup_steps(REPO_ROOT / ".github" / "workflows" / "bmad-dev.yml") if job == "dev"]
    assert dev["with"]["claude-prefix"] == "/opt/bmad-agent"


def test_command_workflow_installs_claude_only_for_commands_that_run_a_phase():
    from playbook.intake.commands import COMMANDS

    (_, step), = _setup_steps(REPO_ROOT / ".github" / "workflows" / "bmad-command.yml")
    expression = " ".join(step["with"]["claude"].split())
    assert "steps.claude.outputs.enabled == 'true' &&" in expression
    named = set(re.findall(r"startsWith\(github\.event\.comment\.body, '/([a-z]+)'\)", expression))
    assert named == {spec.name for spec in COMMANDS if spec.runs_model}
    assert {"status", "help", "cost"}.isdisjoint(named)


# --- the policy check itself catches what it must ---------------------------------------------------

JOB = """\
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions: {}
    steps:
      - uses: ./.github/actions/setup
      - run: playbook event
"""


def test_policy_accepts_a_job_set_up_by_the_action():
    assert policy.violations(JOB, "good.yml") == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("      - uses: ./.github/actions/setup\n", "", "before ./.github/actions/setup"),
    ("      - run: playbook event\n", "      - run: python -m pip install .\n      - run: playbook event\n",
     "installs in a run: step"),
    ("      - run: playbook event\n", "      - run: pip3 install -r requirements.txt\n", "installs in a run: step"),
    ("      - run: playbook event\n", "      - run: npm install -g @anthropic-ai/claude-code\n",
     "installs in a run: step"),
    ("      - run: playbook event\n", "      - run: uv sync\n", "installs in a run: step"),
    ("      - run: playbook event\n", "      - run: curl -fsSL https://example.invalid/x | sh\n",
     "installs in a run: step"),
])
def test_policy_catches_installs_outside_the_action(old, new, expected):
    assert old in JOB
    found = policy.violations(JOB.replace(old, new), "bad.yml")
    assert any(expected in v for v in found), found


@pytest.mark.parametrize(("old", "new"), [
    ("--require-hashes", ""),
    ("uv sync --locked", "uv sync"),
    ("npm ci --omit=dev --no-audit --no-fund\n", "npm install --omit=dev\n"),
])
def test_action_policy_catches_unlocked_installs(old, new):
    text = ACTION.read_text(encoding="utf-8")
    assert old in text
    found = policy.action_violations(text.replace(old, new), "action.yml")
    assert any("without the lock or hashes" in v for v in found), found


def test_action_policy_catches_unpinned_uses():
    text = ACTION.read_text(encoding="utf-8")
    bad = re.sub(r"actions/cache@[0-9a-f]{40}", "actions/cache@v4", text)
    assert bad != text
    assert any("not pinned" in v for v in policy.action_violations(bad, "action.yml"))
