"""Sentence spans inside one paragraph, with exact character offsets.

pysbd decides the hard cases (abbreviations, initials, decimals, quotes, ellipses),
but it is slow on long paragraphs (its abbreviation pass rescans the whole text once per
abbreviation found) and its own char_span mode re-finds each sentence with a fresh
regex. So we cut at boundaries no rule could dispute first, hand pysbd only the pieces
that still hold a doubtful full stop, and map its sentences back onto the original
text ourselves.
"""
from __future__ import annotations

import re
from functools import lru_cache

import pysbd
from pysbd.languages import Language

Span = tuple[int, int]

_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•‣◦]|\d{1,3}[.)]|[a-z][.)]|[A-Z]\))[ \t]+\S")
_LINE_END = re.compile(r"[.!?…:;。！？][\"'”’»)\]]*[ \t]*$")
# A stop after a word, optional closing quotes, whitespace, then an opening capital.
_CANDIDATE = re.compile(r"([.!?]+)[\"'”’»)\]]*(\s+)(?=[\"'“‘«(\[]?[^\W\d_])")
# Stops that end a sentence wherever they appear.
_CERTAIN = re.compile(r"[。！？؟।]+[」』”’)）]*\s*")
# Anything pysbd would still have to rule on.
_DOUBTFUL = re.compile(r"[.!?…]\S*\s+\S")
# The word before a stop: letters, or a number of 3+ digits such as a year.
_WORD_BEFORE = re.compile(r"(?:^|[\s\"'“‘«(\[])([^\W\d_]+|\d{3,})$")
_LONGEST_WORD = 40


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


@lru_cache(maxsize=1)
def _abbreviations() -> frozenset[str]:
    return frozenset(a.lower() for a in Language.get_language_code("en").Abbreviation.ABBREVIATIONS)


def paragraph_sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans (no surrounding whitespace) of the paragraph text[start:end]."""
    spans: list[Span] = []
    for line_start, line_end in _line_runs(text, start, end):
        # Soft line wraps must not read as sentence ends; same length keeps offsets.
        flat = text[line_start:line_end].replace("\n", " ")
        for chunk_start, chunk_end in _certain_chunks(flat):
            for s, e in _split_chunk(flat[chunk_start:chunk_end]):
                spans.append((line_start + chunk_start + s, line_start + chunk_start + e))
    return spans


def _line_runs(text: str, start: int, end: int) -> list[Span]:
    """Group lines: a list item, or a line after one ending in a stop, starts a new run."""
    runs: list[Span] = []
    run_start: int | None = None
    run_end = start
    previous_line = ""
    position = start
    for line in text[start:end].split("\n"):
        line_start, line_end = position, position + len(line)
        position = line_end + 1
        if not line.strip():
            continue
        breaks = _LIST_ITEM.match(line) or _LINE_END.search(previous_line) or _LIST_ITEM.match(previous_line)
        if run_start is None:
            run_start = line_start
        elif breaks:
            runs.append((run_start, run_end))
            run_start = line_start
        run_end = line_end
        previous_line = line
    if run_start is not None:
        runs.append((run_start, run_end))
    return [trim_span(text, s, e) for s, e in runs]


def _certain_chunks(flat: str) -> list[Span]:
    """Cut flat text after CJK-style stops and after a full stop that ends a plain word."""
    cuts = {0, len(flat)}
    for match in _CERTAIN.finditer(flat):
        cuts.add(match.end())
    for match in _CANDIDATE.finditer(flat):
        if _is_certain_stop(flat, match.start()):
            cuts.add(match.start(2) + len(match.group(2)))
    ordered = sorted(cuts)
    chunks = [trim_span(flat, a, b) for a, b in zip(ordered, ordered[1:])]
    return [(a, b) for a, b in chunks if a < b]


def _is_certain_stop(flat: str, stop: int) -> bool:
    """A stop ends the sentence for sure after a plain word (2+ letters, no abbreviation) or a year."""
    if flat[stop] in "!?":
        return stop > 0 and flat[stop - 1].isalpha()
    word = _WORD_BEFORE.search(flat, max(0, stop - _LONGEST_WORD), stop)
    if word is None:
        return False
    token = word.group(1)
    return len(token) >= 2 and token.lower() not in _abbreviations() and not flat.startswith("..", stop)


def _split_chunk(chunk: str) -> list[Span]:
    """Sentences of one chunk: pysbd only where a doubtful stop remains."""
    if not _DOUBTFUL.search(chunk):
        return [(0, len(chunk))]
    spans = []
    position = 0
    for sentence in _segmenter().processor(chunk).process():
        body = sentence.strip()
        if not body:
            continue
        found = chunk.find(body, position)
        if found < 0:
            # pysbd rewrote something it should not have: keep the chunk whole rather than guess.
            return [(0, len(chunk))]
        spans.append((found, found + len(body)))
        position = found + len(body)
    return _cover(chunk, spans)


def _cover(chunk: str, spans: list[Span]) -> list[Span]:
    """Stretch spans so that no non-space character of the chunk is left out."""
    if not spans:
        return [(0, len(chunk))]
    covered = []
    for i, (s, e) in enumerate(spans):
        next_start = spans[i + 1][0] if i + 1 < len(spans) else len(chunk)
        s = 0 if i == 0 else s
        covered.append(trim_span(chunk, s, next_start))
    return covered


def trim_span(text: str, start: int, end: int) -> Span:
    """Shrink [start, end) to exclude surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
