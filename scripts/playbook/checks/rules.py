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
    Rule("compose-config", "stack-layout", "`docker compose config -q` (Compose v2) accepts the compose file"),
    Rule("portainer-paths", "stack-layout", "relative binds name committed files; env_file is Portainer's stack.env"),
    Rule("image-pinned", "service-runtime", "every image has an explicit, non-floating tag or a digest"),
    Rule("restart-policy", "service-runtime", "every service restarts `unless-stopped`"),
    Rule("healthcheck", "service-runtime", "every service defines a healthcheck", exemptable=True),
    Rule("tz-env", "service-runtime", "every service sets TZ from the environment"),
    Rule("traefik-labels", "traefik", "web services are routed by Traefik with the standard label set", exemptable=True),
    Rule("web-port-published", "traefik", "no web UI is published on a host port; Traefik routes it",
         exemptable=True),
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
    Rule("terraform-provider-pin", "terraform-proxmox",
         "every required provider has a source and a pinned version (x.y.z, = x.y.z or ~> x.y)"),
    Rule("terraform-hcl", "terraform-proxmox", "every *.tf file parses as HCL (python-hcl2)"),
    Rule("terraform-fmt", "terraform-proxmox", "`terraform fmt -check` is clean"),
    Rule("terraform-validate", "terraform-proxmox", "`terraform validate` passes where the module is initialised"),
    Rule("ansible-role-layout", "ansible-roles", "roles/<role>/{tasks,defaults,handlers}/main.yml layout"),
    Rule("ansible-fqcn", "ansible-roles", "tasks call modules by their fully qualified collection name"),
    Rule("ansible-pipe-to-shell", "ansible-roles", "no task pipes a download (curl, wget) into a shell"),
    Rule("service-recipe", "service-runtime", "a service with a recipe in patterns/services/ follows it",
         exemptable=True),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def pattern_doc(rule_id: str) -> str:
    return f"patterns/{RULES[rule_id].pattern}.md"
