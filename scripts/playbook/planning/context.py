"""Prompt context under a token budget, filled in priority order.

Required pieces (the request, the owner's feedback) always go in; optional ones
are added highest priority first, truncated to what is left, then dropped.
Tokens are estimated at four characters each — deliberately conservative and
free of any tokenizer dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 4
TRUNCATION_NOTE = "\n\n[… trimmed to fit the context budget …]\n"


@dataclass(frozen=True)
class Piece:
    name: str
    text: str
    required: bool = False


@dataclass(frozen=True)
class Fitted:
    texts: dict[str, str]
    trimmed: tuple[str, ...]
    dropped: tuple[str, ...]
    tokens: int


def fit(pieces: list[Piece], budget_tokens: int) -> Fitted:
    """Fill the budget in the given order (required pieces first, whatever their position)."""
    remaining = budget_tokens * CHARS_PER_TOKEN
    texts: dict[str, str] = {}
    trimmed: list[str] = []
    dropped: list[str] = []
    for piece in [p for p in pieces if p.required]:
        texts[piece.name] = piece.text
        remaining -= len(piece.text)
    for piece in [p for p in pieces if not p.required]:
        if not piece.text:
            texts[piece.name] = ""
            continue
        if len(piece.text) <= remaining:
            texts[piece.name] = piece.text
            remaining -= len(piece.text)
        elif remaining > 500 + len(TRUNCATION_NOTE):
            keep = remaining - len(TRUNCATION_NOTE)
            texts[piece.name] = piece.text[:keep] + TRUNCATION_NOTE
            trimmed.append(piece.name)
            remaining = 0
        else:
            texts[piece.name] = ""
            dropped.append(piece.name)
    used = sum(len(t) for t in texts.values())
    return Fitted(texts, tuple(trimmed), tuple(dropped), (used + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)
