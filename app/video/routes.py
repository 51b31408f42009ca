"""Step 4: compile, play and download the video."""
from flask import Blueprint, render_template

from ..access import permission, project_or_404
from ..projects.routes import step_context

bp = Blueprint("video", __name__, url_prefix="/projects/<int:project_id>")


@bp.get("/video")
@permission("view")
def page(project_id: int):
    return render_template("video/page.html", **step_context(project_or_404(project_id), 4))
