"""Background jobs: a Job row per RQ job, enqueueing, cancelling, slots and abandoned-job repair."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from rq.job import Job as RQJob
from rq.job import JobStatus

from . import dispatch, ledger
from .extensions import db
from .models import CreditEntry, Job, Project, Segment, utcnow
from .platform.queue import QueueUnavailable, ensure_reachable, new_job_id, redis_connection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    queue: str
    timeout: int          # seconds before RQ kills the job
    retries: tuple = ()   # back-off intervals for transient failures


KINDS = {
    "suggest": JobKind("default", 120, (5, 20)),
    "segment": JobKind("default", 300),  # a language model cuts the script; it falls back offline by itself
    "image": JobKind("images", 300, (10, 30, 90)),
    "voice": JobKind("voice", 300, (10, 30, 90)),
    "images_batch": JobKind("default", 900),  # queues a batch's image jobs, charging each
    "voices_batch": JobKind("default", 900),  # queues a batch's voiceover jobs
    "recording": JobKind("voice", 900),  # an uploaded voiceover, converted to FLAC or AAC, its words aligned
    "music": JobKind("voice", 1800),     # uploaded background music, likewise
    "voice_sample": JobKind("default", 120),  # a few seconds of a voice; not behind a batch of voiceovers
    "preview": JobKind("video", 600),
    "compile": JobKind("video", 3 * 3600),
    "export": JobKind("video", 1800),  # a compile's editing package (zip) for Premiere, Resolve, Final Cut
}
RECENT = timedelta(seconds=20)


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
        self.redis = redis_connection()
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
            return bool(self.redis.exists(cancel_key(self.job_id)))
        except RedisError:
            return False

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()


class AlreadyQueued(Exception):
    """The same kind of job is already queued or running for this scene (or project)."""

    def __init__(self, kind: str, segment: Segment | None):
        what = {"image": "An image", "voice": "A voiceover", "preview": "A preview", "suggest": "A suggestion",
                "compile": "A compile", "segment": "A cut", "images_batch": "A batch of images",
                "voices_batch": "A batch of voiceovers", "music": "Music", "voice_sample": "A voice sample",
                "export": "An editing package"}.get(kind, "A job")
        where = f"scene {segment.position + 1}" if segment else "this project"
        super().__init__(f"{what} for {where} is already being made; wait for it to finish.")


def enqueue(kind: str, *, project: Project, segment: Segment | None = None,
            user_id: int | None = None, batch: str | None = None, params: dict | None = None,
            before_enqueue=None) -> Job:
    """Record a Job row and put it on its queue; raises QueueUnavailable if Redis is down and
    AlreadyQueued when one is in flight already (a unique index decides, so two clicks can't both win).

    ``before_enqueue(job)`` runs after the row exists and before the job can start (charging
    credits there means a refused charge never queues anything).
    """
    ensure_reachable()
    spec = KINDS[kind]
    job = Job(rq_id=new_job_id(), kind=kind, state="queued", workspace_id=project.workspace_id,
              project_id=project.id, segment_id=segment.id if segment else None, batch=batch,
              params=params or {}, created_by_id=user_id, message="Waiting for a worker…")
    db.session.add(job)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyQueued(kind, segment) from None
    if before_enqueue:
        try:
            before_enqueue(job)
        except Exception:
            db.session.delete(job)
            db.session.commit()
            raise
    try:
        if not dispatch.submit(job):
            ahead = dispatch.position(job) or 0
            limit = dispatch.plan_limit(job.workspace_id)
            job.message = (f"Waiting for your workspace's other jobs ({limit} run at a time on this plan"
                           f"{f'; {ahead} ahead of this one' if ahead else ''}).")
            db.session.commit()
    except RedisError as exc:
        finish(job, "failed", QueueUnavailable().args[0])
        raise QueueUnavailable() from exc
    return job


def finish(job: Job, state: str, message: str = "", error: str | None = None) -> bool:
    """Move a job to a final state once (the first caller wins; a deleted job stays deleted);
    the refund hook runs for failures and cancels. Returns whether this call finished it."""
    values = {"state": state, "message": message[:300], "error": error, "finished_at": utcnow()}
    if state == "done":
        values["progress"] = 1.0
    job_id = sa_inspect(job).identity[0]  # readable even when the row is gone
    won = db.session.execute(db.update(Job).where(Job.id == job_id, Job.state.in_(Job.ACTIVE))
                             .values(**values).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not won:
        return False
    db.session.refresh(job)
    if state != "done":
        refund_job(job, message or state)
    dispatch.release(job.workspace_id, job_id)
    return True


def refund_job(job: Job, why: str) -> None:
    """Give back whatever this job was charged (idempotent: one refund per charge)."""
    charges = db.session.scalars(db.select(CreditEntry).filter_by(job_id=job.id, kind="charge"))
    for charge in list(charges):
        ledger.refund(charge, f"Refund: {why}"[:300])


def cancel_for_deletion(project: Project) -> None:
    """Before a project is deleted: stop its jobs and refund what they were charged; running ones
    see the cancel flag at their next checkpoint and find the project gone."""
    for job in db.session.scalars(db.select(Job).filter(Job.project_id == project.id,
                                                        Job.state.in_(Job.ACTIVE))).all():
        try:
            redis_connection().set(cancel_key(job.id), 1, ex=3600)
        except RedisError:
            pass
        _cancel_rq(job)
        finish(job, "cancelled", "The project was deleted.")


def active_jobs(project: Project, kind: str | None = None, include_recent: bool = False) -> list[Job]:
    """Jobs of a project still queued or running (and, optionally, those that just ended)."""
    reconcile(project)
    query = db.select(Job).filter_by(project_id=project.id)
    if kind:
        query = query.filter_by(kind=kind)
    condition = Job.state.in_(Job.ACTIVE)
    if include_recent:
        condition = condition | (Job.finished_at > utcnow() - RECENT)
    return list(db.session.scalars(query.filter(condition).order_by(Job.id)))


def reconcile_everywhere() -> None:
    """What the pages do for their project, for every project with jobs in flight and every
    workspace's places in the queues: run by each worker every little while, so a lost worker's
    job ends (and lets the next one in) even when nobody is looking."""
    for project in db.session.scalars(db.select(Project).filter(Project.id.in_(
            db.select(Job.project_id).filter(Job.state.in_(Job.ACTIVE))))).all():
        reconcile(project)
    for workspace_id in dispatch.workspaces_with_places():
        dispatch.sweep(workspace_id)


def abandoned_after() -> timedelta:
    """A running job whose worker sent no heartbeat for this long was abandoned."""
    return timedelta(seconds=current_app.config["JOB_ABANDONED_SECONDS"])


def reconcile(project: Project) -> None:
    """Fail jobs whose worker died (kill -9, lost machine) so nothing stays 'generating' forever."""
    now = utcnow()
    for job in db.session.scalars(db.select(Job).filter(Job.project_id == project.id,
                                                        Job.state.in_(Job.ACTIVE))):
        if job.state == "queued" and dispatch.position(job) is not None:
            continue  # waiting in its workspace's line: not on an RQ queue, by design
        status = _rq_status(job)
        if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            finish(job, "failed", "The worker stopped this job. Retry it.")
        elif status is None and job.created_at < now - abandoned_after():
            finish(job, "failed", "The job was lost from the queue. Retry it.")
        elif job.state == "running" and (job.heartbeat_at or job.started_at or now) < now - abandoned_after():
            _cancel_rq(job)
            finish(job, "failed", "The worker running this job stopped responding (it may have "
                   "crashed or restarted). Nothing was charged for it. Retry it.")


def _rq_status(job: Job):
    try:
        return RQJob.fetch(job.rq_id, connection=redis_connection()).get_status(refresh=True)
    except Exception:  # NoSuchJobError, or Redis down: decide from heartbeats alone
        return None if _redis_up() else JobStatus.QUEUED


def _redis_up() -> bool:
    try:
        return bool(redis_connection().ping())
    except RedisError:
        return False


def cancel_key(job_id: int) -> str:
    return f"scriptreel:cancel:{job_id}"


def _cancel_rq(job: Job) -> None:
    try:
        RQJob.fetch(job.rq_id, connection=redis_connection()).cancel()
    except Exception:
        pass


def cancel(jobs: list[Job]) -> int:
    """Cancel queued jobs at once; ask running ones to stop at their next checkpoint."""
    count = 0
    for job in jobs:
        if not job.active:
            continue
        count += 1
        try:
            redis_connection().set(cancel_key(job.id), 1, ex=3600)
        except RedisError:
            pass
        if job.state == "queued":
            _cancel_rq(job)
            finish(job, "cancelled", "Cancelled.")
        else:
            job.message = "Cancelling…"
            db.session.commit()
    return count


def cancel_requested(job_id: int) -> bool:
    try:
        return bool(redis_connection().exists(cancel_key(job_id)))
    except RedisError:
        return False
