"""Editing the cut: merge, split, move boundaries, topics, and undo/redo by snapshots."""
from __future__ import annotations

import re

from ..extensions import db
from ..models import Asset, Project, Revision, Segment
from ..pipeline.segmentation import Segmentation, estimate_seconds, sentence_spans

HISTORY_LIMIT = 60
SNAPSHOT_FIELDS = ("id", "text", "topic_title", "description", "notes", "seconds",
                   "timing_source", "settings", "image_asset_id", "audio_asset_id")


class EditRefused(ValueError):
    """An edit that would break the cut; the message is shown on the scene."""


def wpm(project: Project) -> float:
    return float(project.settings.get("wpm", 150))


def retime(project: Project, segment: Segment) -> None:
    """Scenes timed by estimate follow their text; fitted or typed durations stay."""
    if segment.timing_source in (None, "estimate"):  # None: a new row, before its default
        segment.seconds = round(estimate_seconds(segment.text, wpm(project)), 1)


def _renumber(project: Project) -> None:
    for position, segment in enumerate(project.segments):
        segment.position = position
    if project.segments and not project.segments[0].topic_title:
        project.segments[0].topic_title = "Introduction"  # the first scene always opens a topic


# --- history ---------------------------------------------------------------------------------

def _snapshot(project: Project) -> list[dict]:
    return [{f: getattr(s, f) for f in SNAPSHOT_FIELDS} for s in project.segments]


def _revisions(project: Project):
    return db.select(Revision).filter_by(project_id=project.id)


def record(project: Project, label: str, coalesce: str | None = None) -> None:
    """Store the scenes as they are now as the newest revision (dropping any redo branch).

    Consecutive edits with the same ``coalesce`` key (typing in one scene) share one revision.
    """
    db.session.flush()
    db.session.execute(db.delete(Revision).where(Revision.project_id == project.id,
                                                 Revision.position > project.history_position))
    last = db.session.scalar(_revisions(project).filter_by(position=project.history_position))
    if last is not None and coalesce and last.label == coalesce:
        last.scenes = _snapshot(project)
        return
    position = project.history_position + 1 if last is not None else 0
    db.session.add(Revision(project_id=project.id, position=position, scenes=_snapshot(project),
                            label=coalesce or label))
    project.history_position = position
    db.session.execute(db.delete(Revision).where(Revision.project_id == project.id,
                                                 Revision.position <= position - HISTORY_LIMIT))
    project.touch()


def ensure_base(project: Project) -> None:
    """Before the first recorded edit, keep the starting state so it can be undone to."""
    if db.session.scalar(_revisions(project).limit(1)) is None and project.segments:
        record(project, "Start")


def can_undo(project: Project) -> bool:
    return db.session.scalar(_revisions(project).filter(
        Revision.position < project.history_position).limit(1)) is not None


def can_redo(project: Project) -> bool:
    return db.session.scalar(_revisions(project).filter(
        Revision.position > project.history_position).limit(1)) is not None


def step_history(project: Project, delta: int) -> str | None:
    """Undo (delta=-1) or redo (+1); returns the label of what was undone/redone."""
    target = db.session.scalar(_revisions(project).filter_by(
        position=project.history_position + delta))
    if target is None:
        return None
    undone = db.session.scalar(_revisions(project).filter_by(
        position=project.history_position if delta < 0 else target.position))
    _restore(project, target.scenes)
    project.history_position = target.position
    project.touch()
    return undone.label if undone else None


def _restore(project: Project, scenes: list[dict]) -> None:
    existing = {s.id: s for s in project.segments}
    keep = []
    for position, data in enumerate(scenes):
        segment = existing.pop(data["id"], None)
        if segment is None:
            segment = Segment(id=data["id"], project_id=project.id, position=position)
            db.session.add(segment)
        for field in SNAPSHOT_FIELDS[1:]:
            setattr(segment, field, data[field])
        segment.position = position
        keep.append(segment)
        # Re-link media to a scene that undo brought back, so its image versions show again.
        for asset_id in (data["image_asset_id"], data["audio_asset_id"]):
            if asset_id:
                db.session.execute(db.update(Asset).where(Asset.id == asset_id)
                                   .values(segment_id=data["id"]))
    for orphan in existing.values():
        db.session.delete(orphan)
    project.segments = keep


# --- whole-script segmentation ----------------------------------------------------------------

HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+.*$", re.MULTILINE)


def narration(scene_text: str) -> str:
    """What is spoken: the scene's text without Markdown headings (they titled its topic)."""
    return re.sub(r"\n{3,}", "\n\n", HEADING.sub("", scene_text)).strip()


