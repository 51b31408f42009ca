"""Credit history with filters and CSV export; admins grant credits when self-service is on."""
import csv
import io
from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from .. import ledger
from ..access import permission
from ..ledger import KINDS
from ..extensions import db
from ..models import CreditEntry, Project
from ..text import clean

bp = Blueprint("credits", __name__, url_prefix="/credits")


def _parse_date(value: str | None):
    try:
        return datetime.strptime(value, "%Y-%m-%d") if value else None
    except ValueError:
        return None


def _filtered_entries():
    query = db.select(CreditEntry).filter_by(workspace_id=g.workspace.id)
    filters = {k: request.args.get(k, "") for k in ("project", "kind", "start", "end")}
    if filters["project"].isdigit():
        query = query.filter_by(project_id=int(filters["project"]))
    if filters["kind"] in KINDS:
        query = query.filter_by(kind=filters["kind"])
    if start := _parse_date(filters["start"]):
        query = query.filter(CreditEntry.created_at >= start)
    if end := _parse_date(filters["end"]):
        query = query.filter(CreditEntry.created_at < end + timedelta(days=1))
    return query.order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc()), filters


@bp.get("/")
@permission("view", generator=False)
def history():
    query, filters = _filtered_entries()
    entries = db.session.scalars(query.limit(500)).all()
    projects = db.session.scalars(db.select(Project).filter_by(workspace_id=g.workspace.id)
                                  .order_by(Project.title)).all()
    return render_template("credits/history.html", entries=entries, filters=filters,
                           projects=projects, KINDS=KINDS)


@bp.get("/export.csv")
@permission("view", generator=False)
def export_csv():
    query, _ = _filtered_entries()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date (UTC)", "kind", "credits", "reason", "project", "by"])
    for e in db.session.scalars(query):
        writer.writerow([e.created_at.isoformat(timespec="seconds"), e.kind, e.delta,
                         _csv_safe(e.reason), _csv_safe(e.project.title if e.project else ""),
                         _csv_safe(e.user.email if e.user else "")])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=scriptreel-credits-{g.workspace.id}.csv"})


def _csv_safe(value: str) -> str:
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.post("/grant")
@permission("manage", self_service=True)
def grant():
    amount = request.form.get("amount", type=int)
    reason = clean(request.form.get("reason"), multiline=False).strip()[:200] or "Granted by an admin"
    if not amount or not 0 < amount <= 1_000_000:
        flash("Enter a whole number of credits between 1 and 1,000,000.", "error")
    else:
        ledger.grant(g.workspace.id, amount, reason, user_id=current_user.id)
        flash(f"Granted {amount} credits.", "success")
    return redirect(url_for(".history"))
