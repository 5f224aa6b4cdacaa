"""Measure what a step costs apart from the model, how that grows with size, and what installing costs.

Everything runs against the loopback fakes the tests use (tests/fakes), so no network and no key
is needed (except for the install rows, which install from PyPI; skip them with --no-install).
Each round measures the timed rows once, in the same process and the same minute; the table reports
the median and the minimum over ``--repeat`` rounds. The model answers instantly, and the time the
fake Gemini spent serving requests is measured on the server side and subtracted, so the headline
figure is what playbook itself (start-up, SDKs, GitHub round trips) costs per phase, shown as a
ratio to the floor: a process that only imports the two SDKs. A second, like-for-like floor runs the
same imports in a process that treats the collector the way `playbook` does (playbook.cli: old
generation collected rarely, no final collection), so that saving is not credited to playbook alone.
The size rows (stories, comments, earlier requests) and the install rows are measured once per run;
call counts are exact.

Run it through ``scripts/benchmark`` (which bootstraps the venv first), e.g.
``scripts/benchmark --repeat 9``; ``--write-readme`` also replaces README.md's performance table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
PLAYBOOK = VENV_BIN / "playbook"
# The fakes and the flow harness live with the tests; they are the same stand-ins the suite uses.
sys.path.insert(0, str(TESTS))

import scale  # noqa: E402
from fakes.gemini_api import FakeGemini  # noqa: E402
from fakes.github_api import FakeGitHub  # noqa: E402
from flow_harness import BOT, PIHOLE, REPO, Harness  # noqa: E402

SDK_MODULES = ("github", "google.genai")


def _floor_like_playbook() -> str:
    from playbook.cli import FULL_COLLECTION_EVERY

    return (f"import gc; young, middle, _ = gc.get_threshold(); gc.set_threshold(young, middle, "
            f"{FULL_COLLECTION_EVERY}); import github; from google import genai; gc.freeze()")


FLOOR_LIKE_PLAYBOOK = _floor_like_playbook()
IGNORED_COMMENT = "Looks good so far, thanks! I'll read the PRD tonight."


# ------------------------------------------------------------------ server-side timing


class TimedGemini(FakeGemini):
    """The fake Gemini, also adding up how long it spent answering (from request to last byte)."""

    def __init__(self) -> None:
        self.serve_seconds = 0.0
        self._timing_lock = threading.Lock()
        super().__init__()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        fake = self

        class Timed(base):  # type: ignore[valid-type, misc]
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                start = time.perf_counter()
                try:
                    super().do_POST()
                finally:
                    with fake._timing_lock:
                        fake.serve_seconds += time.perf_counter() - start

        return Timed


def time_github(fake: FakeGitHub) -> Callable[[], float]:
    """Wrap the fake GitHub's request handling; returns a reader of the seconds spent in it so far."""
    handle = fake.handle
    lock = threading.Lock()
    spent = [0.0]

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return handle(*args, **kwargs)
        finally:
            with lock:
                spent[0] += time.perf_counter() - start

    fake.handle = timed  # type: ignore[method-assign]
    return lambda: spent[0]


# ------------------------------------------------------------------ subprocesses


@dataclass(frozen=True)
class Run:
    seconds: float
    returncode: int
    stdout: str
    stderr: str


def child_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: nothing from the caller's shell (no real tokens), a scratch HOME."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "NO_PROXY": "127.0.0.1,localhost",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    env.update(extra or {})
    return env


