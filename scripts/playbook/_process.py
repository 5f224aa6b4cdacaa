"""The one subprocess helper: argv lists only, never a shell."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from playbook.errors import ProcessError


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    fix: str | None = None,
) -> Completed:
    """Run argv (a list, never a shell string) and capture text output.

    ``env`` replaces the environment entirely when given, so callers decide exactly
    which variables a child sees.
    """
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, shell=False
            argv,
            cwd=str(cwd) if cwd is not None else None,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            shell=False,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ProcessError(argv, 127, "", str(exc), fix=fix or f"install {argv[0]!r} or put it on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise ProcessError(argv, -1, out, err + f"\n(timed out after {timeout}s)", fix=fix) from exc
    done = Completed(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise ProcessError(argv, proc.returncode, proc.stdout, proc.stderr, fix=fix)
    return done


def which(name: str, extra_dirs: Sequence[str | Path] = ()) -> str | None:
    """Find an executable on PATH or in extra_dirs (searched first)."""
    import shutil

    for d in extra_dirs:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)
