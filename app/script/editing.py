"""Editing the cut: merge, split, move boundaries, text, topics and re-cuts, keeping each scene's
images, voiceovers and descriptions coherent (undo and redo live in history.py).

What an edit can keep, it keeps: a merge joins both voiceovers and keeps the second image as a
version; a split divides the voiceover where the sentence is spoken and gives both halves the
image. What it can't keep in step, it leaves visibly out of date (Segment.voice_outdated).
"""
from __future__ import annotations

import re

from .. import project_settings
from ..assets import derived
from ..extensions import db
from ..models import Asset, Project, Segment, spoken_words
from ..pipeline.segmentation import Segmentation, estimate_seconds, sentence_spans


class EditRefused(ValueError):
    """An edit that would break the cut; the message is shown on the scene."""


def retime(project: Project, segment: Segment) -> None:
    """Scenes timed by estimate follow their text; fitted or typed durations stay."""
    if segment.timing_source in (None, "estimate"):  # None: a new row, before its default
        segment.seconds = round(estimate_seconds(segment.text, project_settings.speaking_rate(project)), 1)


def _renumber(project: Project) -> None:
    for position, segment in enumerate(project.segments):
        segment.position = position
    if project.segments and not project.segments[0].topic_title:
        project.segments[0].topic_title = "Introduction"  # the first scene always opens a topic


def _join(first: str, second: str) -> str:
    return f"{first.rstrip()} {second.lstrip()}".strip()


def _adopt_versions(into: Segment, source: Segment) -> None:
    """Every image and voiceover version of ``source`` becomes a version of ``into``."""
    db.session.execute(db.update(Asset).where(Asset.segment_id == source.id).values(segment_id=into.id))


def _set_voice(segment: Segment, asset: Asset | None, text: str | None) -> None:
    segment.audio_asset_id = asset.id if asset else None
    segment.voice_text = text if asset else None


def _fitted(project: Project, segment: Segment) -> None:
    """A scene timed by its voiceover follows the new voiceover's length."""
    if segment.timing_source == "audio" and segment.audio_asset_id:
        audio = db.session.get(Asset, segment.audio_asset_id)
        pad = project_settings.fit_pad(project)
        segment.seconds = round(float(audio.meta.get("duration", 0)) + pad, 2)


# --- whole-script segmentation ----------------------------------------------------------------

HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+.*$", re.MULTILINE)


def narration(scene_text: str) -> str:
    """What is spoken: the scene's text without Markdown headings (they titled its topic)."""
    return re.sub(r"\n{3,}", "\n\n", HEADING.sub("", scene_text)).strip()


def replace_with(project: Project, cut: Segmentation) -> None:
    """Replace the scenes with an automatic cut; a scene whose words didn't change is kept as it
    was (description, image, voiceover, versions), only moved."""
    unchanged: dict[tuple[str, ...], list[Segment]] = {}
    for old in project.segments:
        unchanged.setdefault(tuple(spoken_words(old.text)), []).append(old)
    scenes, opens_topic, seen = [], None, set()
    for scene in cut.segments:
        if scene.topic not in seen:
            seen.add(scene.topic)
            opens_topic = (cut.topics[scene.topic].title or "Untitled")[:200]
        text = narration(scene.text)
        if not text:
            continue  # a heading with no narration under it: its title passes to the next scene
        same = unchanged.get(tuple(spoken_words(text)))
        if same:
            segment = same.pop(0)
            segment.text = text
        else:
            segment = Segment(project_id=project.id, text=text, settings={})
            retime(project, segment)
        segment.topic_title = opens_topic
        scenes.append(segment)
        opens_topic = None
    kept = {id(s) for s in scenes}
    for old in list(project.segments):
        if id(old) not in kept:
            db.session.delete(old)
    project.segments = scenes
    _renumber(project)


# --- scene edits ------------------------------------------------------------------------------

def merge(project: Project, index: int) -> None:
    """Merge scene ``index`` with the one after it: texts, descriptions and notes joined, both
    voiceovers joined in order, the first image current and the second one a version."""
    segments = project.segments
    if not 0 <= index < len(segments) - 1:
        raise EditRefused("There is no next scene to merge with.")
    first, second = segments[index], segments[index + 1]
    timings = (first.timing_source, second.timing_source)
    total_seconds = first.seconds + second.seconds
    voice = derived.joined_voice(project, first, second)
    first.text = _join(first.text, second.text)
    first.description = "\n".join(d for d in (first.description, second.description) if d.strip())
    first.notes = "\n".join(n for n in (first.notes, second.notes) if n.strip())
    first.image_asset_id = first.image_asset_id or second.image_asset_id
    _adopt_versions(first, second)
    if voice is not None:
        _set_voice(first, *voice)
    if timings == ("estimate", "estimate"):
        retime(project, first)
    else:  # the pacing the user chose (or fitted) is kept: both scenes' time together
        first.seconds = round(total_seconds, 2)
        first.timing_source = "audio" if timings == ("audio", "audio") else "manual"
    segments.remove(second)
    db.session.delete(second)
    _renumber(project)


