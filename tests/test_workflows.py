"""The workflows in .github/: policy, the offline linters, and the guards behind their filters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

import workflow_policy as policy

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
ISSUE_TEMPLATES = REPO_ROOT / ".github" / "ISSUE_TEMPLATE"
EXPECTED = {"bmad-phase.yml", "bmad-command.yml", "bmad-dispatch.yml", "bmad-deployed.yml",
            "bmad-reconcile.yml", "bmad-dev.yml", "bmad-drift.yml", "ci.yml"}


def workflow(name: str) -> dict:
    return policy.load((WORKFLOWS_DIR / name).read_text(encoding="utf-8"))


def condition(job: dict) -> str:
    return " ".join(str(job.get("if", "")).split())


def test_every_expected_workflow_exists():
    assert {p.name for p in WORKFLOWS} >= EXPECTED


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_follows_policy(path):
    assert policy.file_violations(path) == []


def test_zizmor_offline_passes():
    done = policy.run_zizmor(WORKFLOWS_DIR)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes():
    done = policy.run_actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_github_schema():
    done = policy.run_check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_issue_form_and_config_match_github_schema():
    form = policy.run_check_jsonschema("vendor.github-issue-forms", ISSUE_TEMPLATES / "bmad-request.yml")
    config = policy.run_check_jsonschema("vendor.github-issue-config", ISSUE_TEMPLATES / "config.yml")
    assert form.returncode == 0, form.stdout + form.stderr
    assert config.returncode == 0, config.stdout + config.stderr


def test_issue_form_applies_the_label_the_phase_workflow_waits_for():
    form = yaml.safe_load((ISSUE_TEMPLATES / "bmad-request.yml").read_text(encoding="utf-8"))
    assert form["labels"] == ["bmad:brief"]
    job = workflow("bmad-phase.yml")["jobs"]["phase"]
    assert workflow("bmad-phase.yml")["on"] == {"issues": {"types": ["opened", "labeled"]}}
    assert "contains(github.event.issue.labels.*.name, 'bmad:brief')" in condition(job)
    assert "github.event.label.name == 'bmad:brief'" in condition(job)


def test_same_action_is_pinned_to_the_same_commit_everywhere():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for match in re.finditer(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*#\s*(\S+)", path.read_text()):
            pins.setdefault(match[1], set()).add(f"{match[2]} {match[3]}")
    assert pins, "no pinned actions found"
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


# --- the command workflow: who can start a runner, and the guard behind the zizmor ignore ----------

def test_command_workflow_starts_only_for_human_slash_commands_on_issues():
    doc = workflow("bmad-command.yml")
    assert doc["on"] == {"issue_comment": {"types": ["created"]}}
    (job,) = doc["jobs"].values()
    cond = condition(job)
    assert "startsWith(github.event.comment.body, '/')" in cond
    assert "github.event.comment.user.type != 'Bot'" in cond
    assert "!github.event.issue.pull_request" in cond
    # All three must hold: an `||` would let any one of them start a runner.
    assert "||" not in cond


def _ignores() -> list[tuple[str, str]]:
    return [(path.name, line) for path in WORKFLOWS for line in path.read_text().splitlines()
            if "zizmor: ignore" in line]


def test_the_only_zizmor_ignore_is_the_comment_trigger_and_names_its_guard():
    ((name, line),) = _ignores()
    assert name == "bmad-command.yml"
    assert line.lstrip().startswith("issue_comment:")
    assert "zizmor: ignore[dangerous-triggers]" in line
    assert "playbook.intake.authz.authorize_command" in line


def test_zizmor_ignore_is_needed_and_hides_nothing_else(tmp_path):
    text = (WORKFLOWS_DIR / "bmad-command.yml").read_text()
    target = tmp_path / ".github" / "workflows" / "bmad-command.yml"
    target.parent.mkdir(parents=True)
    target.write_text(re.sub(r" # zizmor: ignore\[[^\]]+\].*", "", text))
    done = policy.run_zizmor(target)
    assert done.returncode != 0
    assert set(re.findall(r"^\w+\[([\w-]+)\]", done.stdout, re.M)) == {"dangerous-triggers"}


def test_authorize_command_guard_exists():
    from playbook.intake import authz

    assert callable(authz.authorize_command)


def test_github_flow_calls_authorize_command():
    source = (REPO_ROOT / "scripts" / "playbook" / "intake" / "github_flow.py").read_text(encoding="utf-8")
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", getattr(node.func, "id", None)) == "authorize_command"]
    assert calls, "playbook.intake.github_flow must call authorize_command before acting on a comment"


# --- filters and credentials of the other workflows -----------------------------------------------

def test_dispatch_runs_only_for_merged_bmad_branches_of_this_repo():
    doc = workflow("bmad-dispatch.yml")
    assert doc["on"] == {"pull_request": {"types": ["closed"]}}
    cond = condition(doc["jobs"]["dispatch"])
    for part in ("github.event.pull_request.merged",
                 "github.event.pull_request.base.ref == github.event.repository.default_branch",
                 "startsWith(github.event.pull_request.head.ref, 'bmad/')",
                 "github.event.pull_request.head.repo.full_name == github.repository"):
        assert part in cond
    assert "||" not in cond


def test_writers_share_the_per_issue_lock():
    groups = {name: workflow(name)["jobs"][job]["concurrency"]["group"]
              for name, job in (("bmad-phase.yml", "phase"), ("bmad-command.yml", "command"))}
    assert set(groups.values()) == {"bmad-issue-${{ github.event.issue.number }}"}


def test_reconcile_runs_daily_and_by_hand():
    on = workflow("bmad-reconcile.yml")["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert len(on["schedule"]) == 1


def test_ci_runs_the_readme_test_command():
    (job,) = workflow("ci.yml")["jobs"].values()
    assert [s["run"] for s in job["steps"] if "run" in s] == ["scripts/test"]
    assert job["permissions"] == {"contents": "read"}


def _job_text(job: dict) -> str:
    return yaml.safe_dump(job)


def test_dev_job_holds_only_the_model_credential():
    dev = workflow("bmad-dev.yml")["jobs"]["dev"]
    assert dev["permissions"] == {"contents": "read"}
    text = _job_text(dev)
    for forbidden in ("BMAD_PLAYBOOK_TOKEN", "GITHUB_TOKEN", "github.token", "BMAD_DISPATCH_TOKEN", "token:"):
        assert forbidden not in text
    (run_step,) = [s for s in dev["steps"] if " dev --event-file" in str(s.get("run", ""))]
    assert set(run_step["env"]) == {"KIND", "PLAYBOOK_REPO", "PLAYBOOK_AGENT_USER", "PLAYBOOK_CLAUDE_BIN",
                                    "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"}
    # The playbook repository is the caller's input, never the payload's.
    assert run_step["env"]["PLAYBOOK_REPO"] == "${{ inputs.playbook-repo }}"


def test_dev_job_runs_the_agent_as_its_own_user_with_egress_limited_to_the_model_api():
    dev = workflow("bmad-dev.yml")["jobs"]["dev"]
    first = dev["steps"][0]
    assert first["uses"].startswith("step-security/harden-runner@")  # before anything else runs
    assert first["with"]["egress-policy"] == "block"
    endpoints = first["with"]["allowed-endpoints"].split()
    assert "api.anthropic.com:443" in endpoints and all(e.endswith(":443") for e in endpoints)
    (boundary,) = [s for s in dev["steps"] if "useradd" in str(s.get("run", ""))]
    script = boundary["run"]
    assert 'chmod 0700 "$HOME" "$RUNNER_TEMP"' in script
    assert "--uid-owner bmad-agent -j REJECT" in script and "ip6tables" in script
    assert "getent ahostsv4 api.anthropic.com" in script
    (run_step,) = [s for s in dev["steps"] if " dev --event-file" in str(s.get("run", ""))]
    assert run_step["run"].startswith("sudo --preserve-env=") and run_step["env"]["PLAYBOOK_AGENT_USER"] == "bmad-agent"
    preserved = run_step["run"].split()[1].split("=", 1)[1]
    assert "GITHUB_TOKEN" not in preserved and "BMAD_PLAYBOOK_TOKEN" not in preserved
    assert {"HOME", "RUNNER_TEMP", "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"} <= set(
        preserved.split(","))  # named so `playbook dev` checks the agent cannot reach them
    assert run_step["env"]["PLAYBOOK_CLAUDE_BIN"].startswith("/opt/bmad-agent/")


def test_publish_sends_the_playbook_token_only_to_the_configured_repo():
    publish = workflow("bmad-dev.yml")["jobs"]["publish"]
    (run_step,) = [s for s in publish["steps"] if str(s.get("run", "")).startswith("playbook publish")]
    assert run_step["env"]["PLAYBOOK_REPO"] == "${{ inputs.playbook-repo }}"


def test_dev_workflow_is_reusable_with_the_documented_interface():
    doc = workflow("bmad-dev.yml")
    call = doc["on"]["workflow_call"]
    assert set(call["inputs"]) == {"kind", "playbook-repo", "playbook-ref"}
    assert set(call["secrets"]) == {"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "BMAD_PLAYBOOK_TOKEN"}
    assert doc["concurrency"]["cancel-in-progress"] is False
    jobs = doc["jobs"]
    # The playbook is read at the merge commit the dispatch names, set in `with:` only.
    source_checkout = jobs["source"]["steps"][0]["with"]
    assert source_checkout["ref"] == "${{ github.event.client_payload.merge_sha }}"
    assert source_checkout["path"] == "playbook"
    publish = jobs["publish"]
    assert "!cancelled()" in condition(publish)
    assert publish["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert "startsWith(github.event.pull_request.head.ref, 'bmad/story-')" in condition(jobs["deployed"])


# --- the policy checker itself catches what it must -----------------------------------------------

GOOD = """\
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      contents: write
    concurrency:
      group: one
      cancel-in-progress: false
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - run: echo "$TITLE"
        env:
          TITLE: ${{ github.event.issue.title }}
