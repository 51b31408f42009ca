"""RQ entry point: load the Job row, run its handler, record the outcome, let the next job in.

Handlers live in app/handlers.py; they call app/pipeline and store results. Everything here
is safe to run twice for the same job (RQ retries, a restarted worker).
"""
from __future__ import annotations

import errno
import logging
import threading

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import ShutDownImminentException
from sqlalchemy import select, update

from . import dispatch, jobs
from .jobs import JobCancelled, JobFailed, Progress
from .extensions import db
from .platform.media import delete_project_media
from .models import Job, Project, Segment, Workspace, utcnow

log = logging.getLogger("scriptreel.tasks")


STORAGE_FULL = ("The media storage is full, so the result could not be saved. Nothing was "
                "charged. Ask whoever runs Scriptreel to free some space, then retry.")


def _heartbeat(progress: Progress, every: float, stop: threading.Event) -> None:
    """Keep the job marked alive during long provider calls or encodes."""
    while not stop.wait(every):
        try:
            with progress.engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == progress.job_id)
                             .values(heartbeat_at=utcnow()))
        except Exception:  # a missed beat is harmless; the next one retries
            log.warning("heartbeat failed for job %s", progress.job_id)


def run(job_id: int) -> None:
    db.engine.dispose(close=False)  # never share a parent's pooled connections after fork
    job = db.session.get(Job, job_id)
    if job is None or not job.active:
        return  # deleted, finished or cancelled meanwhile: nothing to do
    if _workspace_suspended(job):
        jobs.finish(job, "failed", "The workspace is suspended, so nothing runs for it. Ask whoever "
                    "runs Scriptreel to restore it; nothing was charged for this job.")
        return
    # The row may be deleted with its project while this runs: keep what the end needs.
    name, project_id, workspace_id = f"{job.rq_id} ({job.kind})", job.project_id, job.workspace_id
    log.info("job %s started", name)
    started = db.session.execute(update(Job).where(Job.id == job_id, Job.state == "queued").values(
        state="running", started_at=utcnow(), heartbeat_at=utcnow(), message="Working…")).rowcount
    db.session.commit()
    if not started:  # cancelled (or its project deleted) between the check and now
        dispatch.release(workspace_id, job_id)
        return
    progress = Progress(job)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, daemon=True, args=(
        progress, current_app.config["JOB_HEARTBEAT_SECONDS"], stop))
    beat.start()
    try:
        _execute(job, progress, name)
    finally:
        stop.set()
        if db.session.scalar(select(Job.state).where(Job.id == job_id)) not in Job.ACTIVE:
            dispatch.release(workspace_id, job_id)  # (finish() did already; a retry keeps its place)
        db.session.remove()
        _sweep_if_project_deleted(workspace_id, project_id)


def _project_gone(project_id: int | None) -> bool:
    return project_id is not None and db.session.get(Project, project_id) is None


def _sweep_if_project_deleted(workspace_id: int, project_id: int | None) -> None:
    """The project was deleted while this job ran: remove whatever the job stored under it since."""
    if _project_gone(project_id):
        log.info("project %s was deleted while its job ran; removing what the job left", project_id)
        delete_project_media(workspace_id, project_id)
        db.session.remove()


def _workspace_suspended(job: Job) -> bool:
    workspace = db.session.get(Workspace, job.workspace_id)
    return workspace is None or workspace.suspended_at is not None


def _requeue(job: Job, message: str) -> None:
    """Put the job back on its queue under a fresh RQ id (this RQ job is ending); it keeps its place."""
    rq_id = jobs.new_job_id()
    job.rq_id = rq_id
    dispatch.push(job)
    # Only now point the row at it, so a status check never sees an id that isn't queued yet.
    job.state, job.message = "queued", message
    db.session.commit()


def _execute(job: Job, progress: Progress, name: str) -> None:
    from .handlers import HANDLERS
    project_id = job.project_id
    project = db.session.get(Project, project_id)
    segment = db.session.get(Segment, job.segment_id) if job.segment_id else None
    try:
        progress.check_cancel()
        if project is None:
            raise JobCancelled()
        message = HANDLERS[job.kind](job, project, segment, progress)
    except JobCancelled:
        db.session.rollback()
        jobs.finish(job, "cancelled", "Cancelled.")
        return
    except ShutDownImminentException:
        # The platform is stopping this worker (HerokuWorker turns SIGTERM into this): put the
        # job back on its queue for another worker; handlers are idempotent, charges are kept.
        db.session.rollback()
        _requeue(job, "The worker was restarting; the job is queued again.")
        return
    except JobFailed as exc:
        db.session.rollback()
        current = get_current_job()
        if exc.retryable and current is not None and current.retries_left:
            job.state, job.message = "queued", f"Retrying soon: {exc}"
            db.session.commit()
            raise  # RQ schedules the retry with back-off
        jobs.finish(job, "failed", str(exc))
        return
    except OSError as exc:
        db.session.rollback()
        if exc.errno != errno.ENOSPC:
            raise
        log.error("job %s: media storage is full", name)
        jobs.finish(job, "failed", STORAGE_FULL)
        return
    except Exception as exc:
        db.session.rollback()
        if _project_gone(project_id):  # its files went with it: nothing to report to anyone
            log.info("job %s ended: its project was deleted", name)
            return
        log.exception("job %s crashed", name)
        jobs.finish(job, "failed", "Something went wrong on our side; nothing was charged for "
                    "it. Retry, and tell whoever runs Scriptreel if it keeps happening.",
                    error=f"{exc.__class__.__name__}: {exc}")
        return
    jobs.finish(job, "done", message or "Done.")  # unless a cancel or a deletion got there first
    log.info("job %s finished", name)
