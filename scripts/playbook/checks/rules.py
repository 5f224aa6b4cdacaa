"""The closed set of rule ids, the pattern document that explains each, and which may be waived.

A rule listed as exemptable is waived for one service by a label
``homelab.exempt.<rule>: "<reason>"`` with a non-empty reason (see patterns/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

EXEMPT_LABEL_PREFIX = "homelab.exempt."


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: str
    summary: str
    exemptable: bool = False


_RULES = (
    Rule("yaml-syntax", "README", "every YAML file parses with a safe loader"),
    Rule("stack-layout", "stack-layout", "stacks/<category>-<app>/ holds docker-compose.yml, .env.sample, README.md"),
    Rule("compose-schema", "stack-layout", "the compose file validates against the Compose Specification schema"),
    Rule("compose-config", "stack-layout", "`docker-compose config -q` accepts the compose file"),
    Rule("image-pinned", "service-runtime", "every image has an explicit, non-floating tag or a digest"),
    Rule("restart-policy", "service-runtime", "every service restarts `unless-stopped`"),
    Rule("healthcheck", "service-runtime", "every service defines a healthcheck", exemptable=True),
    Rule("tz-env", "service-runtime", "every service sets TZ from the environment"),
    Rule("traefik-labels", "traefik", "web services are routed by Traefik with the standard label set", exemptable=True),
    Rule("proxy-network", "traefik", "routed services join the external `proxy` network"),
    Rule("authentik-forward-auth", "authentik", "every router uses the Authentik forward-auth middleware",
         exemptable=True),
    Rule("prometheus-metrics", "prometheus", "the stack exposes metrics through prometheus.io/* labels",
         exemptable=True),
    Rule("restic-backup", "restic-backup", "every named volume is listed for Restic backup (or excluded)"),
    Rule("bind-mounts", "restic-backup", "no writable bind mount outside the stack directory"),
    Rule("env-documented", "env-files", "every ${VAR} in the compose file is documented in .env.sample"),
    Rule("env-secret", "env-files", "no secret value is committed, in .env.sample or the compose file"),
    Rule("env-committed", "env-files", "no .env file is committed"),
    Rule("portainer-stack", "portainer-stack", "each portainer_stack registers stacks/<name>/ from this repository "
         "with GitOps updates, no inline credentials, a pinned provider"),
    Rule("terraform-layout", "terraform-proxmox", "each Terraform directory has main/variables/outputs/versions.tf"),
    Rule("terraform-provider-pin", "terraform-proxmox", "the bpg/proxmox provider is pinned (= x.y.z or ~> x.y)"),
    Rule("terraform-fmt", "terraform-proxmox", "`terraform fmt -check` is clean"),
    Rule("ansible-role-layout", "ansible-roles", "roles/<role>/{tasks,defaults,handlers}/main.yml layout"),
    Rule("ansible-fqcn", "ansible-roles", "tasks call modules by their fully qualified collection name"),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def pattern_doc(rule_id: str) -> str:
    return f"patterns/{RULES[rule_id].pattern}.md"
