"""Step 2: describe each scene, set its duration and notes; project style; suggestions."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from .. import project_settings
from ..access import permission, project_or_404, segment_or_404
from ..extensions import db
from ..jobs import active_jobs, enqueue
from ..projects.routes import step_context
from ..projects.storyboard import storyboard
from ..platform.queue import QueueUnavailable
from ..text import clean

bp = Blueprint("scenes", __name__, url_prefix="/projects/<int:project_id>")

FIELDS = {"description": 4000, "notes": 4000}
SECONDS_RANGE = (0.5, 600.0)



@bp.get("/scenes")
@permission("view")
def page(project_id: int):
    project = project_or_404(project_id)
    return render_template("scenes/page.html", jobs=active_jobs(project, "suggest"),
                           **step_context(project, 2))


@bp.post("/scenes/style")
@permission("edit")
def save_style(project_id: int):
    project = project_or_404(project_id)
    style = clean(request.form.get("style"), multiline=False).strip()
    if len(style) > 500:
        return render_template("script/_save_state.html",
                               error="Keep the style under 500 characters."), 422
    project_settings.update(project, style=style)
    project.touch()
    db.session.commit()
    return render_template("script/_save_state.html", saved=True)


@bp.post("/scenes/<int:segment_id>/<field>")
@permission("edit")
def save_field(project_id: int, segment_id: int, field: str):
    """Autosave of one scene field; a stale version (another tab) is refused, not applied."""
    if field not in (*FIELDS, "seconds"):
        abort(404)
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    raw = clean(request.form.get(field))
    version = request.form.get("version", type=int)
    context = {"project": project, "s": segment, "field": field}
    if version != segment.version:
        return render_template("scenes/_field_state.html", conflict=True, mine=raw, **context), 409
    if field == "seconds":
        try:
            value = round(float(raw), 2)
        except ValueError:
            value = None
        if value is None or not SECONDS_RANGE[0] <= value <= SECONDS_RANGE[1]:
            return render_template("scenes/_field_state.html", error=(
                f"Enter a duration between {SECONDS_RANGE[0]:g} and {SECONDS_RANGE[1]:g} "
                "seconds."), **context), 422
        segment.seconds, segment.timing_source = value, "manual"
    else:
        if len(raw) > FIELDS[field]:
            return render_template("scenes/_field_state.html", error=(
                f"Keep this under {FIELDS[field]:,} characters."), **context), 422
        setattr(segment, field, raw.strip())
    project.touch()
    db.session.commit()
    # The storyboard's strip and cards show each scene's length (not its description or notes).
    board = storyboard(project) if field == "seconds" else None
    return render_template("scenes/_field_state.html", saved=True, storyboard=board, step=2, **context)


@bp.post("/scenes/suggest")
@permission("edit")
def suggest(project_id: int):
    """Queue suggestions for one scene (segment_id) or for every scene without a description."""
    project = project_or_404(project_id)
    segment_id = request.form.get("segment_id", type=int)
    if segment_id:
        targets = [segment_or_404(project, segment_id)]
    else:
        targets = [s for s in project.segments if not s.description.strip()]
    if not targets:
        return render_template("scenes/_jobs.html", project=project, jobs=[],
                               notice="Every scene has a description already."), 200
    try:
        jobs = [enqueue("suggest", project=project, segment=s, user_id=current_user.id)
                for s in targets]
    except QueueUnavailable as exc:
        return render_template("scenes/_jobs.html", project=project, jobs=[], error=str(exc)), 503
    return render_template("scenes/_jobs.html", project=project, jobs=jobs)


@bp.get("/scenes/suggestions")
@permission("view")
def suggestions(project_id: int):
    """The polling partial: running suggestion jobs, then the scenes they filled in."""
    project = project_or_404(project_id)
    jobs = active_jobs(project, "suggest", include_recent=True)
    finished = {j.segment_id for j in jobs if j.state == "done"}
    if any(j.active for j in jobs):
        finished = set()  # swap the scene cards in once, when the whole batch is done
    return render_template("scenes/_jobs.html", project=project, jobs=jobs,
                           updated=[s for s in project.segments if s.id in finished])


@bp.post("/scenes/<int:segment_id>/use-suggestion")
@permission("edit")
def use_suggestion(project_id: int, segment_id: int):
    """The user chose to replace their description with the pending suggestion."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    pending = segment.settings.get("suggestion")
    if pending:
        segment.description = pending["text"]
        segment.settings = {k: v for k, v in segment.settings.items() if k != "suggestion"}
        db.session.commit()
    return render_template("scenes/_scene.html", project=project, s=segment,
                           n=segment.position + 1)
