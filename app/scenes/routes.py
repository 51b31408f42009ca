"""Step 2: describe each scene, set its timing and notes."""
from flask import Blueprint, render_template

from ..access import permission, project_or_404
from ..projects.routes import step_context

bp = Blueprint("scenes", __name__, url_prefix="/projects/<int:project_id>")


@bp.get("/scenes")
@permission("view")
def page(project_id: int):
    return render_template("scenes/page.html", **step_context(project_or_404(project_id), 2))
