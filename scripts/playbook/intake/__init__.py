"""Intake: a GitHub event in, a decided action carried out.

Owns the event payload -> typed ``Event`` -> pure ``decide`` -> ``Action`` step (``events``), the
slash-command grammar (``commands``), who may steer a request (``authz``), the one tracking comment
(``tracking``), and the handlers that carry out an action against GitHub: the shared core
(``github_flow``), planning (``planning_flow``) and delivery (``delivery_flow``); and the read-only
check of a whole GitHub setup (``doctor``).

May import: ``playbook.planning``, ``playbook.delivery``, ``playbook.checks``, ``playbook.adapters``
(lazily, inside the handlers) and the ground modules at the package top. Nothing below imports intake.
Named ``intake`` so it never shadows PyGithub's ``github`` package.
"""