"""


def test_policy_accepts_the_good_example():
    assert policy.violations(GOOD, "good.yml") == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4",
     "not pinned to a 40-hex commit SHA"),
    ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@11bd719",
     "not pinned to a 40-hex commit SHA"),
    (" # v4.2.2", "", "has no `# vX.Y.Z` comment"),
    ('echo "$TITLE"', "echo ${{ github.event.issue.title }}", "inside run:"),
    ('echo "$TITLE"', "echo ${{github.head_ref}}", "inside run:"),
    ('echo "$TITLE"', "echo ${{ inputs.kind }}", "inside run:"),
    ('echo "$TITLE"', "echo ${{ format('{0}', github.event.comment.body) }}", "inside run:"),
    ("permissions: {}\n", "", "top-level `permissions: {}` is missing"),
    ("permissions: {}\n", "permissions: write-all\n", "top-level `permissions: {}` is missing"),
    ("    permissions:\n      contents: write\n", "", "declares no `permissions`"),
    ("    timeout-minutes: 5\n", "", "has no `timeout-minutes`"),
    ("          persist-credentials: false\n", "          fetch-depth: 0\n", "persist-credentials: false"),
    ("      cancel-in-progress: false\n", "      cancel-in-progress: true\n", "cancel-in-progress: false"),
    ("    concurrency:\n      group: one\n      cancel-in-progress: false\n", "", "has no concurrency group"),
])
def test_policy_catches(old, new, expected):
    assert old in GOOD
    found = policy.violations(GOOD.replace(old, new), "bad.yml")
    assert any(expected in v for v in found), found


def test_policy_allows_reusable_calls_without_timeout_but_not_without_permissions():
    call = ("on: push\npermissions: {}\njobs:\n  call:\n"
            "    uses: alice/playbook/.github/workflows/x.yml@" + "a" * 40 + "\n")
    assert policy.violations(call.replace("  call:\n", "  call:\n    permissions: {}\n"), "call.yml") == []
    assert any("declares no `permissions`" in v for v in policy.violations(call, "call.yml"))
    assert any("not pinned" in v for v in policy.violations(call.replace("a" * 40, "main"), "call.yml"))


def test_actionlint_runner_reports_problems(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace('echo "$TITLE"', "echo ${{ github.event.issue.title }}"))
    done = policy.run_actionlint(bad)
    assert done.returncode == 1
    assert "potentially untrusted" in done.stdout


def test_quick_change_form_applies_the_quick_label_and_the_phase_workflow_runs_for_it():
    check = policy.run_check_jsonschema("vendor.github-issue-forms", ISSUE_TEMPLATES / "bmad-quick.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    form = yaml.safe_load((ISSUE_TEMPLATES / "bmad-quick.yml").read_text(encoding="utf-8"))
    assert form["labels"] == ["bmad:quick"]
    job = workflow("bmad-phase.yml")["jobs"]["phase"]
    assert "contains(github.event.issue.labels.*.name, 'bmad:quick')" in condition(job)
    assert "github.event.label.name == 'bmad:quick'" in condition(job)


def test_source_job_refuses_unbound_payloads_and_skips_published_ones_before_the_agent():
    jobs = workflow("bmad-dev.yml")["jobs"]
    source = jobs["source"]
    assert source["permissions"] == {"pull-requests": "read"}
    (receive,) = [s for s in source["steps"] if s.get("id") == "receive"]
    assert receive["run"].startswith("playbook receive ")
    assert receive["env"]["PLAYBOOK_REPO"] == "${{ inputs.playbook-repo }}"
    checkout = source["steps"][0]["with"]
    assert checkout["repository"] == "${{ inputs.playbook-repo }}"  # never the payload's repo
    assert source["outputs"]["skip"] == "${{ steps.receive.outputs.skip }}"
    assert "needs.source.outputs.skip != 'true'" in condition(jobs["dev"])
    assert "needs.source.outputs.skip != 'true'" in condition(jobs["publish"])


def test_drift_runs_daily_and_by_hand_with_read_only_contents():
    doc = workflow("bmad-drift.yml")
    assert set(doc["on"]) == {"schedule", "workflow_dispatch"}
    (job,) = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    assert [s["run"] for s in job["steps"] if "run" in s][-1] == "playbook drift --issue"


def test_the_review_job_holds_no_github_token_and_only_the_post_job_writes():
    jobs = workflow("bmad-dev.yml")["jobs"]
    review, post = jobs["review"], jobs["post-review"]
    assert review["permissions"] == {"contents": "read"}
    assert review["needs"] == ["source", "publish", "steer"]
    envs = [step.get("env") or {} for step in review["steps"]]
    assert not any(key in env for env in envs for key in ("GITHUB_TOKEN", "GH_TOKEN", "BMAD_PLAYBOOK_TOKEN"))
    assert any('"$(command -v playbook)" review ' in step.get("run", "") for step in review["steps"])  # under sudo
    assert post["permissions"] == {"pull-requests": "write"}
    assert any("playbook post-review" in step.get("run", "") for step in post["steps"])
    assert not any("claude" in str(step).lower() for step in post["steps"])  # the writer never runs the CLI


def _boundary_and_run(job: dict, command: str) -> tuple[dict, dict]:
    (boundary,) = [s for s in job["steps"] if "useradd" in str(s.get("run", ""))]
    (run_step,) = [s for s in job["steps"] if f'"$(command -v playbook)" {command} ' in str(s.get("run", ""))]
    return boundary, run_step


def test_the_review_job_runs_in_the_dev_jobs_box():
    """Same egress block, same agent user and firewall script, same sudo hand-over naming the paths the
    agent must not reach; the review job holds the model credential only."""
    from playbook.cli.dev import PROTECTED_VARIABLES

    jobs = workflow("bmad-dev.yml")["jobs"]
    review, dev = jobs["review"], jobs["dev"]
    assert review["steps"][0] == dev["steps"][0]  # harden-runner, egress block, the same endpoints
    (dev_boundary, dev_run), (boundary, run_step) = _boundary_and_run(dev, "dev"), _boundary_and_run(review, "review")
    assert boundary["run"] == dev_boundary["run"]
    steps = review["steps"]
    assert steps.index(boundary) < steps.index(run_step)
    (setup,) = [s for s in steps if str(s.get("uses", "")).endswith("/.github/actions/setup")]
    assert setup["with"]["claude-prefix"] == "/opt/bmad-agent" and steps.index(setup) < steps.index(boundary)
    for step in (run_step, dev_run):
        assert step["run"].startswith("sudo --preserve-env=") and step["env"]["PLAYBOOK_AGENT_USER"] == "bmad-agent"
        preserved = set(step["run"].split()[1].split("=", 1)[1].split(","))
        assert set(PROTECTED_VARIABLES) <= preserved  # `playbook` checks the agent cannot reach each one
        assert not preserved & {"GITHUB_TOKEN", "GH_TOKEN", "BMAD_PLAYBOOK_TOKEN", "ACTIONS_RUNTIME_TOKEN"}
    assert run_step["env"]["PLAYBOOK_CLAUDE_BIN"] == dev_run["env"]["PLAYBOOK_CLAUDE_BIN"]
    assert set(run_step["env"]) == {"PLAYBOOK_AGENT_USER", "PLAYBOOK_CLAUDE_BIN", "ANTHROPIC_API_KEY",
                                    "CLAUDE_CODE_OAUTH_TOKEN"}
    text = _job_text(review)
    for forbidden in ("BMAD_PLAYBOOK_TOKEN", "GITHUB_TOKEN", "github.token", "BMAD_DISPATCH_TOKEN", "token:"):
        assert forbidden not in text
    assert review["permissions"] == {"contents": "read"}


def test_a_refused_steer_command_is_answered_by_its_own_small_writer():
    jobs = workflow("bmad-dev.yml")["jobs"]
    steer, reply = jobs["steer"], jobs["steer-reply"]
    assert steer["permissions"] == {"pull-requests": "read"}  # deciding writes nothing
    assert steer["outputs"]["refused"] == "${{ steps.steer.outputs.refused }}"
    assert "needs.steer.outputs.command != ''" in condition(jobs["source"])  # a refusal starts no Claude run
    assert reply["needs"] == "steer" and "needs.steer.outputs.refused == 'true'" in condition(reply)
    assert reply["permissions"] == {"pull-requests": "write"} and reply["timeout-minutes"] <= 10
    text = _job_text(reply)
    for forbidden in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "BMAD_PLAYBOOK_TOKEN", "claude", "token:"):
        assert forbidden not in text
    (run_step,) = [s for s in reply["steps"] if "run" in s]
    assert run_step["run"] == 'playbook steer-reply --steer "$RUNNER_TEMP/steer"'
    assert run_step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert not any(str(s.get("uses", "")).startswith("actions/checkout@") for s in reply["steps"])  # artifacts only
