"""Project list, create, rename, delete and resume."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func

from ..access import can, permission, project_or_404
from ..extensions import db
from .service import delete_project
from .storyboard import storyboard
from ..models import STEPS, Asset, Job, Project, Segment
from ..text import clean
from .forms import ProjectForm

bp = Blueprint("projects", __name__)
STEP_ENDPOINTS = {1: "script.page", 2: "scenes.page", 3: "assets.page", 4: "video.page"}


def project_status(project: Project, running: set[int], videos: dict, edited: dict) -> str:
    if project.id in running:
        return "Working…"
    if project.id in videos:
        changed, made = edited.get(project.id), videos[project.id]
        return "Edited since the last video" if changed and made and changed > made else "Video ready"
    return "Not started" if project.step == 1 and not project.script else "In progress"


def _outdated_voices(ids: list[int]) -> dict[int, int]:
    """Per project, how many scenes have a voiceover that no longer matches their text."""
    counts: dict[int, int] = {}
    for segment in db.session.scalars(db.select(Segment).filter(
            Segment.project_id.in_(ids), Segment.audio_asset_id.is_not(None))):
        counts[segment.project_id] = counts.get(segment.project_id, 0) + segment.voice_outdated
    return counts


@bp.get("/")
@permission("view")
def index():
    query = db.select(Project).filter_by(workspace_id=g.workspace.id)
    search = request.args.get("q", "").strip()
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        query = query.filter(Project.title.ilike(f"%{escaped}%", escape="\\"))
    projects = db.session.scalars(query.order_by(Project.updated_at.desc(), Project.id.desc())).all()
    ids = [p.id for p in projects]
    running = set(db.session.scalars(db.select(Job.project_id).filter(
        Job.project_id.in_(ids), Job.state.in_(Job.ACTIVE)))) if ids else set()
    videos = dict(db.session.execute(db.select(Job.project_id, func.max(Job.finished_at)).filter(
        Job.project_id.in_(ids), Job.kind == "compile", Job.state == "done").group_by(Job.project_id)).all())
    edited = dict(db.session.execute(db.select(Segment.project_id, func.max(Segment.updated_at)).filter(
        Segment.project_id.in_(videos)).group_by(Segment.project_id)).all()) if videos else {}
    template = "projects/_list.html" if request.headers.get("HX-Request") else "projects/index.html"
    return render_template(template, projects=projects, search=search, form=ProjectForm(),
                           outdated=_outdated_voices(ids) if ids else {},
                           status=lambda p: project_status(p, running, videos, edited))


@bp.post("/projects")
@permission("edit")
def create():
    form = ProjectForm()
    if not form.validate_on_submit():
        flash(form.title.errors[0] if form.title.errors else "Give the project a title.", "error")
        return redirect(url_for(".index"))
    project = Project(workspace_id=g.workspace.id,
                      title=clean(form.title.data, multiline=False).strip(),
                      created_by_id=current_user.id, settings={})
    db.session.add(project)
    db.session.commit()
    return redirect(url_for("script.page", project_id=project.id))


@bp.get("/projects/<int:project_id>")
@permission("view")
def resume(project_id: int):
    """Open a project on the step where it was left."""
    project = project_or_404(project_id)
    return redirect(url_for(STEP_ENDPOINTS[project.step], project_id=project.id))


@bp.post("/projects/<int:project_id>/title")
@permission("edit")
def rename(project_id: int):
    project = project_or_404(project_id)
    title = clean(request.form.get("title"), multiline=False).strip()
    if not title or len(title) > 200:
        return render_template("projects/_title.html", project=project,
                               error="A title needs 1 to 200 characters; the old one is kept."), 422
    project.title = title
    project.touch()
    db.session.commit()
    return render_template("projects/_title.html", project=project, saved=True)


@bp.get("/projects/<int:project_id>/delete")
@permission("edit")
def confirm_delete(project_id: int):
    project = project_or_404(project_id)
    counts = dict(db.session.execute(db.select(Asset.kind, func.count()).filter_by(
        project_id=project.id).group_by(Asset.kind)).all())
    return render_template("projects/delete.html", project=project, counts=counts)


@bp.post("/projects/<int:project_id>/delete")
@permission("edit")
def delete(project_id: int):
    project = project_or_404(project_id)
    title = project.title
    delete_project(project)
    flash(f"Deleted “{title}” and its media.", "success")
    return redirect(url_for(".index"))


def step_context(project: Project, step: int) -> dict:
    """What every step page needs for its step bar; visiting a step records it for resume."""
    if project.step != step and can("edit"):
        project.step = step
        db.session.commit()
    return {"project": project, "step": step, "STEPS": STEPS, "STEP_ENDPOINTS": STEP_ENDPOINTS,
            "storyboard": storyboard(project)}
