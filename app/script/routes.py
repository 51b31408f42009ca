"""Step 1: import the script, cut it into scenes, and adjust the cut (htmx, no reloads)."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import can, permission, project_or_404
from .. import project_settings, retention
from ..extensions import db
from ..projects.service import lock_project
from ..handlers import llm_config, script_fingerprint
from ..jobs import AlreadyQueued, active_jobs, enqueue
from ..models import Project, Segment
from ..pipeline.script_import import (
    ScriptImportError,
    decode_script,
    validate_script_text,
)
from ..pipeline.segmentation import segment as cut_into_scenes
from ..pipeline.segmentation import word_count
from ..pipeline.segmentation import sentence_spans
from ..projects.routes import STEP_ENDPOINTS, step_context
from ..projects.storyboard import storyboard
from ..platform.queue import QueueUnavailable
from ..text import clean
from . import editing, history

bp = Blueprint("script", __name__, url_prefix="/projects/<int:project_id>")
bp.add_app_template_global(script_fingerprint, "script_fingerprint")

SETTING_LIMITS = {"wpm": (80, 300, project_settings.DEFAULTS["wpm"]), "min_seconds": (1, 30, 4),
                  "max_seconds": (3, 60, 15)}


def segmentation_settings(project: Project) -> dict:
    return {"wpm": project_settings.speaking_rate(project),
            **{name: project.settings.get(name, default)
               for name, (_lo, _hi, default) in SETTING_LIMITS.items() if name != "wpm"}}


def totals(project: Project) -> dict:
    segments = project.segments
    return {"scenes": len(segments), "words": sum(word_count(s.text) for s in segments),
            "seconds": sum(s.seconds for s in segments),
            "chapters": sum(1 for s in segments if s.topic_title)}


def _views(project: Project) -> dict:
    """What the editor, the storyboard and the scene partials need to draw."""
    chapters = storyboard(project)
    return {"project": project, "totals": totals(project), "can_undo": history.can_undo(project),
            "can_redo": history.can_redo(project), "sentence_spans": sentence_spans,
            "storyboard": chapters, "chapters": chapters, "step": 1, "reorder": can("edit"),
            "STEP_ENDPOINTS": STEP_ENDPOINTS}


def _editor(project: Project, status: int = 200, error: str | None = None,
            error_for: int | None = None, notice: str | None = None):
    return render_template("script/_editor.html", error=error, error_for=error_for, notice=notice,
                           **_views(project)), status


def _page(project: Project, status: int = 200, **extra):
    llm = llm_config()
    return render_template("script/page.html", settings=segmentation_settings(project),
                           cutting=active_jobs(project, "segment", include_recent=True),
                           llm_model=llm and llm.model, llm_host=llm and urlparse(llm.base_url).hostname,
                           cut_method=project.settings.get("cut_method", "offline"), **extra,
                           **{**_views(project), **step_context(project, 1)}), status


@bp.get("/script")
@permission("view")
def page(project_id: int):
    return _page(project_or_404(project_id))


def _script_changed_elsewhere(project: Project) -> bool:
    """The page sends the fingerprint of the script it showed; another save since makes it stale."""
    seen = request.form.get("script_version")
    return seen is not None and seen != script_fingerprint(project.script)


@bp.post("/script/text")
@permission("edit")
def save_script(project_id: int):
    """Autosave of the script box as the user types."""
    project = lock_project(project_or_404(project_id))
    text = clean(request.form.get("script"))
    limit = current_app.config["MAX_SCRIPT_CHARS"]
    if _script_changed_elsewhere(project):
        return render_template("script/_script_state.html", project=project, conflict=True), 409
    if len(text) > limit:
        return render_template("script/_script_state.html", project=project, error=(
            f"The script is {len(text):,} characters; the limit is {limit:,}. "
            "The last version within the limit is kept.")), 422
    project.script = text
    project.touch()
    db.session.commit()
    return render_template("script/_script_state.html", project=project, saved=True)


@bp.post("/script/upload")
@permission("edit")
def upload(project_id: int):
    project = project_or_404(project_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _page(project, 422, import_error="Choose a .txt, .md, .srt or .vtt file to upload.")
    limit = current_app.config["MAX_SCRIPT_FILE_BYTES"]
    data = file.stream.read(limit + 1)
    try:
        text = decode_script(data, file.filename, max_bytes=limit,
                             max_chars=current_app.config["MAX_SCRIPT_CHARS"])
    except ScriptImportError as exc:
        return _page(project, 422, import_error=str(exc))
    project.script = text
    project.touch()
    db.session.commit()
    flash(f"Imported {file.filename}: {word_count(text):,} words.", "success")
    return redirect(url_for("script.page", project_id=project.id), 303)


def _read_settings(project: Project) -> dict | str:
    values = {}
    for name, (low, high, default) in SETTING_LIMITS.items():
        raw = request.form.get(name, default)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return f"{name.replace('_', ' ').capitalize()} must be a number."
        if not low <= value <= high:
            return f"{name.replace('_', ' ').capitalize()} must be between {low} and {high}."
        values[name] = value
    if values["min_seconds"] >= values["max_seconds"]:
        return "The shortest scene length must be below the longest."
    return values


@bp.post("/script/segment")
@permission("edit")
def segment(project_id: int):
    """Cut (or re-cut) the script into scenes with the chosen settings; undoable."""
    project = lock_project(project_or_404(project_id))
    if "script" in request.form:
        if _script_changed_elsewhere(project):
            return _page(project, 409, typed_script=request.form["script"], import_error=(
                "The script was changed in another tab or by someone else since you opened this page, "
                "so nothing was cut. Your text is in the box below: cut again to use it."))
        project.script = clean(request.form["script"])
    try:
        validate_script_text(project.script, current_app.config["MAX_SCRIPT_CHARS"])
    except ScriptImportError as exc:
        db.session.commit()  # keep what was typed
        return _page(project, 422, import_error=str(exc))
    settings = _read_settings(project)
    if isinstance(settings, str):
        return _page(project, 422, import_error=settings)
    method = "llm" if request.form.get("method") == "llm" else "offline"
    project.settings = {**project.settings, **settings, "cut_method": method}
    if method == "llm" and llm_config() is None:
        db.session.commit()  # the script and settings are kept
        return _page(project, 422, import_error="No language model is configured on this server; "
                                                "use the offline analysis.")
    if method == "llm" or len(project.script) > current_app.config["CUT_IN_REQUEST_MAX_CHARS"]:
        return _cut_in_background(project, settings, method)
    cut = cut_into_scenes(project.script, wpm=settings["wpm"], min_seconds=settings["min_seconds"],
                          max_seconds=settings["max_seconds"])
    before = history.snapshot(project)
    editing.replace_with(project, cut)
    history.record(project, "Automatic segmentation", before)
    db.session.commit()
    retention.collect(project)
    flash(f"Cut into {len(cut.segments)} scenes in {len(cut.topics)} "
          f"topic{'s' if len(cut.topics) != 1 else ''}.", "success")
    return redirect(url_for("script.page", project_id=project.id), 303)  # a reload must not cut again


def _cut_in_background(project: Project, settings: dict, method: str):
    """Queue a cut that takes seconds (a language model, a long script); the page polls until it is done."""
    db.session.commit()  # the script and settings are kept whatever happens next
    try:
        enqueue("segment", project=project, user_id=current_user.id,
                params={**settings, "method": method, "script": script_fingerprint(project.script)})
    except AlreadyQueued:
        return _page(project, 409, import_error="The script is already being cut; wait for that to finish.")
    except QueueUnavailable as exc:
        return _page(project, 503, import_error=str(exc))
    return redirect(url_for("script.page", project_id=project.id), 303)  # a reload must not queue it again


@bp.get("/script/cutting")
@permission("view")
def cutting(project_id: int):
    """The polling partial of a language model cut; once it is over, the page loads again with the new scenes."""
    project = project_or_404(project_id)
    jobs = active_jobs(project, "segment", include_recent=True)
    if any(j.active for j in jobs):
        return render_template("script/_cutting.html", project=project, cutting=jobs)
    response = make_response("")
    response.headers["HX-Redirect"] = url_for("script.page", project_id=project.id)
    return response


def _scene(project: Project, segment_id: int) -> tuple[int, Segment]:
    for index, segment in enumerate(project.segments):
        if segment.id == segment_id:
            return index, segment
    abort(404)


def _text_saved(project: Project, segment: Segment, status: int = 200, error: str | None = None):
    """Typing must keep focus and caret, so text saves update only the scene's figures."""
    return render_template("script/_text_saved.html", s=segment, error=error, conflict=status == 409,
                           mine=request.form.get("text", ""), **_views(project)), status


