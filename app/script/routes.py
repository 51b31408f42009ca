"""Step 1: import the script and cut it into scenes."""
from flask import Blueprint, render_template

from ..access import permission, project_or_404
from ..projects.routes import step_context

bp = Blueprint("script", __name__, url_prefix="/projects/<int:project_id>")


@bp.get("/script")
@permission("view")
def page(project_id: int):
    return render_template("script/page.html", **step_context(project_or_404(project_id), 1))
