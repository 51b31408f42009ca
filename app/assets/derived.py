"""Media made from other media when the cut changes: joined and divided voiceovers, copied images.

The originals are never changed: an edit points its scenes at new files, and undo points them
back. Each new file is a new Asset whose provenance names what it was made from.
"""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from ..extensions import db
from ..platform.media import project_prefix, put_new_file
from ..models import Asset, Project, Segment
from ..pipeline.voice.base import word_spans
from ..pipeline.voice.edit import Voiceover, join_voiceovers, split_voiceover
from ..production import local_copy

Voice = tuple[Asset, str]  # a voiceover asset and the narration it stands for


def _as_voiceover(asset: Asset, workdir: Path) -> Voiceover:
    return Voiceover(path=local_copy(asset, workdir), duration=float(asset.meta.get("duration", 0)),
                     text=asset.prompt or "", words=asset.meta.get("words") or [],
                     timing_source=asset.meta.get("timing_source", "none"))


def _store_voice(project: Project, made: Voiceover, sources: list[Asset], how: str,
                 segment: Segment) -> Asset:
    key = f"{project_prefix(project.workspace_id, project.id)}audio/{how}-{uuid.uuid4().hex}.flac"
    put_new_file(key, made.path, "audio/flac")
    original = sources[0]
    asset = Asset(workspace_id=project.workspace_id, project_id=project.id, segment_id=segment.id,
                  kind="audio", storage_key=key, mime="audio/flac", size=made.path.stat().st_size,
                  provider=original.provider, model=original.model, prompt=made.text,
                  created_by_id=original.created_by_id,
                  meta={"duration": made.duration, "timing_source": made.timing_source,
                        "words": [list(w) for w in made.words], "edit": how,
                        "derived_from": [a.id for a in sources]})
    db.session.add(asset)
    db.session.flush()
    return asset


def _join_text(first: str | None, second: str | None) -> str:
    return f"{(first or '').rstrip()} {(second or '').lstrip()}".strip()


def joined_voice(project: Project, first: Segment, second: Segment) -> Voice | None:
    """The merged scene's voiceover: both joined in order; one alone when only one exists (the
    merged scene then shows it as out of date); None when neither scene has one."""
    if first.audio is None and second.audio is None:
        return None
    if first.audio is None or second.audio is None:
        alone = first if first.audio is not None else second
        return alone.audio, alone.voice_text
    with tempfile.TemporaryDirectory(prefix="voice-join-") as work:
        workdir = Path(work)
        made = join_voiceovers(_as_voiceover(first.audio, workdir), _as_voiceover(second.audio, workdir),
                               workdir / "joined.flac")
        asset = _store_voice(project, made, [first.audio, second.audio], "join", first)
    return asset, _join_text(first.voice_text, second.voice_text)


def _voice_offset(segment: Segment, text_offset: int) -> int | None:
    """Where, in the voiceover's own text, the scene text at ``text_offset`` is spoken (matched
    word by word); None when the voiceover doesn't say the scene's words."""
    if segment.audio is None or segment.voice_outdated:
        return None
    scene_words = word_spans(segment.text)
    voice_words = word_spans(segment.audio.prompt or "")
    if len(scene_words) != len(voice_words):
        return None
    index = sum(1 for _w, start, _e in scene_words if start < text_offset)
    return voice_words[index][1] if 0 < index < len(voice_words) else None


def _divided(owner: Segment, text_offset: int, workdir: Path) -> tuple[Voiceover, Voiceover] | None:
    offset = _voice_offset(owner, text_offset)
    if offset is None:
        return None
    return split_voiceover(_as_voiceover(owner.audio, workdir), offset,
                           workdir / f"head-{uuid.uuid4().hex}.flac", workdir / f"tail-{uuid.uuid4().hex}.flac")


def split_voice(project: Project, segment: Segment, offset: int, new: Segment) -> tuple[Voice, Voice] | None:
    """The two halves of a scene's voiceover, divided where the text at ``offset`` is spoken."""
    with tempfile.TemporaryDirectory(prefix="voice-split-") as work:
        halves = _divided(segment, offset, Path(work))
        if halves is None:
            return None
        head = _store_voice(project, halves[0], [segment.audio], "split", segment)
        tail = _store_voice(project, halves[1], [segment.audio], "split", new)
    return ((head, segment.text[:offset].rstrip()), (tail, segment.text[offset:].lstrip()))


def move_voice(project: Project, before: Segment, after: Segment, offset: int,
               to_next: bool) -> tuple[Voice, Voice] | None:
    """Both scenes' voiceovers after a sentence moves across their boundary (``offset`` is in the
    text of the scene it leaves); None when either voiceover can't follow."""
    if before.audio is None or after.audio is None or before.voice_outdated or after.voice_outdated:
        return None
    source = before if to_next else after
    with tempfile.TemporaryDirectory(prefix="voice-move-") as work:
        workdir = Path(work)
        halves = _divided(source, offset, workdir)
        if halves is None:
            return None
        head, tail = halves
        sources = [before.audio, after.audio]
        if to_next:
            joined = join_voiceovers(tail, _as_voiceover(after.audio, workdir), workdir / "joined.flac")
            before_voice = _store_voice(project, head, [before.audio], "split", before)
            after_voice = _store_voice(project, joined, sources, "join", after)
            return ((before_voice, before.text[:offset].rstrip()),
                    (after_voice, _join_text(source.text[offset:], after.text)))
        joined = join_voiceovers(_as_voiceover(before.audio, workdir), head, workdir / "joined.flac")
        before_voice = _store_voice(project, joined, sources, "join", before)
        after_voice = _store_voice(project, tail, [after.audio], "split", after)
        return ((before_voice, _join_text(before.text, source.text[:offset])),
                (after_voice, after.text[offset:].lstrip()))


def copied_image(project: Project, asset_id: int, segment: Segment) -> Asset:
    """A copy of an image for another scene (its own file, so either can be replaced alone)."""
    original = db.session.get(Asset, asset_id)
    suffix = Path(original.storage_key).suffix
    key = f"{project_prefix(project.workspace_id, project.id)}images/copy-{uuid.uuid4().hex}{suffix}"
    with tempfile.TemporaryDirectory(prefix="image-copy-") as work:
        put_new_file(key, local_copy(original, Path(work)), original.mime)
    copy = Asset(workspace_id=project.workspace_id, project_id=project.id, segment_id=segment.id,
                 kind="image", storage_key=key, mime=original.mime, size=original.size,
                 provider=original.provider, model=original.model, prompt=original.prompt,
                 seed=original.seed, created_by_id=original.created_by_id,
                 meta={**original.meta, "copied_from": original.id})
    db.session.add(copy)
    db.session.flush()
    return copy