def replace_with(project: Project, cut: Segmentation) -> None:
    """Replace all scenes with an automatic segmentation."""
    for old in list(project.segments):
        db.session.delete(old)
    project.segments = []
    db.session.flush()
    opens_topic, seen = None, set()
    for scene in cut.segments:
        if scene.topic not in seen:
            seen.add(scene.topic)
            opens_topic = (cut.topics[scene.topic].title or "Untitled")[:200]
        text = narration(scene.text)
        if not text:
            continue  # a heading with no narration under it: its title passes to the next scene
        segment = Segment(position=len(project.segments), text=text, topic_title=opens_topic,
                          settings={})
        retime(project, segment)
        project.segments.append(segment)
        opens_topic = None
    _renumber(project)


# --- scene edits ------------------------------------------------------------------------------

def _join(first: str, second: str) -> str:
    return f"{first.rstrip()} {second.lstrip()}".strip()


def merge(project: Project, index: int) -> None:
    """Merge scene ``index`` with the one after it."""
    segments = project.segments
    if not 0 <= index < len(segments) - 1:
        raise EditRefused("There is no next scene to merge with.")
    first, second = segments[index], segments[index + 1]
    first.text = _join(first.text, second.text)
    first.description = first.description or second.description
    first.notes = "\n".join(n for n in (first.notes, second.notes) if n)
    first.image_asset_id = first.image_asset_id or second.image_asset_id
    if first.timing_source != "estimate":
        first.timing_source = "estimate"  # the old duration no longer fits the longer text
    retime(project, first)
    segments.remove(second)
    db.session.delete(second)
    _renumber(project)


def split(project: Project, index: int, offset: int) -> None:
    """Split scene ``index`` at a character offset of its text."""
    segment = project.segments[index]
    head, tail = segment.text[:offset].rstrip(), segment.text[offset:].lstrip()
    if not head or not tail:
        raise EditRefused("Split inside the text: both new scenes need some words.")
    segment.text = head
    retime(project, segment)
    new = Segment(project_id=project.id, position=index + 1, text=tail, settings={},
                  notes="", description="")
    retime(project, new)
    project.segments.insert(index + 1, new)
    _renumber(project)


def sentence_offsets(text: str) -> list[int]:
    """Offsets where a sentence after the first begins: the places a scene can be split."""
    return [start for start, _end in sentence_spans(text)][1:]


def move_boundary(project: Project, index: int, direction: str) -> None:
    """Move the boundary after scene ``index`` one sentence earlier or later."""
    segments = project.segments
    if not 0 <= index < len(segments) - 1:
        raise EditRefused("This is the last scene; there is no boundary after it.")
    before, after = segments[index], segments[index + 1]
    if direction == "earlier":
        cuts = sentence_offsets(before.text)
        if not cuts:
            raise EditRefused("This scene has one sentence; merge it instead.")
        before.text, moved = before.text[:cuts[-1]].rstrip(), before.text[cuts[-1]:].strip()
        after.text = _join(moved, after.text)
    else:
        cuts = sentence_offsets(after.text)
        if not cuts:
            raise EditRefused("The next scene has one sentence; merge it instead.")
        moved, after.text = after.text[:cuts[0]].strip(), after.text[cuts[0]:].lstrip()
        before.text = _join(before.text, moved)
    retime(project, before)
    retime(project, after)


def set_text(project: Project, segment: Segment, text: str) -> None:
    if not text.strip():
        raise EditRefused("A scene needs some text; delete the scene instead.")
    segment.text = text.strip()
    retime(project, segment)


def delete(project: Project, index: int) -> None:
    if len(project.segments) == 1:
        raise EditRefused("A project keeps at least one scene.")
    segment = project.segments[index]
    if segment.topic_title and index + 1 < len(project.segments) \
            and not project.segments[index + 1].topic_title:
        project.segments[index + 1].topic_title = segment.topic_title  # keep the chapter
    project.segments.remove(segment)
    db.session.delete(segment)
    _renumber(project)


def set_topic_start(project: Project, index: int, title: str | None) -> None:
    """Start a topic (chapter) at this scene, or join it to the topic before (title None)."""
    if index == 0 and title is None:
        raise EditRefused("The first scene always starts a topic.")
    project.segments[index].topic_title = title.strip()[:200] if title else None
    _renumber(project)


def move_topic_start(project: Project, index: int, direction: str) -> None:
    """Move the start of the topic that begins at scene ``index`` one scene earlier or later."""
    segments = project.segments
    target = index - 1 if direction == "earlier" else index + 1
    if index == 0 or not 0 < target < len(segments) or segments[target].topic_title:
        raise EditRefused("The topic can't move further that way.")
    segments[target].topic_title, segments[index].topic_title = segments[index].topic_title, None
