"""The client's side of a review link: the video, the storyboard, comments; nothing else of the app.

Every URL here carries the link's token and nothing else: no project, compile or asset id, so nothing
seen here opens anything elsewhere. Media are served through the token too.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from .. import version_snapshot as snapshots
from ..access import is_suspended, public
from ..extensions import db
from ..models import Asset, ReviewComment, ReviewLink, Workspace
from ..platform.media import send_asset
from ..platform.security import (LOGIN_LIMIT, REVIEW_COMMENT_LIMIT, REVIEW_MEDIA_LIMIT, REVIEW_PAGE_LIMIT,
                                 limiter)
from . import service

bp = Blueprint("review", __name__, url_prefix="/r")
UNLOCKED = "review_unlocked"  # session: keys of the links this browser gave the passphrase for


class Closed(Exception):
    """The link exists but doesn't open (revoked, expired, workspace suspended)."""


def _closed_page(why: str, status: int):
    return render_template("review/closed.html", why=why), status


def _link(token: str) -> ReviewLink:
    link = service.find_link(token)
    if link is None or snapshots.of(link.compile) is None:
        raise Closed("unknown")
    if link.revoked_at is not None:
        raise Closed("revoked")
    if not link.open:
        raise Closed("expired")
    if is_suspended(db.session.get(Workspace, link.workspace_id)):
        raise Closed("paused")
    return link


@bp.errorhandler(Closed)
def closed(error: Closed):
    return _closed_page(error.args[0], 404 if error.args[0] == "unknown" else 410)


def _unlocked(token: str, link: ReviewLink) -> bool:
    return link.passphrase_hash is None or service.session_key(token) in session.get(UNLOCKED, [])


def _page(token: str, link: ReviewLink, status: int = 200, error: str | None = None, typed: dict | None = None):
    job = link.compile
    board = snapshots.of(job)
    previous = snapshots.previous_compile(job)
    comparison = (snapshots.compare(board, snapshots.of(previous), previous.result.get("version"))
                  if previous else None)
    comments = db.session.scalars(db.select(ReviewComment).filter_by(job_id=job.id, parent_id=None)
                                  .order_by(ReviewComment.id)).all()
    response = render_template(
        "review/page.html", token=token, project=link.project, version=job.result.get("version"),
        board=board, duration=job.result["duration"], comparison=comparison, comments=comments, error=error,
        typed=typed or {"name": session.get("review_name", "")}, expires_at=link.expires_at,
        has_captions=bool(job.result.get("vtt")))
    return response, status


@bp.get("/<token>")
@limiter.limit(REVIEW_PAGE_LIMIT)
@public
def page(token: str):
    link = _link(token)
    if not _unlocked(token, link):
        return render_template("review/locked.html", token=token)
    return _page(token, link)


@bp.post("/<token>/unlock")
@limiter.limit(LOGIN_LIMIT)
@public
def unlock(token: str):
    link = _link(token)
    if not service.passphrase_matches(link, request.form.get("passphrase", "")):
        return render_template("review/locked.html", token=token, error="That passphrase is not right."), 403
    session[UNLOCKED] = [*session.get(UNLOCKED, [])[-19:], service.session_key(token)]
    return redirect(url_for("review.page", token=token))


@bp.post("/<token>/comments")
@limiter.limit(REVIEW_COMMENT_LIMIT)
@public
def comment(token: str):
    link = _link(token)
    if not _unlocked(token, link):
        abort(404)
    form = request.form
    typed = {"name": form.get("name", ""), "body": form.get("body", ""), "scene": form.get("scene", ""),
             "at": form.get("at", "")}
    try:
        scene = int(typed["scene"]) if typed["scene"].strip() else None
    except ValueError:
        scene = 0  # refused below: no such scene
    try:
        where = service.pin(snapshots.of(link.compile), scene, service.parse_time(typed["at"]))
        service.add_comment(link, typed["name"], typed["body"], where)
    except service.CommentRefused as exc:
        return _page(token, link, 422, str(exc), typed)
    session["review_name"] = typed["name"].strip()[:service.MAX_NAME_CHARS]
    flash("Thank you: your comment was sent to the team.", "success")
    return redirect(url_for("review.page", token=token) + "#comments")


def _media(token: str, asset_id: int | None):
    link = _link(token)
    if not _unlocked(token, link) or not asset_id:
        abort(404)
    row = db.session.scalar(db.select(Asset).filter_by(id=asset_id, project_id=link.project_id))
    if row is None:
        abort(404)
    return send_asset(row)


@bp.get("/<token>/video")
@limiter.limit(REVIEW_MEDIA_LIMIT)
@public
def video(token: str):
    return _media(token, _link(token).compile.result.get("video"))


@bp.get("/<token>/poster")
@limiter.limit(REVIEW_MEDIA_LIMIT)
@public
def poster(token: str):
    return _media(token, _link(token).compile.result.get("thumbnail"))


@bp.get("/<token>/captions")
@limiter.limit(REVIEW_MEDIA_LIMIT)
@public
def captions(token: str):
    return _media(token, _link(token).compile.result.get("vtt"))


@bp.get("/<token>/scenes/<int:number>")
@limiter.limit(REVIEW_MEDIA_LIMIT)
@public
def scene_image(token: str, number: int):
    scenes = snapshots.of(_link(token).compile)["scenes"]
    return _media(token, scenes[number - 1]["image"] if 1 <= number <= len(scenes) else None)


@bp.after_request
def private(response):
    """Review pages are for whoever holds the link: not for search engines or shared caches."""
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.cache_control.private = True
    return response
