"""Secret-bearing files and credential-looking content: never sent to a model, never committed.

Two questions, each answered with the name of the rule that matched (never the value):

* ``is_secret_file(path)`` — by name: ``.env`` files, keys and certificates, kubeconfigs,
  Terraform state and variable files, vault and secrets files. A sample (``.env.sample``,
  ``.env.example``) is not a secret file.
* ``scan_text(path, text)`` — by content: the token formats ``detect-secrets`` knows (GitHub,
  AWS, Slack, Stripe, private-key blocks, JWTs, …), Anthropic keys, and a high-entropy value
  assigned to a secret-named key (``password: 9f$Kq…``). Placeholders (``change-me``,
  ``${VAR}``, ``{{ var }}``) are not secrets.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SECRET_NAMES = frozenset({
    ".env", "terraform.tfvars", "secrets.yml", "secrets.yaml", "vault.yml", "vault.yaml", ".netrc",
    "credentials", "credentials.json", "kubeconfig", ".kubeconfig", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
})
SECRET_SUFFIXES = (".tfstate", ".tfstate.backup", ".tfvars", ".pem", ".key", ".p12", ".pfx", ".jks", ".crt",
                   ".cer", ".der", ".kubeconfig", ".ovpn", ".keytab")
SAMPLE_SUFFIXES = (".sample", ".example", ".template", ".dist")

# detect-secrets plugins that are noise for IaC (public IPs are normal; generic entropy and
# keyword detectors flag every sample value); the rest are exact token formats.
NOISY_PLUGINS = frozenset({"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"})

ANTHROPIC_KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")
ASSIGNMENT_RE = re.compile(
    r"""(?ix)(?P<key>[a-z0-9_.-]{0,40}(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|
    client[_-]?secret|auth)[a-z0-9_.-]{0,40})["']?\s*[:=]\s*(?:"(?P<dq>[^"]+)"|'(?P<sq>[^']+)'|(?P<bare>[^\s"'#,;]+))""")
PLACEHOLDER_RE = re.compile(r"(?i)^(\$\{?|\{\{|<|%\(|!vault|change[-_]?me|example|placeholder|xxx+|\*+|redacted)")
MIN_SECRET_LENGTH = 16
# Long lines are scanned in overlapping windows: every token format is far shorter than the overlap,
# and no regex ever sees more than a window (a minified or generated line cannot stall the scan).
WINDOW, OVERLAP = 2000, 400
MIN_ENTROPY_BITS = 3.5  # per character; a random base64 token is ~5-6, English words ~2.5-3


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def is_secret_file(path: str) -> str | None:
    """The rule a file breaks by its name alone, or None."""
    pure = PurePosixPath(path)
    name = pure.name.lower()
    if name.endswith(SAMPLE_SUFFIXES):
        return None
    if name in SECRET_NAMES or (name.startswith(".env.") and name != ".env"):
        return f"secret-bearing file name ({pure.name})"
    if name.endswith(SECRET_SUFFIXES):
        return f"secret-bearing file type (*{pure.suffix})"
    if [p.lower() for p in pure.parts[-2:]] == [".kube", "config"]:
        return "secret-bearing file name (kubeconfig)"
    return None


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _token_plugins() -> list[dict[str, str]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins: dict[str, type] = dict(get_mapping_from_secret_type_to_class())
    names = [plugin.__name__ for plugin in plugins.values()]
    return [{"name": name} for name in names if name not in NOISY_PLUGINS]


def scan_text(path: str, text: str) -> list[Finding]:
    """Every credential-looking line of one file, as rule names with line numbers."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    findings: list[Finding] = []
    with transient_settings({"plugins_used": _token_plugins()}):
        for number, line in enumerate(text.splitlines(), 1):
            rules: set[str] = set()
            for window in _windows(line):
                rules |= _line_rules(window, scan_line)
            findings += [Finding(path, number, rule) for rule in sorted(rules)]
    return findings


def _windows(line: str) -> list[str]:
    if len(line) <= WINDOW:
        return [line]
    return [line[start:start + WINDOW] for start in range(0, len(line), WINDOW - OVERLAP)]


def _line_rules(line: str, scan_line: Any) -> set[str]:
    rules = {f"credential format: {secret.type}" for secret in scan_line(line)}
    if ANTHROPIC_KEY_RE.search(line):
        rules.add("credential format: Anthropic API key")
    for match in ASSIGNMENT_RE.finditer(line):
        value = match["dq"] or match["sq"] or match["bare"] or ""
        if len(value) >= MIN_SECRET_LENGTH and not PLACEHOLDER_RE.match(value) and entropy(value) >= MIN_ENTROPY_BITS:
            rules.add(f"high-entropy value for secret-named key {match['key']}")
    return rules


def scan_files(files: dict[str, str | None]) -> list[Finding]:
    """Findings for a whole change ({path: text or None for a deletion or binary})."""
    findings: list[Finding] = []
    for path, text in sorted(files.items()):
        rule = is_secret_file(path)
        if rule:
            findings.append(Finding(path, 0, rule))
        if text:
            findings += scan_text(path, text)
    return findings
