"""RQ entry point: load the Job row, take a workspace slot, run its handler, record the outcome.

Handlers live in app/handlers.py; they call app/pipeline and store results. Everything here
is safe to run twice for the same job (RQ retries, a restarted worker).
"""
from __future__ import annotations

import errno
import logging
import threading
import time
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.exceptions import ShutDownImminentException
from sqlalchemy import update

from . import jobs
from .extensions import db
from .models import Job, Project, Segment, Workspace, utcnow

log = logging.getLogger("scriptreel.tasks")
SLOT_RETRY = timedelta(seconds=3)


STORAGE_FULL = ("The media storage is full, so the result could not be saved. Nothing was "
                "charged. Ask whoever runs Scriptreel to free some space, then retry.")


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled the job."""


class JobFailed(Exception):
    """A failure with a message meant for the user; ``retryable`` asks RQ to try again."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class Progress:
    """What a handler reports through: fraction done, a stage message, and cancel checks.

    Safe to call from the pipeline's own threads: it writes through the engine (not the
    request-style session) and reads the cancel flag from Redis directly.
    """

    WRITE_EVERY = 0.5  # seconds between progress writes, unless the stage changes

    def __init__(self, job: Job):
        self.job_id = job.id
        self.engine = db.engine
        self.redis = jobs.redis_connection()
        self.fraction, self.message, self.written_at = 0.0, "", 0.0
        self.lock = threading.Lock()

    def __call__(self, fraction: float, message: str | None = None) -> None:
        with self.lock:
            # Never backwards, and never 100 % before the job has really finished.
            fraction = max(self.fraction, min(float(fraction), 0.99))
            changed = bool(message) and message != self.message
            now = time.monotonic()
            if not changed and now - self.written_at < self.WRITE_EVERY:
                self.fraction = fraction
                return
            self.fraction, self.written_at = fraction, now
            self.message = message or self.message
            values = {"progress": fraction, "heartbeat_at": utcnow()}
            if self.message:
                values["message"] = self.message[:300]
            with self.engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == self.job_id).values(**values))

    def cancelled(self) -> bool:
        try:
            return bool(self.redis.exists(jobs.cancel_key(self.job_id)))
        except RedisError:
            return False

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()


def _heartbeat(progress: Progress, workspace_id: int, every: float, stop: threading.Event) -> None:
    """Keep the job (and its workspace slot) marked alive during long provider calls or encodes."""
    while not stop.wait(every):
        try:
            with progress.engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == progress.job_id)
                             .values(heartbeat_at=utcnow()))
            jobs.refresh_slot(progress.redis, workspace_id, progress.job_id)
        except Exception:  # a missed beat is harmless; the next one retries
            log.warning("heartbeat failed for job %s", progress.job_id)


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
    progress = Progress(job)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, daemon=True, args=(
        progress, job.workspace_id, current_app.config["JOB_HEARTBEAT_SECONDS"], stop))
    beat.start()
    try:
        _execute(job, progress)
    finally:
        stop.set()
        jobs.release_slot(job)
        db.session.remove()


def _wait_for_slot(job: Job, limit: int) -> None:
    """The workspace's running jobs use all of its plan's slots: try again in a moment."""
    _requeue(job, f"Waiting: {limit} job{'s' if limit != 1 else ''} at a time on this plan…",
             delay=SLOT_RETRY)


def _requeue(job: Job, message: str, delay: timedelta | None = None) -> None:
    """Put the job back on its queue under a fresh RQ id (this RQ job is ending)."""
    current = get_current_job()
    rq_id = jobs.new_job_id()
    queue = Queue(current.origin, connection=current.connection)
    if delay:
        queue.enqueue_in(delay, "app.tasks.run", job.id, job_id=rq_id, job_timeout=current.timeout)
    else:
        queue.enqueue_call("app.tasks.run", args=(job.id,), job_id=rq_id, timeout=current.timeout)
    # Only now point the row at it, so a status check never sees an id that isn't queued yet.
    job.rq_id, job.state, job.message = rq_id, "queued", message
    db.session.commit()


def _execute(job: Job, progress: Progress) -> None:
    from .handlers import HANDLERS
    project = db.session.get(Project, job.project_id)
    segment = db.session.get(Segment, job.segment_id) if job.segment_id else None
    try:
        progress.check_cancel()
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
        log.error("job %s (%s): media storage is full", job.rq_id, job.kind)
        jobs.finish(job, "failed", STORAGE_FULL)
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