def run(argv: list[str | Path], env: dict[str, str], *, expect: int | None = 0) -> Run:
    start = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - argv list, shell=False
        [str(a) for a in argv], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    seconds = time.perf_counter() - start
    if expect is not None and proc.returncode != expect:
        raise SystemExit(
            f"benchmark: {' '.join(map(str, argv))} exited {proc.returncode} (expected {expect})\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return Run(seconds, proc.returncode, proc.stdout, proc.stderr)


def imported_modules(importtime_stderr: str) -> dict[str, int]:
    """Module name -> cumulative import time in µs, from ``-X importtime`` output."""
    modules: dict[str, int] = {}
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        cols = line[len("import time:"):].split("|")
        if len(cols) != 3 or not cols[1].strip().isdigit():
            continue  # the header line
        modules[cols[2].strip()] = int(cols[1])
    return modules


def sdks_loaded(modules: dict[str, int]) -> dict[str, bool]:
    return {sdk: any(m == sdk or m.startswith(sdk + ".") for m in modules) for sdk in SDK_MODULES}


# ------------------------------------------------------------------ the flow


class SubprocessHarness(Harness):
    """The test harness's payloads and repo setup, but each event runs `.venv/bin/playbook event`."""

    def __init__(self, github: FakeGitHub, gemini: FakeGemini, tmp: Path) -> None:
        super().__init__(github, gemini, ROOT, tmp, monkeypatch=None)
        self.home = tmp / "home"
        self.home.mkdir()
        self.last: Run | None = None
        self.profile_imports = False  # run the next events under -X importtime

    def run(self, name: str, payload: dict[str, Any], **env: str) -> int:
        self.events += 1
        path = self.tmp / f"event-{self.events}.json"
        path.write_text(json.dumps(payload))
        values = {**self.env, **env, "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path),
                  "PLAYBOOK_BOT_LOGIN": BOT}
        if self.profile_imports:
            values["PYTHONPROFILEIMPORTTIME"] = "1"
        extra = {k: v for k, v in values.items() if v is not None}
        self.last = run([PLAYBOOK, "event"], child_env(self.home, extra), expect=None)
        return self.last.returncode


@dataclass
class Samples:
    values: dict[str, list[float]] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)


@contextmanager
def fakes() -> Iterator[tuple[FakeGitHub, TimedGemini, Callable[[], float]]]:
    github = FakeGitHub().start()
    gemini = TimedGemini()
    try:
        yield github, gemini, time_github(github)
    finally:
        gemini.close()
        github.stop()
    if github.conformance_errors:
        raise SystemExit("benchmark: the fake GitHub served non-conforming bodies:\n"
                         + "\n".join(github.conformance_errors))


def measure_flow(h: SubprocessHarness, github_seconds: Callable[[], float], out: Samples) -> None:
    """One issue: labeled → Product Brief (setup), then the timed `/approve` → PRD, then an ignored comment."""
    from playbook.adapters import offline

    gemini = h.gemini
    assert isinstance(gemini, TimedGemini)
    issue = h.github.add_issue(REPO, PIHOLE, "Hostname pihole.home.example.", labels=["bmad:brief"])

    def event(label: str, fire: Callable[[], int], skill: str | None, model_requests: int | None = None) -> Run:
        if skill:
            gemini.enqueue_text(offline._WRITERS[skill](PIHOLE, "", {}), input_tokens=1200, output_tokens=800)
        requests, model_before, github_before = len(gemini.requests), gemini.serve_seconds, github_seconds()
        h.github.reset_calls()
        if fire() != 0:
            assert h.last is not None
            raise SystemExit(f"benchmark: {label} failed\n--- stderr\n{h.last.stderr}")
        assert h.last is not None
        expected = model_requests if model_requests is not None else (1 if skill else 0)
        if len(gemini.requests) - requests != expected:
            raise SystemExit(f"benchmark: {label} made {len(gemini.requests) - requests} model requests, "
                             f"expected {expected}\n--- stderr\n{h.last.stderr}")
        model = gemini.serve_seconds - model_before
        out.add(f"{label}.wall", h.last.seconds)
        out.add(f"{label}.model", model)
        out.add(f"{label}.net", h.last.seconds - model)
        out.add(f"{label}.github_fake", github_seconds() - github_before)
        out.add(f"{label}.calls", h.github.count())
        out.add(f"{label}.writes", sum(1 for c in h.github.calls if scale.is_write(c.method, c.path, c.operation)))
        return h.last

    event("brief", lambda: h.labeled(issue), "create-product-brief")
    gemini.enqueue_text(offline._WRITERS["create-product-brief"](PIHOLE, "Use pihole.home.example", {}),
                        input_tokens=1200, output_tokens=800)
    event("revise", lambda: h.comment(issue, "/revise Use pihole.home.example"), None, model_requests=1)
    event("approve", lambda: h.comment(issue, "/approve"), "create-prd")
    event("status", lambda: h.comment(issue, "/status"), None)
    if not any(p.endswith("/prd.md") for b in h.github.repos[REPO].refs if b.startswith("bmad/")
               for p in h.github.files_at(REPO, b)):
        raise SystemExit("benchmark: /approve exited 0 but no prd.md was committed")
    ignored = event("ignored", lambda: h.comment(issue, IGNORED_COMMENT), None)
    if "ignored" not in ignored.stderr + ignored.stdout:
        raise SystemExit(f"benchmark: the plain comment was not ignored\n--- stderr\n{ignored.stderr}")

    # Once more with -X importtime (not timed: the profiler slows imports) to list what got imported.
    h.profile_imports = True
    try:
        profiled = event("ignored_profiled", lambda: h.comment(issue, IGNORED_COMMENT), None)
    finally:
        h.profile_imports = False
    loaded = sdks_loaded(imported_modules(profiled.stderr))
    for sdk, yes in loaded.items():
        previous = out.facts.get(f"ignored.sdk.{sdk}")
        out.facts[f"ignored.sdk.{sdk}"] = "yes" if yes or previous == "yes" else "no"


