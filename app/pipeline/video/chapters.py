"""YouTube chapter lines ("00:00 Title") from the topics that scenes start."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .timeline import Scene, Timeline

# YouTube ignores chapters unless there are at least this many, each at least this long.
MIN_CHAPTERS = 3
MIN_CHAPTER_SECONDS = 10


@dataclass(frozen=True)
class Chapters:
    """The chapters text, or why there is none (text is then empty)."""

    text: str
    problem: str | None = None


def _stamp(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def build_chapters(scenes: list[Scene], timeline: Timeline) -> Chapters:
    """Chapters at topic starts; the first is moved to 00:00 as YouTube requires.

    A chapter starts on its first scene's first frame, where its narration starts too. YouTube reads
    whole seconds, so a time is rounded up: never into the previous chapter's last sentence (paced
    scenes start chapters on a whole second, see pacing.py)."""
    starts = [(math.ceil(timeline.seconds(slot.start) - 1e-9), scene.topic.strip())
              for scene, slot in zip(scenes, timeline.slots) if scene.opens_chapter]
    if not starts:
        return Chapters("", "No topics, so no chapters.")
    starts[0] = (0, starts[0][1])
    # Chapter times are shown in whole seconds, so judge lengths as YouTube will read them.
    stamps = [t for t, _ in starts]
    lengths = [b - a for a, b in zip(stamps, stamps[1:] + [timeline.duration])]
    if len(starts) < MIN_CHAPTERS:
        return Chapters("", f"YouTube needs at least {MIN_CHAPTERS} chapters; this video has {len(starts)} "
                            f"topic{'s' if len(starts) != 1 else ''}.")
    short = [title for (_, title), length in zip(starts, lengths) if length < MIN_CHAPTER_SECONDS]
    if short:
        return Chapters("", f"YouTube needs every chapter to last at least {MIN_CHAPTER_SECONDS} s; "
                            f"too short: {', '.join(short)}.")
    return Chapters("".join(f"{_stamp(t)} {title}\n" for t, title in starts))
