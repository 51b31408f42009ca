"""Which media files a project still needs, and removing the rest.

A file is kept while anything points at it: a scene (its image, its voiceover, their versions),
an undo or redo state, a finished compile (its outputs and the media of its storyboard snapshot), the
newest preview of a scene, the newest editing package, the project's music, thumbnail or reference
image. Everything else of the project is deleted, row and file.
"""
from __future__ import annotations

import logging

from .extensions import db
from . import version_snapshot as snapshots
from .platform.media import get_storage
from .models import Asset, Job, Project, Revision, Segment
from .script import history

log = logging.getLogger(__name__)

COMPILE_OUTPUTS = ("video", "srt", "vtt", "chapters", "thumbnail")


def referenced(project: Project) -> set[int]:
    """Ids of every asset of the project that something still points at."""
    keep: set[int] = set()
    scene_ids = list(db.session.scalars(db.select(Segment.id).filter_by(project_id=project.id)))
    for image_id, audio_id in db.session.execute(db.select(Segment.image_asset_id, Segment.audio_asset_id)
                                                 .filter_by(project_id=project.id)):
        keep.update(i for i in (image_id, audio_id) if i)
    if scene_ids:
        keep.update(db.session.scalars(db.select(Asset.id).filter(
            Asset.segment_id.in_(scene_ids), Asset.kind.in_(history.VERSION_KINDS.values()))))
    for before, after in db.session.execute(db.select(Revision.scenes_before, Revision.scenes)
                                            .filter_by(project_id=project.id)):
        keep |= history.asset_ids(before) | history.asset_ids(after)
    newest_preview: dict[int, int] = {}
    newest_export = None  # the latest editing package stays downloadable; older ones go
    for kind, segment_id, result in db.session.execute(
            db.select(Job.kind, Job.segment_id, Job.result).filter(
                Job.project_id == project.id, Job.state.in_(("done", *Job.ACTIVE)),
                Job.kind.in_(("compile", "preview", "export")))
            .order_by(Job.id)):
        if kind == "compile":
            keep.update(result.get(k) for k in COMPILE_OUTPUTS if result.get(k))
            keep |= snapshots.asset_ids(result)  # what the version showed: for review and editing packages
        elif kind == "export":
            newest_export = result.get("asset_id") or newest_export
        elif result.get("asset_id"):
            newest_preview[segment_id] = result["asset_id"]
    keep.update(newest_preview.values())
    keep.update([newest_export] if newest_export else [])
    # An upload waiting for its conversion job.
    keep.update(params["asset_id"] for params in db.session.scalars(db.select(Job.params).filter(
        Job.project_id == project.id, Job.state.in_(Job.ACTIVE), Job.kind.in_(("recording", "music"))))
        if params.get("asset_id"))
    keep.update(i for i in (project.thumbnail_asset_id, project.settings.get("music_asset_id"),
                            project.settings.get("reference_asset_id")) if i)
    return keep


def collect(project: Project) -> int:
    """Delete the project's assets nothing points at; returns how many went.

    The candidates are read before the references: an asset is committed together with what
    points at it, so one that shows up meanwhile can't look unreferenced.
    """
    candidates = dict(db.session.execute(db.select(Asset.id, Asset.storage_key)
                                         .filter_by(project_id=project.id)).all())
    unused = {i: key for i, key in candidates.items() if i not in referenced(project)}
    if not unused:
        return 0
    db.session.execute(db.delete(Asset).where(Asset.id.in_(unused)))
    db.session.commit()
    storage = get_storage()
    for key in unused.values():
        try:
            storage.delete(key)
        except Exception:  # noqa: BLE001 - a file left behind is wasted space, not lost work
            log.warning("could not delete unused media %s", key, exc_info=True)
    return len(unused)
