"""The only Jinja2 user: skill prompts and the package's own templates.

StrictUndefined everywhere, so a missing variable is an error, never an empty
string. Templates never read files themselves; callers pass text in.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from playbook.errors import SkillError


@lru_cache(maxsize=1)
def _string_env() -> Any:
    import jinja2

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _package_env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("playbook", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_text(template_text: str, variables: Mapping[str, Any], *, name: str = "<template>") -> str:
    """Render a template given as text (a skill body)."""
    import jinja2

    try:
        return str(_string_env().from_string(template_text).render(**variables))
    except jinja2.UndefinedError as exc:
        raise SkillError(f"{name}: template uses an undefined variable: {exc.message}",
                         fix="use only the documented prompt variables (see skills/README.md)") from None
    except jinja2.TemplateSyntaxError as exc:
        raise SkillError(f"{name}: template syntax error on line {exc.lineno}: {exc.message}",
                         fix="correct the Jinja2 syntax") from None


def render_package_template(name: str, **variables: Any) -> str:
    """Render one of the templates shipped in playbook/templates/."""
    return str(_package_env().get_template(name).render(**variables))
