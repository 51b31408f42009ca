"""Review links (secret tokens kept only hashed, expiry, revocation, passphrase) and their comments."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import g
from werkzeug.security import check_password_hash, generate_password_hash

from .. import version_snapshot as snapshots
from ..extensions import db
from ..models import Job, Project, ReviewComment, ReviewLink, Segment, User, utcnow
from ..text import clean, has_visible_text

LINK_DAYS = (1, 7, 30)
MAX_COMMENT_CHARS = 2000
MAX_NAME_CHARS = 80


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(compile_job: Job, user: User, days: int, passphrase: str = "") -> str:
    """Store a link to a compile and return its secret token (only its hash is kept)."""
    token = secrets.token_urlsafe(24)
    db.session.add(ReviewLink(
        workspace_id=compile_job.workspace_id, project_id=compile_job.project_id, job_id=compile_job.id,
        token_hash=_hash(token), created_by_id=user.id, expires_at=utcnow() + timedelta(days=days),
        passphrase_hash=generate_password_hash(passphrase) if passphrase else None))
    db.session.commit()
    return token


def find_link(token: str) -> ReviewLink | None:
    """The link with this token, whatever its state (the page says why a closed one doesn't open)."""
    return db.session.scalar(db.select(ReviewLink).filter_by(token_hash=_hash(token or "")))


def session_key(token: str) -> str:
    """What the visitor's session remembers of a link they unlocked: a hash of a hash, never an id."""
    return _hash(_hash(token))[:24]


def passphrase_matches(link: ReviewLink, passphrase: str) -> bool:
    return link.passphrase_hash is not None and check_password_hash(link.passphrase_hash, passphrase or "")


def links(project: Project) -> list[ReviewLink]:
    return list(db.session.scalars(db.select(ReviewLink).filter_by(project_id=project.id)
                                   .order_by(ReviewLink.id.desc())))


class CommentRefused(ValueError):
    """The comment can't be stored as sent; the message says why."""


@dataclass(frozen=True)
class Pin:
    """Where a comment points in its version: a scene number, a time, both or neither."""

    scene: int | None
    seconds: float | None


def parse_time(text: str) -> float | None:
    """'0:12', '1:02:03' or '12.5' as seconds; empty is None."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise CommentRefused("Write the time as minutes:seconds, e.g. 0:12.") from None
    if len(parts) > 3 or any(p < 0 for p in parts):
        raise CommentRefused("Write the time as minutes:seconds, e.g. 0:12.")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def pin(board: dict, scene: int | None, seconds: float | None) -> Pin:
    """Check a pin against the version: a time alone also names the scene on screen then."""
    duration = board["frames"] / board["fps"]
    if seconds is not None and seconds > duration:
        raise CommentRefused(f"That time is past the end of the video "
                             f"({int(duration // 60)}:{int(duration % 60):02d}).")
    if scene is not None and not 1 <= scene <= len(board["scenes"]):
        raise CommentRefused("There is no such scene.")
    if scene is None and seconds is not None:
        scene = snapshots.scene_at(board, seconds)
    return Pin(scene, seconds)


def _cleaned(name: str, body: str) -> tuple[str, str]:
    name, body = clean(name, multiline=False).strip(), clean(body).strip()
    if not has_visible_text(name):
        raise CommentRefused("Add your name, so the team knows who wrote.")
    if not has_visible_text(body):
        raise CommentRefused("Write a comment first.")
    if len(body) > MAX_COMMENT_CHARS:
        raise CommentRefused(f"Comments are at most {MAX_COMMENT_CHARS} characters; this one has {len(body)}.")
    return name[:MAX_NAME_CHARS], body


def add_comment(link: ReviewLink, name: str, body: str, where: Pin) -> ReviewComment:
    """A reviewer's comment on the link's version, attached to the scene it was about."""
    name, body = _cleaned(name, body)
    board = snapshots.of(link.compile)
    segment_id = board["scenes"][where.scene - 1]["segment"] if where.scene else None
    if segment_id is not None and db.session.get(Segment, segment_id) is None:
        segment_id = None  # the scene was deleted or merged away since this version
    comment = ReviewComment(workspace_id=link.workspace_id, project_id=link.project_id, link_id=link.id,
                            job_id=link.job_id, version=link.compile.result.get("version"),
                            scene_number=where.scene, at_seconds=where.seconds, segment_id=segment_id,
                            author_name=name, body=body)
    db.session.add(comment)
    db.session.commit()
    return comment


def reply(comment: ReviewComment, user: User, body: str) -> ReviewComment:
    """A team member's answer, shown under the comment (on the review page too)."""
    _, body = _cleaned(user.name, body)
    answer = ReviewComment(workspace_id=comment.workspace_id, project_id=comment.project_id,
                           link_id=comment.link_id, job_id=comment.job_id, version=comment.version,
                           parent_id=comment.id, author_name=user.name[:MAX_NAME_CHARS], author_user_id=user.id,
                           body=body)
    db.session.add(answer)
    db.session.commit()
    return answer


def set_resolved(comment: ReviewComment, user: User, resolved: bool) -> None:
    comment.resolved_at, comment.resolved_by_id = (utcnow(), user.id) if resolved else (None, None)
    db.session.commit()


def threads(project: Project, segment_id: int | None = None) -> list[ReviewComment]:
    """Top-level comments of a project (of one scene), open ones first, newest first."""
    query = db.select(ReviewComment).filter_by(project_id=project.id, parent_id=None)
    if segment_id is not None:
        query = query.filter_by(segment_id=segment_id)
    found = db.session.scalars(query.order_by(ReviewComment.id.desc())).all()
    return sorted(found, key=lambda c: c.resolved_at is not None)


def threads_by_scene(project: Project) -> dict[int, list[ReviewComment]]:
    """The project's comment threads keyed by scene id, loaded once per request (for the step pages)."""
    cache = g.setdefault("review_threads", {})
    if project.id not in cache:
        by_scene: dict[int, list[ReviewComment]] = {}
        for comment in threads(project):
            if comment.segment_id:
                by_scene.setdefault(comment.segment_id, []).append(comment)
        cache[project.id] = by_scene
    return cache[project.id]


def open_counts(project_ids: list[int]) -> dict[int, int]:
    """Unresolved top-level comments per project, for the project list."""
    if not project_ids:
        return {}
    return dict(db.session.execute(
        db.select(ReviewComment.project_id, db.func.count()).filter(
            ReviewComment.project_id.in_(project_ids), ReviewComment.parent_id.is_(None),
            ReviewComment.resolved_at.is_(None)).group_by(ReviewComment.project_id)).all())