def measure_startup(home: Path, out: Samples) -> None:
    env = child_env(home)
    base = run([PYTHON, "-c", "pass"], env).seconds
    out.add("pass", base)
    out.add("help", run([PLAYBOOK, "--help"], env).seconds)
    floor = run([PYTHON, "-c", "import github; from google import genai"], env).seconds
    out.add("floor", floor)
    # The same imports in a process that handles its collector the way `playbook` does (see
    # playbook.cli): what is left of the headline ratio once that saving is granted to the floor too.
    out.add("floor_like", run([PYTHON, "-c", FLOOR_LIKE_PLAYBOOK], env).seconds)
    for key, code, module in (("github", "import github", "github"),
                              ("genai", "from google import genai", "google.genai")):
        wall = run([PYTHON, "-c", code], env).seconds
        out.add(f"{key}.wall", wall)
        out.add(f"{key}.net", wall - base)
        profiled = imported_modules(run([PYTHON, "-X", "importtime", "-c", code], env).stderr)
        if module not in profiled:
            raise SystemExit(f"benchmark: -X importtime output of {code!r} does not list {module}")
        out.add(f"{key}.importtime", profiled[module] / 1e6)


# ------------------------------------------------------------------ the table


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def count(value: float) -> str:
    return f"{value:g}"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


# (section, row label, sample key, formatter); formatter None: the key names a yes/no fact.
ROWS: list[tuple[str, str, str, Callable[[float], str] | None]] = [
    ("1", "`playbook event` `/approve` → PRD drafted: wall time", "approve.wall", ms),
    ("1", "… of which the fake Gemini spent serving the model request", "approve.model", ms),
    ("1", "**`/approve` → PRD, excluding model time**", "approve.net", ms),
    ("1", "SDK import floor: `python -c 'import github; from google import genai'`", "floor", ms),
    ("1", "**phase overhead ÷ import floor** (target ≤ 1.3×)", "approve.ratio", ratio),
    ("1", "like-for-like floor: the same imports in a process that treats the GC like `playbook` (old generation collected 10× "
     "rarer, no final collection)", "floor_like", ms),
    ("1", "… phase overhead ÷ that floor (like for like)", "approve.ratio_like", ratio),
    ("1", "… of which the fake GitHub spent handling requests (in-process, incl. OpenAPI checks)",
     "approve.github_fake", ms),
    ("2", "GitHub API calls: issue labeled → Product Brief (first run also creates the labels)", "brief.calls", count),
    ("2", "GitHub API calls: `/revise` → Product Brief r2", "revise.calls", count),
    ("2", "GitHub API calls: `/approve` → PRD drafted", "approve.calls", count),
    ("2", "… of which writes (REST POST/PATCH/PUT/DELETE, GraphQL mutations)", "approve.writes", count),
    ("2", "GitHub API calls: `/status`", "status.calls", count),
    ("3", "`playbook --help`", "help", ms),
    ("3", "`playbook event` on an ignored event (plain comment)", "ignored.wall", ms),
    ("3", "`python -c pass`", "pass", ms),
    ("3", "GitHub API calls made by the ignored event", "ignored.calls", count),
    ("3", "ignored event: `github` in `sys.modules` (`-X importtime`)", "ignored.sdk.github", None),
    ("3", "ignored event: `google.genai` in `sys.modules` (`-X importtime`)", "ignored.sdk.google.genai", None),
    ("3", "`python -c 'import github'`", "github.wall", ms),
    ("3", "bare `import github` (`-X importtime` cumulative)", "github.importtime", ms),
    ("3", "`python -c 'from google import genai'`", "genai.wall", ms),
    ("3", "bare `from google import genai` (`-X importtime` cumulative)", "genai.importtime", ms),
]

