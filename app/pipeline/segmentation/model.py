"""What segmentation returns: topics (future video chapters) and the scenes that tile the text."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A section of the narration; start/end are character offsets into the script."""

    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Scene:
    """One visual moment: text == script[start:end], including the whitespace that follows it."""

    text: str
    start: int
    end: int
    seconds: float
    topic: int  # index into Segmentation.topics


@dataclass(frozen=True)
class Segmentation:
    """Topics and scenes of a script; method says which segmenter made it, note why if it fell back."""

    topics: list[Topic]
    segments: list[Scene]
    method: str = "offline"
    note: str = ""


def to_json(segmentation: Segmentation) -> dict:
    """The CLI's JSON shape: {"topics": [...], "segments": [{"text", "start", "end", "seconds", "topic"}]}."""
    return {
        "topics": [{"title": t.title, "start": t.start, "end": t.end} for t in segmentation.topics],
        "segments": [
            {"text": s.text, "start": s.start, "end": s.end, "seconds": s.seconds, "topic": s.topic}
            for s in segmentation.segments
        ],
    }
