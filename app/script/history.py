"""Undo and redo of edits to the cut, covering everything a scene owns (text, description, notes,
timing, settings, its image and voiceover and their versions).

Each Revision row is one edit: the scenes just before it (``scenes_before``) and just after it
(``scenes``). Undo and redo merge three ways: what the edit changed is reverted or re-applied,
and what changed since on the same scenes (an image that finished, a description typed in
step 2) is kept when the edit didn't touch it. With nothing changed in between, undo restores
the state before the edit exactly and redo is its inverse.
"""
from __future__ import annotations

from ..extensions import db
from ..models import Asset, Project, Revision, Segment

HISTORY_LIMIT = 60
# Fields that change together are one unit in the three-way merge: a voiceover and the text it
# speaks, a duration and where it came from.
FIELD_GROUPS = (("text",), ("topic_title",), ("description",), ("notes",),
                ("seconds", "timing_source"), ("settings",), ("image_asset_id",),
                ("audio_asset_id", "voice_text"))
FIELDS = tuple(f for group in FIELD_GROUPS for f in group)
VERSION_KINDS = {"image_versions": "image", "audio_versions": "audio"}


def snapshot(project: Project) -> list[dict]:
    """The project's scenes as plain data, with each scene's image and voiceover versions."""
    db.session.flush()
    ids = [s.id for s in project.segments]
    versions: dict[tuple[int, str], list[int]] = {}
    if ids:
        for asset_id, segment_id, kind in db.session.execute(
                db.select(Asset.id, Asset.segment_id, Asset.kind).filter(
                    Asset.segment_id.in_(ids), Asset.kind.in_(VERSION_KINDS.values()))
                .order_by(Asset.id)):
            versions.setdefault((segment_id, kind), []).append(asset_id)
    return [{"id": s.id, **{f: getattr(s, f) for f in FIELDS},
             **{key: versions.get((s.id, kind), []) for key, kind in VERSION_KINDS.items()}}
            for s in project.segments]


def asset_ids(scenes: list[dict] | None) -> set[int]:
    """Every asset a snapshot points at (chosen media and versions)."""
    found: set[int] = set()
    for scene in scenes or []:
        found.update(i for i in (scene.get("image_asset_id"), scene.get("audio_asset_id")) if i)
        for key in VERSION_KINDS:
            found.update(scene.get(key, []))
    return found


def _revisions(project: Project):
    return db.select(Revision).filter_by(project_id=project.id)


def _at(project: Project, position: int) -> Revision | None:
    return db.session.scalar(_revisions(project).filter_by(position=position))


def record(project: Project, label: str, before: list[dict], coalesce: str | None = None) -> None:
    """Store an edit just applied (``before``: the snapshot taken before it), dropping any redo.

    Consecutive edits with the same ``coalesce`` key (typing in one scene) share one revision.
    """
    position = project.history_position
    db.session.execute(db.delete(Revision).where(Revision.project_id == project.id,
                                                 Revision.position > position))
    last = _at(project, position) if position else None
    if last is not None and coalesce and last.label == coalesce:
        last.scenes = snapshot(project)
    else:
        project.history_position = position + 1
        db.session.add(Revision(project_id=project.id, position=position + 1, label=coalesce or label,
                                scenes_before=before, scenes=snapshot(project)))
        db.session.execute(db.delete(Revision).where(
            Revision.project_id == project.id, Revision.position <= position + 1 - HISTORY_LIMIT))
    project.touch()


def can_undo(project: Project) -> bool:
    return project.history_position > 0 and _at(project, project.history_position) is not None


def can_redo(project: Project) -> bool:
    return _at(project, project.history_position + 1) is not None


def undo(project: Project) -> str | None:
    """Revert the newest edit; returns its label (None when there is nothing to undo)."""
    revision = _at(project, project.history_position) if project.history_position else None
    if revision is None or revision.scenes_before is None:
        return None
    current = snapshot(project)
    result = merge3(base=revision.scenes, target=revision.scenes_before, current=current)
    _restore(project, result)
    # Redo goes back to exactly where we are now; a later undo starts from what we restored.
    revision.scenes, revision.scenes_before = current, snapshot(project)
    project.history_position -= 1
    project.touch()
    return revision.label


def redo(project: Project) -> str | None:
    """Re-apply the edit undone last; returns its label (None when there is nothing to redo)."""
    revision = _at(project, project.history_position + 1)
    if revision is None:
        return None
    current = snapshot(project)
    result = merge3(base=revision.scenes_before, target=revision.scenes, current=current)
    _restore(project, result)
    revision.scenes_before, revision.scenes = current, snapshot(project)
    project.history_position += 1
    project.touch()
    return revision.label


def merge3(base: list[dict], target: list[dict], current: list[dict]) -> list[dict]:
    """``target``'s scenes, keeping what changed from ``base`` to ``current`` where target didn't."""
    base_by_id = {s["id"]: s for s in base}
    current_by_id = {s["id"]: s for s in current}
    merged = []
    for wanted in target:
        before, now = base_by_id.get(wanted["id"]), current_by_id.get(wanted["id"])
        scene = {**wanted}
        if before is not None and now is not None:
            for group in FIELD_GROUPS:
                changed_since = any(now.get(f) != before.get(f) for f in group)
                target_keeps = all(wanted.get(f) == before.get(f) for f in group)
                if changed_since and target_keeps:
                    scene.update({f: now.get(f) for f in group})
            for key in VERSION_KINDS:
                later = set(now.get(key, [])) - set(before.get(key, []))
                scene[key] = sorted(set(wanted.get(key, [])) | later)
        merged.append(scene)
    return merged


def _restore(project: Project, scenes: list[dict]) -> None:
    """Make the project's scenes exactly ``scenes`` (rows brought back keep their ids)."""
    existing = {s.id: s for s in project.segments}
    keep = []
    for position, data in enumerate(scenes):
        segment = existing.pop(data["id"], None)
        if segment is None:
            segment = Segment(id=data["id"], project_id=project.id, position=position)
            db.session.add(segment)
        for field in FIELDS:
            setattr(segment, field, data.get(field))
        segment.position = position
        keep.append(segment)
    for gone in existing.values():
        db.session.delete(gone)
    project.segments = keep
    db.session.flush()
    # Versions follow their scene: an image of a scene that undo brought back shows there again,
    # and media an undone edit made (a joined voiceover) leaves the scene's versions; the undo
    # state that still points at it keeps its file.
    for data in scenes:
        ids = [i for key in VERSION_KINDS for i in data.get(key, [])]
        ids += [i for i in (data.get("image_asset_id"), data.get("audio_asset_id")) if i]
        db.session.execute(db.update(Asset).where(
            Asset.segment_id == data["id"], Asset.kind.in_(VERSION_KINDS.values()), Asset.id.not_in(ids))
            .values(segment_id=None))
        if ids:
            db.session.execute(db.update(Asset).where(Asset.id.in_(ids), Asset.project_id == project.id)
                               .values(segment_id=data["id"]))
