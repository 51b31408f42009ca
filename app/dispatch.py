"""Fair use of the workers: a workspace has at most its plan's number of jobs in the queues at
once; the rest wait in the workspace's own line and are let through, in turn, as its jobs end.

So one workspace flooding the queues (400 voiceovers, eight long cuts) puts at most a few jobs
ahead of anyone else's: another workspace's job joins the queue at once and runs after them. Within
a workspace, its lines per queue take turns, so its own single image isn't stuck behind its batch.

Redis holds, per workspace, the set of admitted jobs (queued in RQ or running) and a waiting line
per queue; two Lua scripts make admission and hand-over atomic across every web and worker process.
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry

from .extensions import db
from .models import Job, Workspace
from .platform.queue import QUEUES, redis_connection

log = logging.getLogger(__name__)

_ADMIT = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) return 1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 0
"""
# KEYS[1] admitted set, KEYS[2] turn counter, KEYS[3..] the waiting lines; ARGV job id (or ""),
# limit, now. Releases the job, then admits waiting jobs, one line after the other, up to the limit.
_RELEASE = """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
local admitted, lines = {}, #KEYS - 2
while redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) do
  local turn, found = redis.call('INCR', KEYS[2]), false
  for i = 0, lines - 1 do
    local id = redis.call('LPOP', KEYS[3 + (turn + i) % lines])
    if id then
      redis.call('ZADD', KEYS[1], ARGV[3], id)
      table.insert(admitted, id)
      found = true
      break
    end
  end
  if not found then break end
end
return admitted
"""


def admitted_key(workspace_id: int) -> str:
    return f"scriptreel:slots:{workspace_id}"


def _line_key(workspace_id: int, queue: str) -> str:
    return f"scriptreel:waiting:{workspace_id}:{queue}"


def plan_limit(workspace_id: int) -> int:
    workspace = db.session.get(Workspace, workspace_id)
    plan = current_app.config["PLANS"].get(workspace.plan if workspace else "", {})
    return int(plan.get("max_concurrent_jobs", 1))


def submit(job: Job) -> bool:
    """Admit a new job (it goes on its RQ queue now) or put it in its workspace's line; True if admitted."""
    from .jobs import KINDS
    queue = KINDS[job.kind].queue
    admitted = redis_connection().eval(_ADMIT, 2, admitted_key(job.workspace_id),
                                       _line_key(job.workspace_id, queue), job.id,
                                       plan_limit(job.workspace_id), _now())
    if admitted:
        push(job)
    return bool(admitted)


def push(job: Job) -> None:
    """Put an admitted job on its RQ queue (under the job's current RQ id)."""
    from .jobs import KINDS
    spec = KINDS[job.kind]
    scale = current_app.config["JOB_RETRY_SCALE"]
    retry = Retry(max=len(spec.retries), interval=[int(s * scale) for s in spec.retries]) \
        if spec.retries else None
    Queue(spec.queue, connection=redis_connection()).enqueue_call(
        "app.tasks.run", args=(job.id,), job_id=job.rq_id, timeout=spec.timeout, retry=retry,
        result_ttl=3600, failure_ttl=7 * 86400)


def release(workspace_id: int, job_id: int | None) -> None:
    """A job of the workspace ended (or None: just see whether anyone can go): let the next ones in."""
    keys = [admitted_key(workspace_id), f"scriptreel:turn:{workspace_id}",
            *(_line_key(workspace_id, q) for q in QUEUES)]
    limit = plan_limit(workspace_id)
    try:
        next_ids = redis_connection().eval(_RELEASE, len(keys), *keys, job_id or "", limit, _now())
    except RedisError:
        log.warning("could not hand over workspace %s's slot", workspace_id, exc_info=True)
        return
    for raw in next_ids:
        job = db.session.get(Job, int(raw))
        if job is not None and job.state == "queued":
            push(job)
        else:  # cancelled or deleted while waiting: its place goes to the next one
            release(workspace_id, int(raw))


def position(job: Job) -> int | None:
    """How many jobs wait before this one in its workspace's line; None when it isn't waiting
    (then it is on an RQ queue, running, or over)."""
    from .jobs import KINDS
    try:
        return redis_connection().lpos(_line_key(job.workspace_id, KINDS[job.kind].queue), job.id)
    except RedisError:
        return None


def sweep(workspace_id: int) -> None:
    """Free the places of admitted jobs that are over without having said so (a lost worker whose
    job was failed elsewhere, a row deleted with its project), and let waiting jobs in."""
    try:
        admitted = [int(i) for i in redis_connection().zrange(admitted_key(workspace_id), 0, -1)]
    except RedisError:
        return
    live = set(db.session.scalars(db.select(Job.id).filter(Job.id.in_(admitted), Job.state.in_(Job.ACTIVE)))) \
        if admitted else set()
    for job_id in admitted:
        if job_id not in live:
            release(workspace_id, job_id)
    release(workspace_id, None)


def workspaces_with_places() -> list[int]:
    """Workspaces that have jobs admitted or waiting."""
    try:
        keys = [*redis_connection().scan_iter("scriptreel:slots:*"), *redis_connection().scan_iter("scriptreel:waiting:*")]
    except RedisError:
        return []
    return sorted({int(key.split(b":")[2]) for key in keys})


def _now() -> float:
    return time.time()
