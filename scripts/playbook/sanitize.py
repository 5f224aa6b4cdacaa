"""Text that crosses a trust boundary: cleaned on the way in, defused on the way out.

Three directions, three functions:

* ``strip_hidden`` — untrusted text (issue bodies, comments) on its way to a model. Removes what a
  human reader of the rendered issue cannot see (HTML comments, zero-width and bidi controls, Unicode
  tag characters, variation-selector runs, markdown link reference definitions, image alt text,
  ``title=`` attributes), so the model reads what the owner read.
* ``neutralize_for_github`` — model or user text inside a comment, PR body or commit the bot writes.
  Mentions, closing keywords, slash commands, script links and raw HTML lose their effect; the words
  stay readable. The neutraliser is a ZERO WIDTH SPACE (U+200B): GitHub renders it as nothing, does
  not link ``@\u200bname`` or close on ``Closes\u200b #1``, and ``strip_hidden`` removes it again if
  the text ever travels back to a model.
* ``neutralize_workflow_commands`` / ``log_line`` — anything printed in a GitHub Actions log, so a
  ``::add-mask::`` or ``::stop-commands::`` line in untrusted text is shown, not obeyed.

Plus ``cap`` (GitHub rejects bodies over 65,536 characters), ``slugify`` and ``clean_untrusted``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import TextIO

ZWSP = "\u200b"
GITHUB_BODY_LIMIT = 65536

# Characters a reader never sees: zero-width (incl. word joiner, soft hyphen, Mongolian vowel
# separator), bidi embeddings/overrides/isolates and marks, Unicode tag characters, C0 controls other
# than \n and \t, DEL and the C1 block, the Mongolian free variation selectors.
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180b-\u180f\u061c\u202a-\u202e\u2066-\u2069"
    "\U000e0000-\U000e007f\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
# Variation selectors (VS1-16, VS17-256). One VS15/VS16 right after a visible character picks text or
# emoji presentation ("🛡️") and stays; every other selector, and every run of them, renders as nothing
# and can carry a hidden payload (one byte per selector), so it goes.
_VARIATION_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]+")
_PRESENTATION = frozenset({"\ufe0e", "\ufe0f"})
# A link reference definition (``[label]: url "title"``, e.g. the ``[//]: # (…)`` comment idiom)
# never renders; footnotes (``[^1]: …``) do, so they stay.
_LINK_REFDEF = re.compile(
    r"^[ ]{0,3}\[(?!\^)(?:[^\]\n\\]|\\.){1,999}\]:[ \t]*(?:<[^>\n]*>|[^\s<]\S*)"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*(?:\n|\Z)",
    re.MULTILINE,
)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_MD_IMAGE_ALT = re.compile(r"!\[[^\]\n]{0,2000}\](?=[(\[])")
_MD_LINK_TITLE = re.compile(r"(\[[^\]\n]{0,2000}\]\(\s*\S{1,4000}?)\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\))\s*\)")
_HTML_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_HIDDEN_ATTR = re.compile(
    r"""\s(?:alt|title|aria-label|aria-description|placeholder|data-[\w-]+)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""",
    re.IGNORECASE,
)
_NUMERIC_ENTITY = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")


def _decode_printable_entity(match: re.Match[str]) -> str:
    """``&#60;`` renders as ``<`` for a human, so the model sees ``<`` too (printable ASCII only)."""
    hex_digits, dec_digits = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(dec_digits)
    return chr(code) if 0x20 <= code <= 0x7E else ""


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_variation_selectors(text: str) -> str:
    def keep(match: re.Match[str]) -> str:
        run, start = match.group(0), match.start()
        visible_before = start > 0 and not text[start - 1].isspace()
        return run if run in _PRESENTATION and visible_before else ""

    return _VARIATION_RUN.sub(keep, text)


