"""Which target repository a story goes to: infra, apps, or both (infra first).

The story's frontmatter ``target`` wins. The keyword rules below only decide when
a story has no explicit target (``/route`` sets one), and are documented in the
README. Rules are a table, checked top to bottom; a story matching both kinds of
rule goes to both.
"""

from __future__ import annotations

import re

# (kind, pattern, why) — matched case-insensitively on the story title and body.
RULES: tuple[tuple[str, str, str], ...] = (
    ("infra", r"\b(vm|virtual machine|lxc|container host|proxmox)\b", "new VM or LXC"),
    ("infra", r"\b(terraform|packer)\b", "Terraform / Packer"),
    ("infra", r"\b(ansible|playbook role|host configuration)\b", "host configuration (Ansible)"),
    ("infra", r"\b(vlan|firewall|network bridge|storage pool|zfs|nfs share)\b", "network or storage"),
    ("apps", r"\b(docker compose|compose stack|stack|docker-compose)\b", "Docker Compose stack"),
    ("apps", r"\b(service config(uration)?|traefik label|\.env\.sample|portainer)\b", "service configuration"),
)

KIND_ORDER = {"infra": 1, "apps": 2}


def infer_target(text: str) -> str:
    """Apply RULES to free text; default to apps (most requests are a service)."""
    kinds = {kind for kind, pattern, _ in RULES if re.search(pattern, text, re.IGNORECASE)}
    if kinds == {"infra", "apps"}:
        return "both"
    if kinds == {"infra"}:
        return "infra"
    return "apps"


def kinds_for(target: str) -> tuple[str, ...]:
    """The target repos for a story target, in deployment order."""
    table = {"infra": ("infra",), "apps": ("apps",), "both": ("infra", "apps")}
    return table[target]
