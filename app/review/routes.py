"""The team's side of review: create and revoke links (step 4), answer, resolve and reopen comments."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user

from .. import version_snapshot as snapshots
from ..access import permission, project_or_404
from ..extensions import db
from ..models import Job, Project, ReviewComment, ReviewLink, utcnow
from ..text import clean
from ..video.service import finished_compiles
from . import service

bp = Blueprint("feedback", __name__, url_prefix="/projects/<int:project_id>/review")


def panel_state(project: Project) -> dict:
    """Step 4's review panel: the links (open ones first) and every comment thread."""
    links = service.links(project)
    return {"links": sorted(links, key=lambda link: not link.open), "threads": service.threads(project),
            "reviewable": [j for j in finished_compiles(project) if snapshots.of(j)]}


@bp.app_context_processor
def helpers() -> dict:
    return {"review_panel": panel_state, "scene_threads": service.threads_by_scene,
            "open_comment_counts": service.open_counts, "comment_scene_label": scene_label}


def scene_label(comment: ReviewComment) -> str:
    """Where a comment points, as the reviewer saw it: 'v2 · scene 3 · 0:12'."""
    parts = [f"v{comment.version}" if comment.version else None,
             f"scene {comment.scene_number}" if comment.scene_number else "whole video",
             f"{int(comment.at_seconds // 60)}:{int(comment.at_seconds % 60):02d}"
             if comment.at_seconds is not None else None]
    return " · ".join(p for p in parts if p)


def _panel(project: Project, status: int = 200, **extra):
    return render_template("review/_panel.html", project=project, review=panel_state(project), **extra), status


@bp.post("/links")
@permission("edit")
def create_link(project_id: int):
    project = project_or_404(project_id)
    job = db.session.scalar(db.select(Job).filter_by(id=request.form.get("compile", type=int),
                                                     project_id=project.id, kind="compile", state="done"))
    if job is None or snapshots.of(job) is None:
        return _panel(project, 422, error="Choose a compiled version to share.")
    days = request.form.get("days", type=int)
    if days not in service.LINK_DAYS:
        return _panel(project, 422, error="Choose how long the link works.")
    passphrase = clean(request.form.get("passphrase", ""), multiline=False).strip()
    if passphrase and len(passphrase) < 6:
        return _panel(project, 422, error="A passphrase needs at least 6 characters (or leave it empty).")
    token = service.create_link(job, current_user, days, passphrase)
    return _panel(project, new_link=url_for("review.page", token=token, _external=True),
                  new_link_days=days, new_link_locked=bool(passphrase))


@bp.post("/links/<int:link_id>/revoke")
@permission("edit")
def revoke_link(project_id: int, link_id: int):
    project = project_or_404(project_id)
    link = db.session.scalar(db.select(ReviewLink).filter_by(id=link_id, project_id=project.id))
    if link is None:
        abort(404)
    link.revoked_at = link.revoked_at or utcnow()
    db.session.commit()
    return _panel(project, notice="Link revoked: it no longer opens.")


def _comment_or_404(project: Project, comment_id: int) -> ReviewComment:
    comment = db.session.scalar(db.select(ReviewComment).filter_by(id=comment_id, project_id=project.id,
                                                                   parent_id=None))
    if comment is None:
        abort(404)
    return comment


def _thread(project: Project, comment: ReviewComment, status: int = 200, error: str | None = None):
    return render_template("review/_thread.html", project=project, c=comment, error=error), status


@bp.post("/comments/<int:comment_id>/reply")
@permission("edit")
def reply(project_id: int, comment_id: int):
    project = project_or_404(project_id)
    comment = _comment_or_404(project, comment_id)
    try:
        service.reply(comment, current_user, request.form.get("body", ""))
    except service.CommentRefused as exc:
        return _thread(project, comment, 422, str(exc))
    return _thread(project, comment)


@bp.post("/comments/<int:comment_id>/resolve")
@permission("edit")
def resolve(project_id: int, comment_id: int):
    project = project_or_404(project_id)
    comment = _comment_or_404(project, comment_id)
    service.set_resolved(comment, current_user, request.form.get("resolved") != "no")
    return _thread(project, comment)
