"""Background jobs: a Job row per RQ job, enqueueing, cancelling, slots and abandoned-job repair."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job as RQJob
from rq.job import JobStatus

from . import ledger
from .extensions import db
from .models import CreditEntry, Job, Project, Segment, utcnow
from .queue import QueueUnavailable, ensure_reachable, new_job_id, redis_connection

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
    "preview": JobKind("video", 600),
    "compile": JobKind("video", 3 * 3600),
}
RECENT = timedelta(seconds=20)


def enqueue(kind: str, *, project: Project, segment: Segment | None = None,
            user_id: int | None = None, batch: str | None = None, params: dict | None = None,
            before_enqueue=None) -> Job:
    """Record a Job row and put it on its queue; raises QueueUnavailable if Redis is down.

    ``before_enqueue(job)`` runs after the row exists and before the job can start (charging
    credits there means a refused charge never queues anything).
    """
    ensure_reachable()
    spec = KINDS[kind]
    job = Job(rq_id=new_job_id(), kind=kind, state="queued", workspace_id=project.workspace_id,
              project_id=project.id, segment_id=segment.id if segment else None, batch=batch,
              params=params or {}, created_by_id=user_id, message="Waiting for a worker…")
    db.session.add(job)
    db.session.commit()
    if before_enqueue:
        try:
            before_enqueue(job)
        except Exception:
            db.session.delete(job)
            db.session.commit()
            raise
    scale = current_app.config["JOB_RETRY_SCALE"]
    retry = Retry(max=len(spec.retries), interval=[int(s * scale) for s in spec.retries]) \
        if spec.retries else None
    try:
        Queue(spec.queue, connection=redis_connection()).enqueue_call(
            "app.tasks.run", args=(job.id,), job_id=job.rq_id, timeout=spec.timeout, retry=retry,
            result_ttl=3600, failure_ttl=7 * 86400)
    except RedisError as exc:
        finish(job, "failed", QueueUnavailable().args[0])
        raise QueueUnavailable() from exc
    return job


def finish(job: Job, state: str, message: str = "", error: str | None = None) -> None:
    """Move a job to a final state once; the refund hook runs for failures and cancels."""
    if job.state in ("done", "failed", "cancelled"):
        return
    job.state, job.message, job.error = state, message[:300], error
    job.finished_at = utcnow()
    if state == "done":
        job.progress = 1.0
    db.session.commit()
    if state != "done":
        refund_job(job, message or state)


def refund_job(job: Job, why: str) -> None:
    """Give back whatever this job was charged (idempotent: one refund per charge)."""
    charges = db.session.scalars(db.select(CreditEntry).filter_by(job_id=job.id, kind="charge"))
    for charge in list(charges):
        ledger.refund(charge, f"Refund: {why}"[:300])


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


def abandoned_after() -> timedelta:
    """A running job whose worker sent no heartbeat for this long was abandoned."""
    return timedelta(seconds=current_app.config["JOB_ABANDONED_SECONDS"])


def reconcile(project: Project) -> None:
    """Fail jobs whose worker died (kill -9, lost machine) so nothing stays 'generating' forever."""
    now = utcnow()
    for job in db.session.scalars(db.select(Job).filter(Job.project_id == project.id,
                                                        Job.state.in_(Job.ACTIVE))):
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


# --- per-workspace slots -----------------------------------------------------------------------
# A sorted set per workspace holds the ids of running jobs scored by their last heartbeat; the
# Lua script drops stale members and admits a job only below the plan's limit, atomically, so
# the limit holds across any number of workers and machines.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) return 1 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) redis.call('EXPIRE', KEYS[1], 3600) return 1 end
return 0
"""


def _slots_key(workspace_id: int) -> str:
    return f"scriptreel:slots:{workspace_id}"


def acquire_slot(job: Job, limit: int) -> bool:
    now = time.time()
    stale = now - abandoned_after().total_seconds()
    return bool(redis_connection().eval(_ACQUIRE, 1, _slots_key(job.workspace_id), stale, now,
                                        job.id, limit))


def refresh_slot(connection, workspace_id: int, job_id: int) -> None:
    connection.zadd(_slots_key(workspace_id), {str(job_id): time.time()}, xx=True)


def release_slot(job: Job) -> None:
    redis_connection().zrem(_slots_key(job.workspace_id), str(job.id))


def plan_limit(workspace) -> int:
    return int(current_app.config["PLANS"].get(workspace.plan, {}).get("max_concurrent_jobs", 1))