def strip_hidden(text: str) -> str:
    """Remove what the rendered issue hides from a human, keeping the visible words.

    Invisible characters go first so they cannot break up a ``<!--`` and survive; comments are
    removed until none are left (``<!<!-- x -->-- y -->`` would otherwise reassemble one); an
    unterminated ``<!--`` hides the rest of the document on GitHub, so it is removed to the end.
    """
    text = _normalise_newlines(text)
    text = _INVISIBLE.sub("", text)
    text = _strip_variation_selectors(text)
    previous = None
    while previous != text:
        previous = text
        text = _HTML_COMMENT.sub("", text)
    text = _LINK_REFDEF.sub("", text)
    text = _MD_IMAGE_ALT.sub("![]", text)
    text = _MD_LINK_TITLE.sub(r"\1)", text)
    text = _HTML_TAG.sub(lambda m: _HIDDEN_ATTR.sub("", m.group(0)), text)
    text = _NUMERIC_ENTITY.sub(_decode_printable_entity, text)
    # Decoded entities may have produced new hidden content; one more pass settles it.
    text = _INVISIBLE.sub("", text)
    text = _strip_variation_selectors(text)
    previous = None
    while previous != text:
        previous = text
        text = _HTML_COMMENT.sub("", text)
    return text


# --------------------------------------------------------------------------- outgoing text

# Fenced blocks (unterminated fences run to the end, as in CommonMark) and inline code spans:
# GitHub neither links mentions nor renders HTML inside them, so they are left byte-for-byte.
_CODE = re.compile(
    r"(?P<fence>^[ ]{0,3}(?P<marks>`{3,}|~{3,})[^\n]*\n.*?(?:^[ ]{0,3}(?P=marks)[ \t]*$|\Z))"
    r"|(?P<span>(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`))",
    re.MULTILINE | re.DOTALL,
)
_MENTION = re.compile(r"(?<![\w`@/.+-])@(?=[A-Za-z0-9])")
CLOSING_KEYWORD = re.compile(
    r"\b(?P<kw>close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?P<sep>\s*:?\s+)"
    r"(?P<ref>(?:[\w.-]+/[\w.-]+)?#\d+|https?://\S+/(?:issues|pull)/\d+)",
    re.IGNORECASE,
)
_LINE_COMMAND = re.compile(r"^(?P<indent>[ \t>]*)/(?=[A-Za-z])", re.MULTILINE)
_SCRIPT_SCHEME = r"(?:j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t|d\s*a\s*t\s*a)\s*:"
_SCRIPT_LINK = re.compile(
    r"(!?)\[([^\]\n]*)\]\(\s*<?\s*" + _SCRIPT_SCHEME + r"(?:[^()\n]|\([^()\n]*\))*\)", re.IGNORECASE
)
_SCRIPT_AUTOLINK = re.compile(r"<\s*" + _SCRIPT_SCHEME + r"[^>\n]*>", re.IGNORECASE)
_SCRIPT_REFDEF = re.compile(r"^[ ]{0,3}\[[^\]\n]+\]:\s*<?\s*" + _SCRIPT_SCHEME + r".*$", re.IGNORECASE | re.MULTILINE)
_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])")


def _neutralize_prose(text: str) -> str:
    text = _SCRIPT_REFDEF.sub("", text)
    text = _SCRIPT_LINK.sub(lambda m: m.group(2), text)
    text = _SCRIPT_AUTOLINK.sub("", text)
    text = _RAW_HTML.sub("&lt;", text)
    text = _MENTION.sub("@" + ZWSP, text)
    text = CLOSING_KEYWORD.sub(lambda m: m.group("kw") + ZWSP + m.group("sep") + m.group("ref"), text)
    return text