# Size rows: (label, scenario, sizes, step) -> calls and wall time of that step, measured once.
SIZES: list[tuple[str, str, tuple[int, ...], str]] = [
    ("stories", "stories", (1, 10, 50), "approve"),
    ("stories", "stories", (1, 10, 50), "merge"),
    ("comments", "comments", (0, 1000), "status"),
    ("comments", "comments", (0, 1000), "approve"),
    ("earlier requests", "earlier", (1, 500), "merge"),
    ("earlier requests", "earlier", (1, 500), "reconcile"),
]
STEP_NAMES = {"approve": "`/approve`", "merge": "merge (dispatch)", "status": "`/status`",
              "reconcile": "daily reconcile"}
SCENARIOS = {"stories": scale.stories_scenario, "comments": scale.comments_scenario,
             "earlier": scale.earlier_requests_scenario}
SCENARIO_STEP = {("stories", "approve"): "final `/approve` (Epics & Stories)"}


def size_rows(sizes: dict[tuple[str, int], dict[str, scale.StepCost]]) -> list[str]:
    lines = []
    for label, scenario, counts, step in SIZES:
        name = SCENARIO_STEP.get((scenario, step), STEP_NAMES[step])
        cells = [sizes[scenario, n][step] for n in counts]
        calls = " / ".join(f"{c.calls} ({c.writes})" for c in cells)
        walls = " / ".join(f"{c.seconds:.2f} s" for c in cells)
        lines.append(f"| 4 | {name} at {'/'.join(f'{n:,}' for n in counts)} {label}: calls (writes) "
                     f"| {calls} | {walls} |")
    return lines


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu or platform.processor() or 'unknown CPU'}, {os.cpu_count()} CPU(s), {platform.system()} "
            f"{platform.release()} {platform.machine()}, Python {platform.python_version()}, load average {load}")


def table(samples: Samples, repeat: int, sizes: dict[tuple[str, int], dict[str, scale.StepCost]],
          install: dict[str, float] | None) -> str:
    lines = [
        f"<!-- playbook benchmark: {repeat} round(s); machine: {machine()} -->",
        "",
        "| # | Measurement | median | min |",
        "|---|---|---:|---:|",
    ]
    for section, label, key, fmt in ROWS:
        if fmt is None:
            median = low = samples.facts[key]
        else:
            values = samples.values[key]
            median, low = fmt(statistics.median(values)), fmt(min(values))
        lines.append(f"| {section} | {label} | {median} | {low} |")
    lines.extend(size_rows(sizes))
    if install:
        lines += [
            f"| 5 | install: locked setup (pip --require-hashes uv, then `uv sync --locked`, warm cache) "
            f"| {seconds(install['locked'])} | {seconds(install['locked'])} |",
            f"| 5 | install: plain `pip install .` (warm pip cache) | {seconds(install['pip'])} "
            f"| {seconds(install['pip'])} |",
            f"| 5 | install: locked ÷ plain pip | {ratio(install['locked'] / install['pip'])} "
            f"| {ratio(install['locked'] / install['pip'])} |",
        ]
    return "\n".join(lines)


