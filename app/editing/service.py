"""Build a compile's editing package from its storyboard snapshot (the job, the CLI), and find the latest one."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from .. import retention
from .. import version_snapshot as snapshots
from ..extensions import db
from ..jobs import JobCancelled, JobFailed, Progress
from ..models import Asset, Job, Project
from ..pipeline.editorial import Cut, Shot, write_package
from ..pipeline.ffmpeg import Cancelled, FFmpegError
from ..platform.media import get_storage, project_prefix
from ..production import local_copy


class PackageUnavailable(Exception):
    """The compile can't be packaged (too old, or its files are gone); the message says what to do."""


def _project_assets(project: Project, ids: set[int]) -> dict[int, Asset]:
    return {a.id: a for a in db.session.scalars(db.select(Asset).filter(
        Asset.id.in_(ids), Asset.project_id == project.id))}


def write_editing_package(compile_job: Job, project: Project, workdir: Path, out: Path,
                          on_progress: Callable[[float, str], None] | None = None,
                          should_cancel: Callable[[], bool] | None = None) -> Path:
    """The zip of a finished compile, laid out exactly as its snapshot says the MP4 is."""
    board = snapshots.of(compile_job)
    if board is None:
        raise PackageUnavailable("This video was compiled before editing packages existed: compile it again.")
    needed = snapshots.asset_ids(compile_job.result) | {compile_job.result["srt"]}
    assets = _project_assets(project, needed)
    if needed - assets.keys():
        raise PackageUnavailable("Some files of this version are gone: compile again, then download.")

    def local(asset_id: int | None) -> Path | None:
        return local_copy(assets[asset_id], workdir) if asset_id else None
    shots = [Shot(name=f"Scene {n}", image=local(s["image"]), audio=local(s["audio"]), start=s["start"],
                  frames=s["frames"], in_frames=s["in"], out_frames=s["out"], transition=s["transition"],
                  text=s["text"], audio_onset=s.get("onset", 0.0))
             for n, s in enumerate(board["scenes"], start=1)]
    cut = Cut(title=project.title, fps=board["fps"], width=board["width"], height=board["height"], shots=shots,
              chapters=[(frame, title) for frame, title in board["chapters"]], music=local(board["music"]))
    srt = local(compile_job.result["srt"]).read_text(encoding="utf-8")
    return write_package(cut, srt, out, on_progress, should_cancel)


def build_package(job: Job, project: Project, progress: Progress) -> str:
    """Job handler: package the compile named in the job's params and store the zip."""
    compile_job = db.session.scalar(db.select(Job).filter_by(id=job.params["compile"], project_id=project.id,
                                                             kind="compile", state="done"))
    if compile_job is None:
        raise JobFailed("That compile was deleted; download the editing package of a newer one.")
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "package.zip"
        try:
            write_editing_package(compile_job, project, Path(work), out, progress, progress.cancelled)
        except Cancelled as exc:
            raise JobCancelled() from exc
        except PackageUnavailable as exc:
            raise JobFailed(str(exc)) from exc
        except FFmpegError as exc:
            raise JobFailed(f"The audio could not be prepared: {exc.stderr_tail or exc}") from exc
        from ..handlers import store_asset_row
        key = f"{project_prefix(project.workspace_id, project.id)}exports/job-{job.public_id}.zip"
        get_storage().put_file(key, out, "application/zip")
        asset = store_asset_row(job, project, "export", key, "application/zip", out.stat().st_size)
    job.result = {"asset_id": asset.id, "compile": compile_job.id, "version": compile_job.result.get("version")}
    db.session.commit()
    retention.collect(project)  # the package it replaces
    return f"Editing package of version {compile_job.result.get('version')} ready."


def latest_export(project: Project) -> Job | None:
    """The project's newest editing-package job (running, done or failed)."""
    return db.session.scalar(db.select(Job).filter_by(project_id=project.id, kind="export")
                             .order_by(Job.id.desc()).limit(1))
