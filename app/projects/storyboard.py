"""The storyboard every step shows: each scene as a card on a timeline, grouped by chapter."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..extensions import db
from ..models import Job, Project, Segment

FIRST_WORDS = 9


@dataclass
class Card:
    """One scene as the storyboard shows it."""

    segment: Segment
    number: int
    first_words: str
    preview_asset_id: int | None
    flags: list[str]  # plain words: "no image", "no voiceover", "voiceover out of date"

    @property
    def id(self) -> int:
        return self.segment.id


@dataclass
class Chapter:
    title: str
    opener_id: int
    cards: list[Card] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(c.segment.seconds for c in self.cards)


def _first_words(text: str) -> str:
    words = text.split()
    return " ".join(words[:FIRST_WORDS]) + ("…" if len(words) > FIRST_WORDS else "")


def _flags(segment: Segment) -> list[str]:
    flags = []
    if segment.image_asset_id is None:
        flags.append("no image")
    if segment.voice_state == "missing":
        flags.append("no voiceover")
    elif segment.voice_state == "outdated":
        flags.append("voiceover out of date")
    return flags


def _newest_previews(project: Project) -> dict[int, int]:
    previews: dict[int, int] = {}
    for segment_id, result in db.session.execute(db.select(Job.segment_id, Job.result).filter_by(
            project_id=project.id, kind="preview", state="done").order_by(Job.id)):
        if result.get("asset_id"):
            previews[segment_id] = result["asset_id"]
    return previews


def storyboard(project: Project) -> list[Chapter]:
    """The project's chapters with their scene cards, in order."""
    previews = _newest_previews(project)
    chapters: list[Chapter] = []
    for number, segment in enumerate(project.segments, start=1):
        if segment.topic_title or not chapters:
            chapters.append(Chapter(segment.topic_title or "Introduction", segment.id))
        chapters[-1].cards.append(Card(segment, number, _first_words(segment.text),
                                       previews.get(segment.id), _flags(segment)))
    return chapters
