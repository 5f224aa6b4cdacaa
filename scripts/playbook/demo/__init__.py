"""The reference flows, run end to end on local repositories (``playbook demo``).

Drives every stage the way GitHub would, so it may import any of them; nothing imports it but
the CLI and the tests.
"""
