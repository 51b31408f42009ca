"""The offline segmenter: headings and paragraphs, lexical cohesion, then timing."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .cohesion import similarity_matrix
from .model import Scene, Segmentation, Topic
from .scenes import cut_cost, scene_starts
from .sentences import trim_span
from .structure import Unit, parse_units
from .titles import chapter_titles
from .topics import topic_starts
from .words import estimate_seconds, word_count

# Chapters shorter than this are no use (YouTube refuses chapters under 10 s).
MIN_TOPIC_SECONDS = 15.0
# A section under a heading stays one topic unless it runs longer than this.
LONG_SECTION_SECONDS = 300.0
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|\s[-–—](?=\s)")
_MARKDOWN_EMPHASIS = re.compile(r"[*_`]+")


@dataclass(frozen=True)
class Piece:
    """A sentence, heading line or clause of an over-long sentence, with the cost of a cut before it."""

    start: int
    end: int
    seconds: float
    cut: float


def segment_offline(
    text: str, *, wpm: float = 150, min_seconds: float = 4, max_seconds: float = 15
) -> Segmentation:
    """Topics from headings and cohesion, scenes from timing; deterministic."""
    check_range(wpm, min_seconds, max_seconds)
    topic_runs: list[tuple[list[Unit], str]] = []
    cohesion: dict[int, float] = {}
    for section in _sections(parse_units(text)):
        body = [u for u in section if u.heading is None]
        similarity = similarity_matrix([text[u.start : u.end] for u in body])
        cohesion.update(adjacent_cohesion(body, similarity))
        topic_runs.extend(_topics_of_section(text, section, similarity, wpm))
    return assemble(text, topic_runs, cohesion, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)


def adjacent_cohesion(units: list[Unit], similarity: np.ndarray) -> dict[int, float]:
    """How similar each unit is to the one before it, keyed by the unit's first character."""
    return {units[i].start: float(similarity[i - 1, i]) for i in range(1, len(units))}


def assemble(
    text: str,
    topic_runs: list[tuple[list[Unit], str]],
    cohesion: dict[int, float],
    *,
    wpm: float,
    min_seconds: float,
    max_seconds: float,
) -> Segmentation:
    """Cut each topic's units into scenes and lay topics and scenes over the whole text."""
    topics: list[Topic] = []
    scene_spans: list[tuple[int, int]] = []  # (first character, topic index)
    titles = chapter_titles(
        [[text[u.start : u.end] for u in units if u.heading is None] for units, _ in topic_runs],
        [title for _, title in topic_runs],
    )
    for index, ((units, _), title) in enumerate(zip(topic_runs, titles)):
        pieces = _pieces(text, units, cohesion, wpm, max_seconds)
        starts = scene_starts([p.seconds for p in pieces], [p.cut for p in pieces], min_seconds, max_seconds)
        scene_spans.extend((pieces[i].start, index) for i in starts)
        topics.append(Topic(title, units[0].start, units[-1].end))
    return _tile(text, topics, scene_spans, wpm)


def check_range(wpm: float, min_seconds: float, max_seconds: float) -> None:
    """Refuse settings no segmentation can honour."""
    if wpm <= 0 or min_seconds < 0 or max_seconds <= 0 or min_seconds > max_seconds:
        raise ValueError("Need wpm > 0 and 0 <= min_seconds <= max_seconds.")


def _sections(units: list[Unit]) -> list[list[Unit]]:
    """Split units before every heading."""
    sections: list[list[Unit]] = []
    for unit in units:
        if unit.heading is not None or not sections:
            sections.append([])
        sections[-1].append(unit)
    return sections


def _topics_of_section(
    text: str, section: list[Unit], similarity: np.ndarray, wpm: float
) -> list[tuple[list[Unit], str]]:
    """A headed section is one topic unless it is long; other sections are cut by cohesion."""
    heading = section[0].heading
    body = section[1:] if heading is not None else section
    words = [word_count(text[u.start : u.end]) for u in body]
    if not body or (heading is not None and sum(words) * 60 / wpm <= LONG_SECTION_SECONDS):
        return [(section, clean_heading(heading))]
    starts = topic_starts(similarity, [u.paragraph for u in body], words, MIN_TOPIC_SECONDS * wpm / 60)
    runs = [body[a:b] for a, b in zip(starts, starts[1:] + [len(body)])]
    if heading is not None:
        runs[0] = [section[0]] + runs[0]
    return [(run, clean_heading(heading) if i == 0 else "") for i, run in enumerate(runs)]


def clean_heading(heading: str | None) -> str:
    """Heading text without Markdown emphasis marks."""
    return _MARKDOWN_EMPHASIS.sub("", heading or "").strip()


def _pieces(text: str, units: list[Unit], cohesion: dict[int, float], wpm: float, max_seconds: float) -> list[Piece]:
    """Units as timed pieces, over-long sentences broken at clause punctuation."""
    pieces: list[Piece] = []
    for i, unit in enumerate(units):
        if i == 0:
            cut = 0.0
        elif units[i - 1].heading is not None:
            cut = cut_cost("none")  # a heading always opens the scene after it
        elif unit.paragraph != units[i - 1].paragraph:
            cut = cut_cost("paragraph")
        else:
            cut = cut_cost("sentence", cohesion.get(unit.start, 0.0))
        seconds = word_count(text[unit.start : unit.end]) * 60 / wpm
        if seconds <= max_seconds or unit.heading is not None:
            pieces.append(Piece(unit.start, unit.end, seconds, cut))
            continue
        for j, (start, end) in enumerate(_clauses(text, unit)):
            clause_seconds = word_count(text[start:end]) * 60 / wpm
            pieces.append(Piece(start, end, clause_seconds, cut if j == 0 else cut_cost("clause")))
    return pieces


def _clauses(text: str, unit: Unit) -> list[tuple[int, int]]:
    """The unit split after each clause mark (comma, semicolon, colon, dash)."""
    cuts = [m.end() for m in _CLAUSE_END.finditer(text, unit.start, unit.end)]
    bounds = [unit.start] + cuts + [unit.end]
    spans = [trim_span(text, a, b) for a, b in zip(bounds, bounds[1:])]
    return [(a, b) for a, b in spans if a < b]


def _tile(text: str, topics: list[Topic], scene_spans: list[tuple[int, int]], wpm: float) -> Segmentation:
    """Stretch scenes and topics so that together they cover every character exactly once."""
    scenes: list[Scene] = []
    for k, (start, topic) in enumerate(scene_spans):
        start = 0 if k == 0 else start
        end = scene_spans[k + 1][0] if k + 1 < len(scene_spans) else len(text)
        piece = text[start:end]
        scenes.append(Scene(piece, start, end, estimate_seconds(piece, wpm), topic))
    tiled_topics = []
    for index, topic in enumerate(topics):
        members = [s for s in scenes if s.topic == index]
        tiled_topics.append(Topic(topic.title, members[0].start, members[-1].end))
    return Segmentation(tiled_topics, scenes)
