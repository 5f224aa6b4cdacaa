"""The one error hierarchy of homelab-playbook.

Every message names the fix. Adapters wrap SDK errors into these and say whether
a retry can help; only the CLI maps them to exit codes.

    PlaybookError                    exit 1 unless noted
    ├── ConfigError                  exit 2  a setting, secret or config file is missing or wrong
    │   └── MissingSecretError               a required environment variable is unset or empty
    ├── ValidationError              exit 3  a file or payload does not match its schema
    │   ├── ArtifactError                    an artifact's frontmatter or body is malformed
    │   ├── SkillError                       a SKILL.md is malformed
    │   └── PayloadError                     an event or dispatch payload is rejected
    ├── StateError                   exit 4  the request is not allowed in the current pipeline state
    ├── ModelError                           a model call failed
    │   ├── ModelUnavailableError            provider not installed / not authenticated (fallback may help)
    │   ├── QuotaExhaustedError              429 / quota (fallback may help)
    │   └── ModelOutputError                 the model answered without usable content
    │       └── ModelTruncatedError          the answer stopped at the output budget (MAX_TOKENS)
    ├── ForgeError                           a GitHub call failed
    │   ├── ForgePermissionError             403 for a missing scope or repository setting
    │   ├── RateLimitedError                 the rate limit resets after the job budget
    │   └── NotFoundError                    404 / 410
    ├── PortainerError                       the Portainer API failed (drift reports it and goes on)
    ├── GitError                             a local git command failed
    ├── ProcessError                         any other subprocess failed (prints cmd, code, output)
    └── PolicyError                          generated changes broke the diff or pattern policy
"""

from __future__ import annotations


class PlaybookError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1
    retryable = False

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ConfigError(PlaybookError):
    exit_code = 2


class MissingSecretError(ConfigError):
    def __init__(self, variable: str, *, where: str | None = None) -> None:
        self.variable = variable
        where = where or (
            f"set the {variable} environment variable (in GitHub: Settings → Secrets and variables → "
            f"Actions → New repository secret named {variable})"
        )
        super().__init__(f"{variable} is not set", fix=where)


class ValidationError(PlaybookError):
    exit_code = 3

    def __init__(self, message: str, *, problems: list[str] | None = None, fix: str | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, fix=fix)


class ArtifactError(ValidationError):
    pass


class SkillError(ValidationError):
    pass


class PayloadError(ValidationError):
    pass


class StateError(PlaybookError):
    exit_code = 4


class ModelError(PlaybookError):
    pass


class ModelUnavailableError(ModelError):
    """The provider cannot be used here; the route's fallback chain may help."""


class QuotaExhaustedError(ModelError):
    """Quota or rate limit at the provider; the route's fallback chain may help."""


class ModelOutputError(ModelError):
    """The model answered, but nothing usable came back (blocked, empty, invalid)."""


class ModelTruncatedError(ModelOutputError):
    """The answer stopped at its output budget; a larger budget may help. ``budget`` is the budget
    it stopped at; ``input_tokens``/``output_tokens`` what the discarded attempt spent."""

    def __init__(self, message: str, *, budget: int, model: str = "", input_tokens: int = 0, output_tokens: int = 0,
                 fix: str | None = None) -> None:
        self.budget = budget
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        super().__init__(message, fix=fix)


class ForgeError(PlaybookError):
    pass


class ForgePermissionError(ForgeError):
    pass


class RateLimitedError(ForgeError):
    retryable = True


class NotFoundError(ForgeError):
    pass


class PortainerError(PlaybookError):
    pass


class GitError(PlaybookError):
    pass


class ProcessError(PlaybookError):
    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str, *, fix: str | None = None):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        message = (
            f"command failed: {' '.join(argv)}\n  exit code: {returncode}\n"
            f"  stdout: {stdout.strip()[-2000:] or '(empty)'}\n  stderr: {stderr.strip()[-2000:] or '(empty)'}"
        )
        super().__init__(message, fix=fix)


class PolicyError(PlaybookError):
    def __init__(self, message: str, *, violations: list[str] | None = None, fix: str | None = None) -> None:
        self.violations = list(violations or [])
        if self.violations:
            message = message + "\n" + "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(message, fix=fix)
