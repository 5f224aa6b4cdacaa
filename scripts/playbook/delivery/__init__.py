"""Delivery: approved stories leave the playbook and come back as IaC pull requests.

Owns routing a story to its target repos (``routing``), the dispatch payloads and their schema
(``dispatch``, ``payloads``), the dev run in a target checkout (``devrun``) and what it may leave
behind (``diffpolicy``), publishing the IaC PR (``publish``), preparing a target repo
(``target``), the stack scaffolder (``scaffold``), the offline dev agent built on it (``offline_dev``)
and the dev step into a local target checkout (``localdev``).

May import: ``playbook.planning`` (the artifacts and stories are the contract), ``playbook.checks``,
``playbook.adapters`` and the ground modules. Never imports ``playbook.intake``.
"""
