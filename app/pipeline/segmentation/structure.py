"""The script's structure: Markdown headings, paragraphs and the sentences inside them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .sentences import Span, paragraph_sentences, trim_span

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")


@dataclass(frozen=True)
class Unit:
    """A sentence or a heading line: the smallest piece a scene is made of."""

    start: int
    end: int
    paragraph: int  # units of one paragraph share this number; each heading has its own
    heading: str | None = None  # the title, when the unit is a Markdown heading line


def parse_units(text: str) -> list[Unit]:
    """Headings and sentences of text in order, with exact offsets and no surrounding whitespace."""
    units: list[Unit] = []
    paragraph = 0
    block_start: int | None = None
    position = 0

    def close_block(block_end: int) -> None:
        nonlocal block_start, paragraph
        if block_start is not None:
            units.extend(Unit(s, e, paragraph) for s, e in paragraph_sentences(text, block_start, block_end))
            paragraph += 1
            block_start = None

    for line in text.split("\n"):
        line_start, line_end = position, position + len(line)
        position = line_end + 1
        heading = _HEADING.match(line)
        if heading or not line.strip():
            close_block(line_start)
        if heading:
            s, e = trim_span(text, line_start, line_end)
            units.append(Unit(s, e, paragraph, heading=(heading.group(2) or "").strip()))
            paragraph += 1
        elif line.strip() and block_start is None:
            block_start = line_start
    close_block(len(text))
    return units


def sentence_spans(text: str) -> list[Span]:
    """(start, end) of every sentence and heading line of text, whitespace excluded."""
    return [(unit.start, unit.end) for unit in parse_units(text)]