def split(project: Project, index: int, offset: int) -> str | None:
    """Split scene ``index`` at a character offset of its text; both halves keep the image (the
    second as a copy) and the voiceover is divided where that sentence is spoken.

    Returns a note for the user when the voiceover could not be divided.
    """
    segment = project.segments[index]
    head, tail = segment.text[:offset].rstrip(), segment.text[offset:].lstrip()
    if not head or not tail:
        raise EditRefused("Split inside the text: both new scenes need some words.")
    new = Segment(project_id=project.id, position=index + 1, text=tail, settings={},
                  notes="", description=segment.description, timing_source=segment.timing_source)
    db.session.add(new)
    project.segments.insert(index + 1, new)
    db.session.flush()
    if segment.image_asset_id:
        new.image_asset_id = derived.copied_image(project, segment.image_asset_id, new).id
    halves = derived.split_voice(project, segment, offset, new)
    note = None
    if halves:
        (head_voice, head_text), (tail_voice, tail_text) = halves
        _set_voice(segment, head_voice, head_text)
        _set_voice(new, tail_voice, tail_text)
    elif segment.audio_asset_id:
        note = ("The voiceover could not be divided at that sentence: the first scene keeps it "
                "(marked out of date) and the second has none. Re-voice both (free).")
    segment.text = head
    _split_time(project, segment, new)
    _renumber(project)
    return note


def _split_time(project: Project, first: Segment, second: Segment) -> None:
    if first.timing_source == "manual":  # share the chosen duration in proportion to the words
        share = len(first.text) / max(1, len(first.text) + len(second.text))
        total = first.seconds
        first.seconds, second.seconds = round(total * share, 2), round(total * (1 - share), 2)
        return
    for scene in (first, second):
        if scene.timing_source == "audio" and not scene.audio_asset_id:
            scene.timing_source = "estimate"
        retime(project, scene)
        _fitted(project, scene)


def sentence_offsets(text: str) -> list[int]:
    """Offsets where a sentence after the first begins: the places a scene can be split."""
    return [start for start, _end in sentence_spans(text)][1:]


def move_boundary(project: Project, index: int, direction: str) -> None:
    """Move the boundary after scene ``index`` one sentence earlier or later; the moved
    sentence's narration moves with it when it can be cut out of its voiceover."""
    segments = project.segments
    if not 0 <= index < len(segments) - 1:
        raise EditRefused("This is the last scene; there is no boundary after it.")
    before, after = segments[index], segments[index + 1]
    if direction == "earlier":
        cuts = sentence_offsets(before.text)
        if not cuts:
            raise EditRefused("This scene has one sentence; merge it instead.")
        moved_voice = derived.move_voice(project, before, after, cuts[-1], to_next=True)
        before.text, moved = before.text[:cuts[-1]].rstrip(), before.text[cuts[-1]:].strip()
        after.text = _join(moved, after.text)
    else:
        cuts = sentence_offsets(after.text)
        if not cuts:
            raise EditRefused("The next scene has one sentence; merge it instead.")
        moved_voice = derived.move_voice(project, before, after, cuts[0], to_next=False)
        moved, after.text = after.text[:cuts[0]].strip(), after.text[cuts[0]:].lstrip()
        before.text = _join(before.text, moved)
    if moved_voice:
        (before_voice, before_text), (after_voice, after_text) = moved_voice
        _set_voice(before, before_voice, before_text)
        _set_voice(after, after_voice, after_text)
    for scene in (before, after):
        retime(project, scene)
        _fitted(project, scene)


def set_text(project: Project, segment: Segment, text: str) -> None:
    """New words for a scene; its voiceover stays (playable) and shows as out of date."""
    if not spoken_words(text):
        raise EditRefused("A scene needs some words; delete the scene instead.")
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


def move(project: Project, index: int, to: int) -> None:
    """Move scene ``index`` so that it ends up at position ``to``, with everything it owns.

    It leaves its chapter (a chapter it opened passes to the next scene) and joins the chapter of
    the scene it lands after; moved to the front, it opens the first chapter.
    """
    segments = project.segments
    if not 0 <= to < len(segments) or to == index:
        raise EditRefused("The scene is already there.")
    segment = segments[index]
    if segment.topic_title and index + 1 < len(segments) and not segments[index + 1].topic_title:
        segments[index + 1].topic_title = segment.topic_title
    segment.topic_title = None
    segments.remove(segment)
    if to == 0:
        segment.topic_title, segments[0].topic_title = segments[0].topic_title, None
    segments.insert(to, segment)
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
