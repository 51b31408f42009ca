"""Cut a script into topics (future chapters) and timed scenes; pure Python, deterministic offline.

    seg = segment(text, wpm=150, min_seconds=4, max_seconds=15)
    to_json(seg)  # {"topics": [...], "segments": [{"text", "start", "end", "seconds", "topic"}]}

Scenes tile the text: the first starts at 0, each ends where the next starts, the last
ends at len(text), and scene.text == text[scene.start:scene.end] (whitespace after a scene
belongs to it). Topic boundaries are scene boundaries.
"""
from __future__ import annotations

from ..llm import ChatConfig, LLMError
from .llm_segmenter import segment_with_llm
from .model import Scene, Segmentation, Topic, to_json
from .offline import segment_offline
from .structure import sentence_spans
from .words import estimate_seconds, word_count

__all__ = [
    "Scene",
    "Segmentation",
    "Topic",
    "estimate_seconds",
    "segment",
    "sentence_spans",
    "to_json",
    "word_count",
]


def segment(
    text: str,
    *,
    wpm: float = 150,
    min_seconds: float = 4,
    max_seconds: float = 15,
    llm: ChatConfig | None = None,
) -> Segmentation:
    """Segment text offline, or with the chat model when llm is given, falling back offline on any failure."""
    if llm is not None:
        try:
            return segment_with_llm(text, llm, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)
        except LLMError as error:
            offline = segment_offline(text, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)
            note = f"{error} Used the offline segmenter instead."
            return Segmentation(offline.topics, offline.segments, method="offline", note=note)
    return segment_offline(text, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)
