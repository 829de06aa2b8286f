"""Pages → passages: what one vector stands for and what a citation quotes.

A passage never crosses a page, so its citation is one page. Within a page the text is cut at
whitespace into pieces of at most `max_chars` characters, each starting `overlap` characters
before the previous one ended (a sentence cut in two is whole in one of them). all-MiniLM-L6-v2
reads 256 word pieces at most, about 1 000 characters of English; 800 stays inside that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 800
OVERLAP = 150
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    page: int  # 1-based
    text: str


def chunk_pages(
    pages: list[str], max_chars: int = MAX_CHARS, overlap: int = OVERLAP
) -> list[Chunk]:
    """The passages of the pages, in reading order; empty pages give none."""
    if not 0 <= overlap < max_chars:
        raise ValueError(f"overlap must be in [0, max_chars), got {overlap} for {max_chars}")
    out: list[Chunk] = []
    for number, raw in enumerate(pages, start=1):
        text = _SPACES.sub(" ", raw).strip()
        start = 0
        while start < len(text):
            end = min(len(text), start + max_chars)
            if end < len(text):
                cut = text.rfind(" ", start + 1, end)
                end = cut if cut > start + overlap else end  # no space: cut inside the word
            out.append(Chunk(number, text[start:end].strip()))
            if end >= len(text):
                break
            back = text.find(" ", max(start + 1, end - overlap), end)
            start = back + 1 if back != -1 else end
    return [c for c in out if c.text]
