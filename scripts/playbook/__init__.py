"""homelab-playbook: BMAD planning on GitHub, handed to the Claude Code CLI for IaC."""

__version__ = "0.1.0"
