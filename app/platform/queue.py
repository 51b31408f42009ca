"""Redis and RQ: one connection per process, a queue per kind of work, and the Job-row helper."""
from __future__ import annotations

import ssl
import uuid

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker

# Separate queues so a long compile never starves image or voice jobs (and vice versa).
QUEUES = ("images", "voice", "video", "default")


class QueueUnavailable(RuntimeError):
    """Redis can't be reached; the user is told plainly and nothing is charged."""

    def __init__(self):
        super().__init__("The job queue (Redis) is not reachable right now, so nothing was started "
                         "and nothing was charged. Try again in a minute; if it persists, ask "
                         "whoever runs Scriptreel to check Redis.")


def connect(url: str, ssl_cert_reqs: str = "required") -> Redis:
    kwargs = {"socket_connect_timeout": 3, "socket_timeout": 10, "health_check_interval": 30}
    if url.startswith("rediss://"):
        # Some platforms use self-signed certificates: REDIS_SSL_CERT_REQS=none opts out.
        kwargs["ssl_cert_reqs"] = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(
            ssl_cert_reqs, ssl.CERT_REQUIRED)
    return Redis.from_url(url, **kwargs)


def redis_connection() -> Redis:
    conn = current_app.extensions.get("scriptreel_redis")
    if conn is None:
        conn = connect(current_app.config["REDIS_URL"] or "redis://127.0.0.1:6379/0",
                       current_app.config["REDIS_SSL_CERT_REQS"])
        current_app.extensions["scriptreel_redis"] = conn
    return conn


def queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection())


def live_worker_count() -> int:
    return len(Worker.all(connection=redis_connection()))


def ensure_reachable() -> None:
    try:
        redis_connection().ping()
    except RedisError as exc:
        raise QueueUnavailable() from exc


def new_job_id() -> str:
    return uuid.uuid4().hex