def measure_sizes() -> dict[tuple[str, int], dict[str, scale.StepCost]]:
    """Each scenario and size on fresh fakes, each event a real `playbook event` subprocess."""
    results: dict[tuple[str, int], dict[str, scale.StepCost]] = {}
    wanted = sorted({(scenario, n) for _, scenario, counts, _ in SIZES for n in counts})
    for scenario, n in wanted:
        print(f"benchmark: {scenario} at {n}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="playbook-bench-size-") as scratch, fakes() as (github, gemini, _):
            h = SubprocessHarness(github, gemini, Path(scratch))
            results[scenario, n] = SCENARIOS[scenario](h, n, time.perf_counter)
    return results


def measure_install() -> dict[str, float]:
    """The locked setup the workflows use vs a plain `pip install .`, each into a fresh venv."""
    out: dict[str, float] = {}
    reqs = ROOT / ".github" / "actions" / "setup" / "uv-requirements.txt"
    with tempfile.TemporaryDirectory(prefix="playbook-bench-install-") as scratch:
        base = Path(scratch)
        env = {**os.environ, "UV_PREVIEW_FEATURES": "build-dependency-hashes", "UV_PYTHON_DOWNLOADS": "never",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        for name in ("locked", "pip"):
            subprocess.run([sys.executable, "-m", "venv", str(base / name)], check=True)  # noqa: S603
        start = time.perf_counter()
        subprocess.run([base / "locked" / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",  # noqa: S603
                        "--require-hashes", "-r", str(reqs)], check=True, env=env, capture_output=True)
        subprocess.run([base / "locked" / "bin" / "python", "-m", "uv", "sync", "--locked", "--inexact", "-q"],  # noqa: S603
                       check=True, cwd=ROOT, capture_output=True,
                       env={**env, "UV_PROJECT_ENVIRONMENT": str(base / "locked")})
        out["locked"] = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([base / "pip" / "bin" / "python", "-m", "pip", "install", "-q", str(ROOT)],  # noqa: S603
                       check=True, env=env, capture_output=True)
        out["pip"] = time.perf_counter() - start
    return out


README_START = "<!-- benchmark:start -->"
README_END = "<!-- benchmark:end -->"


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    body = readme.read_text(encoding="utf-8")
    if README_START not in body or README_END not in body:
        raise SystemExit(f"benchmark: README.md has no {README_START} … {README_END} block")
    head, rest = body.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{text}\n{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds to measure (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds run first and thrown away, to fill the bytecode cache (default 1)")
    parser.add_argument("--no-install", action="store_true",
                        help="skip the install rows (they install from PyPI into scratch venvs)")
    parser.add_argument("--write-readme", action="store_true",
                        help="also replace the table between the benchmark markers in README.md")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    for tool in (PYTHON, PLAYBOOK):
        if not tool.exists():
            raise SystemExit(f"benchmark: {tool} is missing; run scripts/bootstrap --test first")

    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="playbook-bench-") as scratch, fakes() as (github, gemini, spent):
        tmp = Path(scratch)
        h = SubprocessHarness(github, gemini, tmp)
        for round_ in range(args.warmup + args.repeat):
            target = Samples() if round_ < args.warmup else samples
            print(f"benchmark: round {round_ + 1}/{args.warmup + args.repeat}"
                  f"{' (warm-up)' if round_ < args.warmup else ''}", file=sys.stderr)
            measure_startup(h.home, target)
            measure_flow(h, spent, target)
            if round_ >= args.warmup:
                samples.add("approve.ratio", samples.values["approve.net"][-1] / samples.values["floor"][-1])
                samples.add("approve.ratio_like",
                            samples.values["approve.net"][-1] / samples.values["floor_like"][-1])
    sizes = measure_sizes()
    install = None if args.no_install else measure_install()
    text = table(samples, args.repeat, sizes, install)
    print(text)
    if args.write_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
