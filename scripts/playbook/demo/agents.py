"""The demo's deterministic dev agent: a stand-in for the Claude Code CLI inside ``devrun.run_dev``.

It has the CLI runner's signature, writes the files a good run would write for the known services
(a compose stack and its Portainer registration for apps; a Terraform root configuration and an
Ansible role for the media host), and returns a ``ClaudeResult`` that says it was offline. Everything
after it — the diff policy, the patch, publish, the checks — is the code the workflows run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playbook.adapters.claude_cli import ClaudeResult
from playbook.delivery.offline_dev import KNOWN_STACKS
from playbook.errors import PolicyError
from playbook.planning.artifacts import Story
from playbook.ports import Usage

# The known stacks (Pi-hole and the *arr suite) live in one table, shared with `playbook dev --target-dir`.
DEMO_STACKS = KNOWN_STACKS

Runner = Callable[..., ClaudeResult]


def offline_runner(story: Story, kind: str) -> Runner:
    """A runner for ``run_dev`` that implements ``story`` in ``kind`` without a model."""

    def run(prompt: str, *, cwd: Path, **_: Any) -> ClaudeResult:
        if kind == "apps":
            written = write_stack(cwd, story)
        else:
            written = write_host(cwd, story)
        summary = "Offline dev agent (no model was called) wrote:\n" + "\n".join(f"- {p}" for p in written)
        return ClaudeResult(subtype="success", is_error=False, result=summary, session_id="offline", num_turns=0,
                            total_cost_usd=0.0, usage=Usage(), returncode=0)

    return run


def write_stack(repo: Path, story: Story) -> list[str]:
    from playbook.delivery.portainer import write_registration
    from playbook.delivery.scaffold import scaffold_stack

    spec = DEMO_STACKS.get(story.service)
    if spec is None:
        raise PolicyError(f"the offline dev agent has no template for {story.service!r}",
                          fix=f"use one of {', '.join(DEMO_STACKS)} or --agent claude")
    written = [p.relative_to(repo).as_posix() for p in scaffold_stack(repo, story.service, **spec)]
    return written + write_registration(repo, story.service)


def write_host(repo: Path, story: Story) -> list[str]:
    """terraform/<service>/ (an LXC with the media share bind-mounted) and ansible/roles/<role>/ (Docker
    and the ``media`` volume the stacks mount)."""
    role = story.service.replace("-", "_")
    files = {f"terraform/{story.service}/{name}": text for name, text in _terraform(story.service).items()}
    files.update({f"ansible/roles/{role}/{name}": text for name, text in _role(role).items()})
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return sorted(files)


def _terraform(service: str) -> dict[str, str]:
    return {
        "versions.tf": '''terraform {
  required_version = ">= 1.6"

  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "~> 0.66"
    }
  }
}
''',
        "main.tf": f'''resource "proxmox_virtual_environment_container" "this" {{
  node_name    = var.node_name
  description  = "{service}: Docker and the NFS media share for the media stacks"
  tags         = ["managed-by-terraform", "media"]
  unprivileged = true

  features {{
    nesting = true
  }}

  initialization {{
    hostname = var.hostname
  }}

  operating_system {{
    template_file_id = var.template_file_id
    type             = "debian"
  }}

  # The NFS share is mounted on the Proxmox node (storage "media") and bind-mounted here.
  mount_point {{
    volume = var.media_share_path
    path   = "/mnt/media"
  }}
}}
''',
        "variables.tf": f'''variable "node_name" {{
  type        = string
  description = "Proxmox node the LXC runs on"
}}

variable "hostname" {{
  type        = string
  description = "Hostname of the LXC"
  default     = "{service}"
}}

variable "template_file_id" {{
  type        = string
  description = "Debian LXC template, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
}}

variable "media_share_path" {{
  type        = string
  description = "Where the Proxmox node mounts the NFS media share"
  default     = "/mnt/pve/media"
}}
''',
        "outputs.tf": '''output "container_id" {
  description = "VMID of the media LXC"
  value       = proxmox_virtual_environment_container.this.vm_id
}
''',
    }


def _role(role: str) -> dict[str, str]:
    return {
        "defaults/main.yml": f"""---
{role}_media_path: /mnt/media
{role}_volume_name: media
""",
        "tasks/main.yml": f"""---
- name: Install Docker
  ansible.builtin.apt:
    name: docker.io
    state: present
    update_cache: true
  become: true
  notify: Restart Docker

- name: Start Docker on boot
  ansible.builtin.service:
    name: docker
    state: started
    enabled: true
  become: true

# `docker volume create` of an existing volume with the same options is a no-op, so this stays idempotent
# without needing the community.docker collection on the controller.
- name: Create the media volume on the NFS share
  ansible.builtin.command:
    argv:
      - docker
      - volume
      - create
      - --driver=local
      - --opt=type=none
      - --opt=o=bind
      - "--opt=device={{{{ {role}_media_path }}}}"
      - "{{{{ {role}_volume_name }}}}"
  register: {role}_volume
  changed_when: false
  become: true
""",
        "handlers/main.yml": """---
- name: Restart Docker
  ansible.builtin.service:
    name: docker
    state: restarted
  become: true
""",
    }
