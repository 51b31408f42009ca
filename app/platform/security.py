"""Security headers, rate limits, proxy handling and one log line per request."""
from __future__ import annotations

import logging
import time
import uuid
from urllib.parse import urlsplit

from flask import Flask, current_app, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from ..partials import notice_fragment

log = logging.getLogger("scriptreel.web")
limiter = Limiter(key_func=get_remote_address, default_limits=[], swallow_errors=True,
                  headers_enabled=True)

# Limits for the endpoints people (or bots) hammer; generous for real use.
LOGIN_LIMIT = "10 per minute"
def SIGNUP_LIMIT() -> str:  # noqa: N802 - used like the constants beside it
    """Sign-ups per address: SIGNUP_RATE_LIMIT (an agency onboarding a team from one office may raise it)."""
    return current_app.config["SIGNUP_RATE_LIMIT"]
INVITE_LIMIT = "30 per hour"
GENERATE_LIMIT = "60 per minute"
UPLOAD_LIMIT = "30 per minute;300 per hour"  # each upload is decoded and stored: bounded per member
# Client review pages are open to anyone holding a link: per address, like the log-in form.
REVIEW_PAGE_LIMIT = "60 per minute"
REVIEW_MEDIA_LIMIT = "600 per minute"  # a video player asks for many byte ranges while seeking
REVIEW_COMMENT_LIMIT = "10 per minute;60 per hour"


def member_key() -> str:
    """Generation limits count per signed-in user, not per shared office IP."""
    from flask_login import current_user
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def _media_origins(app: Flask) -> str:
    """Presigned S3 links are redirects to the bucket's host: pages may load media from it."""
    origins = []
    for key in ("S3_PUBLIC_ENDPOINT_URL", "S3_ENDPOINT_URL"):
        if app.config.get(key):
            parts = urlsplit(app.config[key])
            origins.append(f"{parts.scheme}://{parts.netloc}")
    if app.config.get("STORAGE_BACKEND") == "s3" and not origins:
        origins.append("https://*.amazonaws.com")
    return " ".join(dict.fromkeys(origins))


def init_security(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        # Each trusted proxy appends the address it received the request from, so the client is
        # the entry that many places from the end; anything before it is whatever the client sent.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    limiter.init_app(app)
    media = _media_origins(app)
    policy = "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
        f"img-src 'self' data: blob: {media}".strip(), f"media-src 'self' blob: {media}".strip(),
        "connect-src 'self'", "font-src 'self'", "base-uri 'self'", "form-action 'self'",
        "frame-ancestors 'none'",
    ])

    @app.before_request
    def start_timer():
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def headers_and_log(response):
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-XSS-Protection"] = "0"  # the legacy filter is off: CSP does this job
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint not in ("static", "health.healthz"):
            log.info("request_id=%s %s %s %s %.0fms", g.get("request_id"), request.method,
                     request.path, response.status_code,
                     (time.perf_counter() - g.get("started", time.perf_counter())) * 1000)
        return response

    @app.errorhandler(429)
    def too_many(error):
        message = ("Too many attempts in a short time. Wait a minute and try again "
                   f"(limit: {error.description}).")
        if request.headers.get("HX-Request"):
            return notice_fragment("_error.html", 429, status=429, message=message)
        return render_template("error.html", status=429, title="Slow down", message=message), 429
