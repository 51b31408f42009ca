"""Step 3: images and voiceovers for every scene."""
from flask import Blueprint, render_template

from ..access import permission, project_or_404
from ..projects.routes import step_context

bp = Blueprint("assets", __name__, url_prefix="/projects/<int:project_id>")


@bp.get("/assets")
@permission("view")
def page(project_id: int):
    return render_template("assets/page.html", **step_context(project_or_404(project_id), 3))
