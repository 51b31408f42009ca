"""Step 4: check, compile with live progress, play, download, and manage previous compiles."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from flask_login import current_user

from .. import project_settings, retention
from ..access import permission, project_or_404, segment_or_404
from ..assets.routes import voicing_notice
from ..assets.service import NotAllowed, receive_recording, require_storage, voice_scenes
from ..extensions import db
from ..jobs import AlreadyQueued, active_jobs, cancel, enqueue
from ..models import Asset, Job, Project
from ..partials import replace_target
from ..pipeline import uploads
from ..projects.routes import step_context
from ..platform.queue import QueueUnavailable
from ..platform.security import GENERATE_LIMIT, UPLOAD_LIMIT, limiter, member_key
from . import captions, service

bp = Blueprint("video", __name__, url_prefix="/projects/<int:project_id>")
MAX_MUSIC_BYTES = 80 * 1024 * 1024


def _running(project: Project) -> Job | None:
    return next(iter(active_jobs(project, "compile")), None)


def _last_failed(project: Project) -> Job | None:
    job = db.session.scalar(db.select(Job).filter_by(project_id=project.id, kind="compile")
                            .order_by(Job.id.desc()).limit(1))
    return job if job and job.state in ("failed", "cancelled") else None


def _eta(job: Job) -> str | None:
    """Time left from the real progress rate so far (never a guess before there is one)."""
    if job.state != "running" or not job.started_at or job.progress < 0.03:
        return None
    from ..models import utcnow
    elapsed = (utcnow() - job.started_at).total_seconds()
    left = elapsed / job.progress * (1 - job.progress)
    return f"{int(left // 60)} min {int(left % 60)} s left" if left >= 60 else f"{max(1, int(left))} s left"


def _context(project: Project, **extra) -> dict:
    # The running job first: a compile that ends between the two reads is then seen running (the page polls
    # again) or done with its video, never neither. Its result is saved before it is marked done.
    running = _running(project)
    compiles = service.finished_compiles(project)
    return {"project": project, "problems": service.preflight(project), "running": running,
            "music_job": next(iter(active_jobs(project, "music", include_recent=True)), None),
            "eta": _eta(running) if running else None, "failed": _last_failed(project),
            "compiles": [(job, files) for job, files in
                         ((job, service.outputs(job)) for job in compiles) if "video" in files],
            "settings": project_settings, "download_name": service.download_name,
            "scenes_summary": service.scenes_summary,
            "caption_preview": captions.version(project), "caption_choices": captions.CHOICES,
            "drafts": service.draft_scenes(project),
            "music": db.session.get(Asset, project.settings["music_asset_id"])
            if project.settings.get("music_asset_id") else None, **extra}


@bp.get("/video")
@permission("view")
def page(project_id: int):
    project = project_or_404(project_id)
    return render_template("video/page.html", **{**_context(project), **step_context(project, 4)})


def _area(project: Project, status: int = 200, **extra):
    return render_template("video/_area.html", **_context(project, **extra)), status


@bp.post("/video/settings")
@permission("edit")
def save_settings(project_id: int):
    project = project_or_404(project_id)
    form, values = request.form, {}
    if form.get("transition") in project_settings.TRANSITIONS:
        values["transition"] = form["transition"]
    if form.get("motion") in project_settings.MOTIONS:
        values["motion"] = form["motion"]
    if form.get("preset") in ("1080p30", "720p30"):
        values["preset"] = form["preset"]
    if "transition_seconds" in form:
        seconds = form.get("transition_seconds", type=float)
        if seconds is None or not 0.1 <= seconds <= 2.0:
            return _area(project, 422, error="A transition lasts between 0.1 and 2 seconds.")
        values["transition_seconds"] = seconds
    values["burn_captions"] = form.get("burn_captions") == "on"
    more, problem = captions.settings_from(form)
    if problem:
        return _area(project, 422, error=problem)
    project_settings.update(project, **values, **more)
    project.touch()
    db.session.commit()
    return _area(project, notice="Saved. The next compile uses these settings.")


@bp.get("/video/caption-preview/<version>.jpg")
@permission("view")
def caption_preview(project_id: int, version: str):
    """The caption preview frame; its URL carries its version, so it may be cached for good."""
    project = project_or_404(project_id)
    jpeg = captions.caption_preview(project)
    if jpeg is None:
        abort(404)
    response = Response(jpeg, mimetype="image/jpeg")
    response.cache_control.private, response.cache_control.max_age = True, 86400
    return response


@bp.post("/video/scenes/<int:segment_id>/transition")
@permission("edit")
def scene_transition(project_id: int, segment_id: int):
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    choice = request.form.get("transition", "")
    overrides = {k: v for k, v in segment.settings.items() if k != "transition"}
    if choice in project_settings.TRANSITIONS:
        overrides["transition"] = choice
    db.session.execute(db.update(type(segment)).where(type(segment).id == segment.id)
                       .values(settings=overrides).execution_options(synchronize_session=False))
    db.session.commit()
    return _area(project_or_404(project_id))


@bp.post("/video/music")
@limiter.limit(UPLOAD_LIMIT, key_func=member_key)
@permission("edit")
def upload_music(project_id: int):
    project = project_or_404(project_id)
    file = request.files.get("music")
    if file is None or not file.filename:
        return _area(project, 422, error="Choose a music file (WAV, FLAC, MP3, M4A or OGG).")
    try:
        receive_recording(project, file, "music", max_bytes=MAX_MUSIC_BYTES,
                          max_seconds=current_app.config["MAX_MUSIC_MINUTES"] * 60)
    except (uploads.UploadRejected, NotAllowed, QueueUnavailable, AlreadyQueued) as exc:
        return _area(project, 422, error=getattr(exc, "user_message", str(exc)))
    return _area(project, notice="Converting the music… it is added when ready and ducked under the voice.")


@bp.get("/video/music/status")
@permission("view")
def music_status(project_id: int):
    """The polling line of a music conversion; once it is over, the whole area refreshes."""
    project = project_or_404(project_id)
    job = next(iter(active_jobs(project, "music", include_recent=True)), None)
    if job is None or not job.active:
        # The conversion saved the music before it ended, perhaps after the project was read above: read it
        # again, or the area refreshed once for good would show no music.
        db.session.refresh(project)
        error = job.message if job is not None and job.state == "failed" else None
        return replace_target("video/_area.html", "#compile-area", **_context(project), error=error)
    return render_template("video/_music_status.html", **_context(project))


@bp.post("/video/music/remove")
@permission("edit")
def remove_music(project_id: int):
    project = project_or_404(project_id)
    project.settings = {k: v for k, v in project.settings.items() if k != "music_asset_id"}
    db.session.commit()
    retention.collect(project)  # its file goes too: nothing else points at it
    return _area(project, notice="Background music removed.")


@bp.post("/video/compile")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def compile_video(project_id: int):
    project = project_or_404(project_id)
    problems = service.preflight(project)
    blocking = [p for p in problems if p.blocking]
    if blocking:
        return _area(project, 422, error="Fix these first: " + " ".join(p.message for p in blocking))
    if _running(project):
        return _area(project, notice="A compile is already running.")
    question = service.voice_question(problems)
    if question and request.form.get("confirm") != "voice":
        return _area(project, 409, question=question)  # never drop narration without asking
    try:
        require_storage(g.workspace)
        enqueue("compile", project=project, user_id=current_user.id)
    except NotAllowed as exc:
        return _area(project, 422, error=str(exc))
    except AlreadyQueued:
        return _area(project, notice="A compile is already running.")
    except QueueUnavailable as exc:
        return _area(project, 422, error=str(exc))
    return _area(project)


@bp.post("/video/revoice")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def revoice(project_id: int):
    """Re-voice every scene whose voiceover is out of date, from the pre-flight list."""
    project = project_or_404(project_id)
    try:
        _job, count = voice_scenes(project, lambda s: s.voice_outdated)
    except (QueueUnavailable, AlreadyQueued) as exc:
        return _area(project, 422, error=str(exc))
    return _area(project, notice=voicing_notice(count) + " Compile when they are ready.")


@bp.get("/video/progress")
@permission("view")
def progress(project_id: int):
    project = project_or_404(project_id)
    context = _context(project)
    if context["running"] is None:  # finished, failed or cancelled: player and downloads appear
        return replace_target("video/_area.html", "#compile-area", **context)
    return render_template("video/_progress.html", **context)


@bp.post("/video/cancel")
@permission("edit")
def cancel_compile(project_id: int):
    project = project_or_404(project_id)
    cancel(active_jobs(project, "compile"))
    return _area(project)


@bp.post("/video/compiles/<int:job_id>/delete")
@permission("edit")
def delete_compile(project_id: int, job_id: int):
    project = project_or_404(project_id)
    job = db.session.scalar(db.select(Job).filter_by(id=job_id, project_id=project.id,
                                                     kind="compile", state="done"))
    if job is None:
        abort(404)
    service.delete_compile(project, job)
    db.session.commit()
    return _area(project, notice="Compile deleted.")
