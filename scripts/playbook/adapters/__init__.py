"""Implementations of the Protocols in ``playbook.ports``.

Each module here is the only importer of its SDK (``github`` for PyGithub, ``google.genai`` ...),
and imports it inside functions so commands that never touch the service stay fast.

May import: the ground modules at the package top (``ports``, ``errors``, ``settings``,
``_process``) and their SDK. No stage module is imported from here.
"""
