"""Step 4's "Download for editing": queue a compile's editing package and follow it until the zip is ready."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from .. import version_snapshot as snapshots
from ..access import permission, project_or_404
from ..extensions import db
from ..jobs import AlreadyQueued, enqueue
from ..models import Asset, Job, Project
from ..platform.queue import QueueUnavailable
from ..platform.security import GENERATE_LIMIT, limiter, member_key
from ..video.service import download_name
from .service import latest_export

bp = Blueprint("editing", __name__, url_prefix="/projects/<int:project_id>/editing")


@bp.app_context_processor
def helpers() -> dict:
    return {"editing_state": panel_state}


def panel_state(project: Project, compile_job: Job) -> dict:
    """What the panel shows for a compile: its newest package job and, when done, the zip."""
    job = latest_export(project)
    if job is not None and job.params.get("compile") != compile_job.id and not job.active:
        job = None  # a package of an older version: offer a new one
    package = db.session.get(Asset, job.result["asset_id"]) if job and job.state == "done" else None
    return {"export_job": job, "package": package, "packable": snapshots.of(compile_job) is not None,
            "compile_job": compile_job}


def _panel(project: Project, compile_job: Job, status: int = 200, error: str | None = None):
    return render_template("editing/_panel.html", project=project, error=error, download_name=download_name,
                           editing=panel_state(project, compile_job)), status


def _compile_or_404(project: Project, job_id: int) -> Job:
    job = db.session.scalar(db.select(Job).filter_by(id=job_id, project_id=project.id, kind="compile",
                                                     state="done"))
    if job is None:
        abort(404)
    return job


@bp.post("/<int:job_id>")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def start(project_id: int, job_id: int):
    project = project_or_404(project_id)
    compile_job = _compile_or_404(project, job_id)
    try:
        enqueue("export", project=project, user_id=current_user.id, params={"compile": compile_job.id})
    except (AlreadyQueued, QueueUnavailable) as exc:
        return _panel(project, compile_job, 422, str(exc))
    return _panel(project, compile_job)


@bp.get("/<int:job_id>")
@permission("view")
def status(project_id: int, job_id: int):
    """The panel; it polls itself while the package is being made."""
    project = project_or_404(project_id)
    return _panel(project, _compile_or_404(project, job_id))
