"""GET /healthz for platform health checks and for the local launcher."""
from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text

from ..access import public
from ..extensions import csrf, db
from .queue import live_worker_count, redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():
    report = {"database": "ok", "redis": "ok", "workers": 0}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "down" to a health check
        report["database"] = f"error: {exc.__class__.__name__}"
        db.session.rollback()
    try:
        redis_connection().ping()
        report["workers"] = live_worker_count()
    except RedisError as exc:
        report["redis"] = f"error: {exc.__class__.__name__}"
    healthy = report["database"] == "ok" and report["redis"] == "ok" and report["workers"] > 0
    report["status"] = "ok" if healthy else "degraded"
    return jsonify(report), 200 if healthy else 503


csrf.exempt(bp)