STALE = ("This scene was changed in another tab or by someone else since you opened it, so "
         "your edit was not applied.")


def _stale(project: Project, index: int) -> bool:
    """Whether the versions the page sent (this scene's, and its neighbour's for edits that touch
    two scenes) are older than the database's."""
    segments = project.segments
    neighbour = {"previous": index - 1, "next": index + 1}.get(request.form.get("neighbour", ""))
    checks = [(index, request.form.get("version", type=int))]
    if neighbour is not None and 0 <= neighbour < len(segments):
        checks.append((neighbour, request.form.get("neighbour_version", type=int)))
    return any(sent is not None and sent != segments[i].version for i, sent in checks)


def _edit(project_id: int, segment_id: int, label: str, change, coalesce: str | None = None,
          respond=None):
    """Apply one scene edit, record it for undo, and answer with the refreshed editor."""
    project = lock_project(project_or_404(project_id))
    index, segment = _scene(project, segment_id)
    if _stale(project, index):
        if respond:
            return respond(project, segment, 409, STALE)
        return _editor(project, 409, error_for=segment.id, error=STALE + " Here is the newest version.")
    before = history.snapshot(project)
    try:
        note = change(project, index, segment)
    except editing.EditRefused as exc:
        db.session.rollback()
        if respond:
            return respond(project, segment, 422, str(exc))
        return _editor(project_or_404(project_id), 422, error=str(exc), error_for=segment_id)
    history.record(project, label, before, coalesce)
    db.session.commit()
    retention.collect(project)
    return respond(project, segment) if respond else _editor(project, notice=note)


