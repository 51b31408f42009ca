"""RQ entry point: load the Job row, take a workspace slot, run its handler, record the outcome.

Handlers live in app/handlers.py; they call app/pipeline and store results. Everything here
is safe to run twice for the same job (RQ retries, a restarted worker).
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from rq import Queue, get_current_job

from . import jobs
from .extensions import db
from .models import Job, Project, Segment, Workspace, utcnow

log = logging.getLogger("scriptreel.tasks")
HEARTBEAT_SECONDS = 10
SLOT_RETRY = timedelta(seconds=3)


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled the job."""


class JobFailed(Exception):
    """A failure with a message meant for the user; ``retryable`` asks RQ to try again."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class Progress:
    """What a handler reports through: fraction done, a stage message, and cancel checks."""

    def __init__(self, job: Job):
        self.job = job
        self.fraction = 0.0

    def __call__(self, fraction: float, message: str | None = None) -> None:
        # Never backwards, and never 100 % before the job is really finished.
        self.fraction = max(self.fraction, min(float(fraction), 0.99))
        self.job.progress = self.fraction
        if message:
            self.job.message = message[:300]
        self.job.heartbeat_at = utcnow()
        db.session.commit()
        self.check_cancel()

    def cancelled(self) -> bool:
        return jobs.cancel_requested(self.job.id)

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()


def _heartbeat(job_id: int, workspace_id: int, stop: threading.Event) -> None:
    """Keep the job marked alive while a long provider call or encode runs."""
    from sqlalchemy import update
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            with db.engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow()))
            jobs.refresh_slot(Job(id=job_id, workspace_id=workspace_id))
        except Exception:  # a missed beat is harmless; the next one retries
            log.warning("heartbeat failed for job %s", job_id)


def run(job_id: int) -> None:
    db.engine.dispose(close=False)  # never share a parent's pooled connections after fork
    job = db.session.get(Job, job_id)
    if job is None or not job.active:
        return  # deleted, finished or cancelled meanwhile: nothing to do
    workspace = db.session.get(Workspace, job.workspace_id)
    limit = jobs.plan_limit(workspace)
    if not jobs.acquire_slot(job, limit):
        _wait_for_slot(job, limit)
        return
    log.info("job %s (%s) started", job.rq_id, job.kind)
    job.state, job.started_at, job.heartbeat_at = "running", utcnow(), utcnow()
    job.message = "Working…"
    db.session.commit()
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(job.id, job.workspace_id, stop), daemon=True)
    beat.start()
    try:
        _execute(job)
    finally:
        stop.set()
        jobs.release_slot(job)
        db.session.remove()


def _wait_for_slot(job: Job, limit: int) -> None:
    """Re-queue under a fresh RQ id; the workspace's running jobs use all of its plan's slots."""
    job.rq_id = jobs.new_job_id()
    job.message = f"Waiting: {limit} job{'s' if limit != 1 else ''} at a time on this plan…"
    db.session.commit()
    current = get_current_job()
    Queue(current.origin, connection=current.connection).enqueue_in(
        SLOT_RETRY, "app.tasks.run", job.id, job_id=job.rq_id, job_timeout=current.timeout)


def _execute(job: Job) -> None:
    from .handlers import HANDLERS
    project = db.session.get(Project, job.project_id)
    segment = db.session.get(Segment, job.segment_id) if job.segment_id else None
    progress = Progress(job)
    try:
        progress.check_cancel()
        message = HANDLERS[job.kind](job, project, segment, progress)
    except JobCancelled:
        db.session.rollback()
        jobs.finish(job, "cancelled", "Cancelled.")
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
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s (%s) crashed", job.rq_id, job.kind)
        jobs.finish(job, "failed", "Something went wrong on our side; nothing was charged for "
                    "it. Retry, and tell whoever runs Scriptreel if it keeps happening.",
                    error=f"{exc.__class__.__name__}: {exc}")
        return
    db.session.refresh(job)
    if job.state == "running":
        jobs.finish(job, "done", message or "Done.")
    log.info("job %s (%s) finished: %s", job.rq_id, job.kind, job.state)
