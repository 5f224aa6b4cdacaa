"""Implementations of the Protocols in ``playbook.ports``.

Each module here is the only importer of its SDK (``github`` for PyGithub, ``google.genai`` ...),
and imports it inside functions so commands that never touch the service stay fast.
"""
