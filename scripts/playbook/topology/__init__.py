"""The topology registry (`_bmad-output/topology.yaml`): what runs where, kept true.

    registry   the versioned schema; load / validate / dump / write
    importer   build it from target checkouts (compose stacks, Terraform Proxmox resources)
    compose    services from compose stacks (the checker's parser, .env.sample interpolation)
    terraform  Proxmox VMs and LXCs from Terraform, through a real HCL parser
    merge      a re-import keeps what people wrote (notes, tags, hand-added entries)
    refresh    the entries one merged IaC PR touched (the bmad-deployed handler)
    collisions a stack against the registry: ports, host names, VMIDs, addresses, container names
    placement  routing a story's service to a node, and what is taken there
    view       text, JSON and Mermaid views
    drift      the registry against the repos' default branches and Portainer's live stacks

May import: ``checks`` (compose parsing, findings), ``adapters`` and the ground modules.
Intake, delivery and planning import it.
"""