def neutralize_for_github(text: str) -> str:
    """Make model or user text safe to post as the bot.

    Outside code: ``@user``/``@org/team`` → ``@\u200buser`` (no notification), ``Closes #1`` →
    ``Closes\u200b #1`` (still a link, no longer closes), ``[x](javascript:…)`` → ``x``, raw
    ``<tag>`` → ``&lt;tag>``. Everywhere: a line starting with ``/word`` gets a leading ZWSP so no
    slash-command parser (ours or another bot's) reads it as a command. Code blocks and spans are
    otherwise left untouched — GitHub renders them literally.
    """
    text = _normalise_newlines(text)
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_neutralize_prose(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_neutralize_prose(text[last:]))
    joined = "".join(out)
    return _LINE_COMMAND.sub(lambda m: m.group("indent") + ZWSP + "/", joined)


_WORKFLOW_COMMAND = re.compile(r"^(?P<indent>\s*)(?P<cmd>::|##\[)", re.MULTILINE)


def neutralize_workflow_commands(text: str) -> str:
    """Defuse Actions workflow commands (``::add-mask::``, ``::stop-commands::``, ``##[set-output]``).

    The runner reads a command from any log line whose trimmed text starts with ``::`` (or the legacy
    ``##[``); putting a ZWSP between the two marker characters keeps the line readable and inert.
    Every line break the runner honours (``\\r``, ``\\r\\n``) is treated as a new line.
    """
    text = _normalise_newlines(text)
    return _WORKFLOW_COMMAND.sub(lambda m: m.group("indent") + m.group("cmd")[0] + ZWSP + m.group("cmd")[1:], text)


_ANSI_AND_CONTROLS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def log_line(text: str, *, stream: TextIO | None = None) -> None:
    """Print untrusted text in an Actions log: no workflow commands, no terminal escapes."""
    safe = neutralize_workflow_commands(_ANSI_AND_CONTROLS.sub("", _normalise_newlines(text)))
    print(safe, file=stream or sys.stdout, flush=True)


# --------------------------------------------------------------------------- sizes and names


def _utf16_len(text: str) -> int:
    # GitHub counts in UTF-16 code units in places; an emoji is two. Counting that way is the safe side.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cap(text: str, limit: int = 60000, *, note: str = "…") -> str:
    """Cut ``text`` so it (note included) is at most ``limit`` UTF-16 code units.

    Never returns more than GitHub's 65,536-character body limit, whatever ``limit`` says.
    """
    limit = min(limit, GITHUB_BODY_LIMIT)
    if _utf16_len(text) <= limit:
        return text
    if _utf16_len(note) >= limit:
        note = ""
    budget = limit - _utf16_len(note)
    kept = text[:budget]
    while _utf16_len(kept) > budget:
        # Each code point is one or two units: dropping half the excess never overshoots by much.
        kept = kept[: len(kept) - max(1, (_utf16_len(kept) - budget + 1) // 2)]
    return kept + note


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, max_len: int = 40) -> str:
    """An ASCII slug for branch and directory names; the same text always gives the same slug.

    NFKD then drop what is not ASCII (``Café`` → ``cafe``); text with nothing ASCII left (CJK, emoji,
    RTL scripts) becomes ``request-<first 8 hex of sha256>``. NUL and lone surrogates are tolerated.
    """
    raw = text.encode("utf-8", "surrogatepass")
    clean = raw.decode("utf-8", "ignore")  # lone surrogates are not valid UTF-8: dropped here
    ascii_text = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode("ascii").lower()
    slug = _SLUG_DROP.sub("-", ascii_text).strip("-")
    slug = slug[:max_len].rstrip("-")
    if not slug:
        import hashlib  # only text with nothing ASCII in it needs it

        slug = "request-" + hashlib.sha256(raw).hexdigest()[:8]
    return slug


def clean_untrusted(text: str, limit: int) -> tuple[str, bool]:
    """Issue text ready for a prompt: hidden content stripped, then cut to ``limit`` characters.

    Returns ``(text, truncated)``; the caller says so in the prompt and in the tracking comment, so
    truncation is never silent.
    """
    cleaned = strip_hidden(text).strip()
    if len(cleaned) <= limit:
        return cleaned, False
    return cleaned[:limit], True

