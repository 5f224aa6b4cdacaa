"""Planning: a request becomes Product Brief -> PRD -> Architecture -> Epics & Stories.

Owns the phases table (``phases``), one planning step (``pipeline``: context -> prompt -> model ->
validated artifact -> one commit), the artifact files and their frontmatter (``artifacts``), state
derived from them (``state``), the stories plan (``stories``), the context budget (``context``), the
Jinja2 prompts (``prompts``), the BMAD skills (``skills``), model routing (``models``) and local
mode (``local``: plan/approve/revise/status/list in a checkout, all or nothing per step).

May import: ``playbook.adapters`` (lazily, only to build the real ones) and the ground modules.
Never imports ``playbook.intake`` or ``playbook.delivery``.
"""