@bp.post("/script/scenes/<int:segment_id>/merge")
@permission("edit")
def merge(project_id: int, segment_id: int):
    with_previous = request.form.get("neighbour") == "previous"

    def change(project, index, _segment):
        if with_previous and index == 0:
            raise editing.EditRefused("The first scene has no previous scene.")
        editing.merge(project, index - 1 if with_previous else index)
    return _edit(project_id, segment_id, "Merge scenes", change)


@bp.post("/script/scenes/<int:segment_id>/split")
@permission("edit")
def split(project_id: int, segment_id: int):
    offset = request.form.get("offset", type=int)

    def change(project, index, segment):
        if offset is None or not 0 < offset < len(segment.text):
            raise editing.EditRefused("Put the cursor where the scene should be split.")
        return editing.split(project, index, offset)
    return _edit(project_id, segment_id, "Split scene", change)


@bp.post("/script/scenes/<int:segment_id>/boundary")
@permission("edit")
def move_boundary(project_id: int, segment_id: int):
    direction = request.form.get("direction")

    def change(project, index, _segment):
        if direction not in ("earlier", "later"):
            raise editing.EditRefused("Move the boundary earlier or later.")
        editing.move_boundary(project, index, direction)
    return _edit(project_id, segment_id, "Move a boundary", change)


@bp.post("/script/scenes/<int:segment_id>/text")
@permission("edit")
def edit_text(project_id: int, segment_id: int):
    text = clean(request.form.get("text"))
    return _edit(project_id, segment_id, "Edit text",
                 lambda project, _i, segment: editing.set_text(project, segment, text),
                 coalesce=f"Edit text of scene {segment_id}", respond=_text_saved)


@bp.post("/script/scenes/<int:segment_id>/move")
@permission("edit")
def move(project_id: int, segment_id: int):
    """Reorder: one place up or down (the keyboard way), to a position (drag and drop), or to the
    end of a chapter (given by the scene that opens it)."""
    direction, to, chapter = request.form.get("direction"), request.form.get("to", type=int), \
        request.form.get("chapter", type=int)

    def change(project, index, _segment):
        target = {"up": index - 1, "down": index + 1}.get(direction, to)
        if chapter is not None:
            target = _end_of_chapter(project, chapter, index)
        if target is None:
            raise editing.EditRefused("Say where the scene should go.")
        editing.move(project, index, target)
    return _edit(project_id, segment_id, "Move scene", change)


def _end_of_chapter(project: Project, opener_id: int, moving: int) -> int:
    """The position that puts the moving scene last in the chapter opened by scene ``opener_id``."""
    segments = project.segments
    start = next((i for i, s in enumerate(segments) if s.id == opener_id and (s.topic_title or i == 0)), None)
    if start is None:
        raise editing.EditRefused("There is no such chapter.")
    end = next((i for i in range(start + 1, len(segments)) if segments[i].topic_title), len(segments))
    return end - 1 if moving < end else end


@bp.post("/script/scenes/<int:segment_id>/delete")
@permission("edit")
def delete(project_id: int, segment_id: int):
    return _edit(project_id, segment_id, "Delete scene",
                 lambda project, index, _s: editing.delete(project, index))


@bp.post("/script/scenes/<int:segment_id>/topic")
@permission("edit")
def topic(project_id: int, segment_id: int):
    action = request.form.get("action")
    title = clean(request.form.get("title"), multiline=False).strip()

    def change(project, index, _segment):
        if action == "start":
            editing.set_topic_start(project, index, title or "New topic")
        elif action == "join":
            editing.set_topic_start(project, index, None)
        elif action == "rename":
            if not title:
                raise editing.EditRefused("A chapter needs a title.")
            editing.set_topic_start(project, index, title)
        elif action in ("earlier", "later"):
            editing.move_topic_start(project, index, action)
        else:
            raise editing.EditRefused("Unknown topic action.")
    return _edit(project_id, segment_id, "Change topics", change,
                 coalesce=f"Rename topic {segment_id}" if action == "rename" else None)


def _step_history(project_id: int, step, done: str, nothing: str):
    """Undo or redo, unless the page is behind: then it shows what changed instead."""
    project = lock_project(project_or_404(project_id))
    seen = request.form.get("at", type=int)
    if seen is not None and seen != project.history_position:
        return _editor(project, 409, error="The cut was changed in another tab or by someone else "
                       "since you opened this page, so nothing was undone or redone. Here is the "
                       "newest version.")
    label = step(project)
    db.session.commit()
    return _editor(project, notice=f"{done}: {label}." if label else nothing)


@bp.post("/script/undo")
@permission("edit")
def undo(project_id: int):
    return _step_history(project_id, history.undo, "Undid", "Nothing to undo.")


@bp.post("/script/redo")
@permission("edit")
def redo(project_id: int):
    return _step_history(project_id, history.redo, "Redid", "Nothing to redo.")
