"""Step 3's "Consistent look" panel: the project's visual style, one seed for every scene, and the
reference image that image servers which take one follow."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, request

from .. import project_settings
from ..access import permission, project_or_404
from ..extensions import db
from ..pipeline import uploads
from ..pipeline.images.base import MAX_SEED, random_seed
from ..platform.security import UPLOAD_LIMIT, limiter, member_key
from ..text import clean
from . import reference, service
from .routes import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, _size_of

bp = Blueprint("look", __name__, url_prefix="/projects/<int:project_id>/look")
MAX_STYLE_CHARS = 500  # as in step 2


def _panel(project, status: int = 200, **extra):
    return render_template("assets/_look.html", project=project, settings=project_settings,
                           **reference.look_context(project), **extra), status


@bp.post("/settings")
@permission("edit")
def save(project_id: int):
    """Autosave of the panel's fields (each change posts the whole form)."""
    project = project_or_404(project_id)
    form, values = request.form, {}
    style = clean(form.get("style", project_settings.get(project, "style")), multiline=False).strip()
    if len(style) > MAX_STYLE_CHARS:
        return _panel(project, 422, look_error=f"Keep the style under {MAX_STYLE_CHARS} characters.")
    values["style"] = style
    if form.get("fixed_seed") != "1":
        values["fixed_seed"] = 0
    else:  # a seed of the user's, or a fresh one when they just switched it on
        seed = form.get("seed", type=int) if form.get("seed", "").strip() else random_seed()
        if seed is None or not 1 <= seed <= MAX_SEED:
            return _panel(project, 422, look_error=f"The seed is a whole number from 1 to {MAX_SEED:,}.")
        values["fixed_seed"] = seed
    strength = form.get("reference_strength", project_settings.get(project, "reference_strength"), type=float)
    if strength is None or not 0.05 <= strength <= 1:
        return _panel(project, 422, look_error="The reference strength is between 0.05 and 1.")
    values["reference_strength"] = round(strength, 2)
    project_settings.update(project, **values)
    project.touch()
    db.session.commit()
    return _panel(project, look_notice="Saved. New images use it.")


@bp.post("/reference")
@limiter.limit(UPLOAD_LIMIT, key_func=member_key)
@permission("edit")
def upload_reference(project_id: int):
    project = project_or_404(project_id)
    file = request.files.get("image")
    if file is None or not file.filename:
        return _panel(project, 422, look_error="Choose a PNG, JPEG or WebP image.")
    try:
        reference.set_reference(project, file.stream.read(MAX_IMAGE_BYTES + 1), _size_of(file),
                                Path(file.filename).name[:200], max_bytes=MAX_IMAGE_BYTES,
                                max_pixels=MAX_IMAGE_PIXELS)
    except (uploads.UploadRejected, service.NotAllowed) as exc:
        return _panel(project, 422, look_error=str(exc))
    return _panel(project, look_notice="Reference image set: new images follow it (no credits used).")


@bp.post("/reference/remove")
@permission("edit")
def remove_reference(project_id: int):
    project = project_or_404(project_id)
    reference.remove_reference(project)
    return _panel(project, look_notice="Reference image removed.")
