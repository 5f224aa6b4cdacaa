"""The Portainer registration of a new stack: ``terraform/portainer/stack-<service>.tf`` in homelab-apps.

Written by the deterministic dev agent (the offline demo) next to the stack it scaffolds; a Claude
run writes the same files from patterns/portainer-stack.md. The shared root files are created once
and never overwritten (the owner's edits stay).
"""

from __future__ import annotations

from pathlib import Path

ROOT = "terraform/portainer"
PROVIDER_VERSION = "~> 1.16"

_SHARED = {
    "versions.tf": f'''terraform {{
  required_version = ">= 1.5"

  required_providers {{
    portainer = {{
      source  = "portainer/portainer"
      version = "{PROVIDER_VERSION}"
    }}
  }}
}}
''',
    "variables.tf": '''variable "portainer_endpoint_id" {
  type        = number
  description = "Portainer environment (endpoint) id the stacks are deployed to"
}

variable "repository_url" {
  type        = string
  description = "HTTPS URL of this homelab-apps repository, which Portainer pulls the stacks from"
}

variable "repository_reference_name" {
  type        = string
  description = "Git reference Portainer deploys"
  default     = "refs/heads/main"
}
''',
    "main.tf": '''# The endpoint and API key come from PORTAINER_ENDPOINT and PORTAINER_API_KEY in the environment.
provider "portainer" {}
''',
    "outputs.tf": "",
}


def registration(service: str) -> str:
    label = service.replace("-", "_")
    return f'''resource "portainer_stack" "{label}" {{
  name                      = "{service}"
  deployment_type           = "standalone"
  method                    = "repository"
  endpoint_id               = var.portainer_endpoint_id
  repository_url            = var.repository_url
  repository_reference_name = var.repository_reference_name
  file_path_in_repository   = "stacks/{service}/docker-compose.yml"
  update_interval           = "5m"
  pull_image                = true
  prune                     = true
}}
'''


def write_registration(repo: Path, service: str) -> list[str]:
    """Write the registration (and the shared root files when missing); returns the paths written."""
    root = repo / ROOT
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in _SHARED.items():
        if not (root / name).exists():
            (root / name).write_text(text, encoding="utf-8")
            written.append(f"{ROOT}/{name}")
    target = root / f"stack-{service}.tf"
    if not target.exists() or target.read_text(encoding="utf-8") != registration(service):
        target.write_text(registration(service), encoding="utf-8")
        written.append(f"{ROOT}/stack-{service}.tf")
    return written
