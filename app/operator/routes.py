"""The operator area: every workspace's plan, credits, storage and jobs; suspension; quotas;
instance settings; operator invites. Operators only: for anyone else these pages don't exist."""
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user

from .. import ledger
from ..assets import selfhosted
from ..access import OPERATE, permission
from ..extensions import db
from ..models import CreditEntry, OperatorInvite, User, Workspace, utcnow
from ..text import clean
from ..workspaces.service import MembershipError, create_operator_invite
from .forms import CreditsForm, OperatorInviteForm, PlanForm, QuotaForm, SettingsForm
from .overview import workspace_rows
from .settings import SIGNUP_MODES, current_settings, save_settings, setting

bp = Blueprint("operator", __name__, url_prefix="/operator")
NEW_OPERATOR_INVITE_LINK = "new_operator_invite_link"
# Settings form fields and the instance settings they edit.
SETTING_FIELDS = {"signup_mode": "SIGNUP_MODE", "max_workspaces": "MAX_WORKSPACES_PER_ACCOUNT",
                  "self_service": "SELF_SERVICE", "default_quota_mb": "DEFAULT_STORAGE_QUOTA_MB",
                  "selfhosted_credits": "SELFHOSTED_IMAGE_CREDITS", "selfhosted_plans": "SELFHOSTED_IMAGE_PLANS"}


def _workspace_or_404(workspace_id: int) -> Workspace:
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        abort(404)
    return workspace


def _back(workspace: Workspace):
    return redirect(url_for(".workspace", workspace_id=workspace.id))


@bp.get("/")
@permission(OPERATE)
def index():
    workspaces = db.session.scalars(db.select(Workspace).order_by(Workspace.name, Workspace.id)).all()
    return render_template("operator/index.html", rows=workspace_rows(workspaces))


def _workspace_page(workspace: Workspace, credits_form: CreditsForm | None = None, status=200):
    entries = db.session.scalars(db.select(CreditEntry).filter_by(workspace_id=workspace.id)
                                 .order_by(CreditEntry.id.desc()).limit(20)).all()
    return render_template(
        "operator/workspace.html", row=workspace_rows([workspace])[0], entries=entries,
        plan_form=PlanForm(plan=workspace.plan), credits_form=credits_form or CreditsForm(),
        KINDS=ledger.KINDS, default_quota_mb=setting("DEFAULT_STORAGE_QUOTA_MB"),
        quota_form=QuotaForm(quota_mb=workspace.storage_quota_mb),
        members=sorted(workspace.memberships, key=lambda m: m.user.name.lower())), status


@bp.get("/workspaces/<int:workspace_id>")
@permission(OPERATE)
def workspace(workspace_id: int):
    return _workspace_page(_workspace_or_404(workspace_id))


@bp.post("/workspaces/<int:workspace_id>/plan")
@permission(OPERATE)
def set_plan(workspace_id: int):
    workspace = _workspace_or_404(workspace_id)
    form = PlanForm()
    if not form.validate_on_submit():
        flash("Choose one of the plans.", "error")
        return _back(workspace)
    workspace.plan = form.plan.data
    db.session.commit()
    ledger.ensure_monthly_grant(workspace)
    label = current_app.config["PLANS"][workspace.plan]["label"]
    flash(f"“{workspace.name}” is now on the {label} plan.", "success")
    return _back(workspace)


@bp.post("/workspaces/<int:workspace_id>/credits")
@permission(OPERATE)
def change_credits(workspace_id: int):
    workspace = _workspace_or_404(workspace_id)
    form = CreditsForm()
    if not form.validate_on_submit():
        return _workspace_page(workspace, form, 422)
    amount, reason = form.amount.data, clean(form.reason.data, multiline=False).strip()
    if form.direction.data == "grant":
        ledger.grant(workspace.id, amount, reason, user_id=current_user.id)
        flash(f"Granted {amount:,} credits to “{workspace.name}”.", "success")
        return _back(workspace)
    try:
        ledger.debit(workspace.id, amount, reason, user_id=current_user.id)
    except ledger.InsufficientCredits as exc:
        form.amount.errors.append(f"“{workspace.name}” has {exc.balance:,} credits; you can "
                                  f"remove at most {exc.balance:,}.")
        return _workspace_page(workspace, form, 422)
    flash(f"Removed {amount:,} credits from “{workspace.name}”.", "success")
    return _back(workspace)


@bp.post("/workspaces/<int:workspace_id>/quota")
@permission(OPERATE)
def set_quota(workspace_id: int):
    workspace = _workspace_or_404(workspace_id)
    form = QuotaForm()
    if not form.validate_on_submit():
        flash(" ".join(form.quota_mb.errors) or "Enter a number of MB.", "error")
        return _back(workspace)
    workspace.storage_quota_mb = form.quota_mb.data  # empty: the instance default
    db.session.commit()
    flash(f"Storage quota of “{workspace.name}” saved.", "success")
    return _back(workspace)


@bp.post("/workspaces/<int:workspace_id>/suspend")
@permission(OPERATE)
def suspend(workspace_id: int):
    workspace = _workspace_or_404(workspace_id)
    if workspace.suspended_at is None:
        workspace.suspended_at = utcnow()
        db.session.commit()
    flash(f"“{workspace.name}” is suspended: its members can't open it until you restore it.",
          "success")
    return _back(workspace)


@bp.post("/workspaces/<int:workspace_id>/restore")
@permission(OPERATE)
def restore(workspace_id: int):
    workspace = _workspace_or_404(workspace_id)
    workspace.suspended_at = None
    db.session.commit()
    flash(f"“{workspace.name}” is restored.", "success")
    return _back(workspace)


@bp.route("/settings", methods=["GET", "POST"])
@permission(OPERATE)
def settings():
    values = current_settings()
    form = SettingsForm(data={field: values[key] for field, key in SETTING_FIELDS.items()})
    if form.validate_on_submit():
        save_settings({key: getattr(form, field).data for field, key in SETTING_FIELDS.items()},
                      current_user.id)
        db.session.commit()
        flash("Instance settings saved. They apply to every web and worker process at once.",
              "success")
        return redirect(url_for(".settings"))
    operators = db.session.scalars(db.select(User).filter_by(is_operator=True)
                                   .order_by(User.name)).all()
    return render_template("operator/settings.html", form=form, operators=operators,
                           SIGNUP_MODES=SIGNUP_MODES, image_server=selfhosted.server(),
                           image_server_problem=selfhosted.problem(),
                           defaults={field: current_app.config[key]
                                     for field, key in SETTING_FIELDS.items()}), \
        422 if form.errors else 200


@bp.route("/invites", methods=["GET", "POST"])
@permission(OPERATE)
def invites():
    form = OperatorInviteForm(plan=current_app.config["DEFAULT_PLAN"])
    if form.validate_on_submit():
        try:
            token = create_operator_invite(
                form.plan.data, current_user,
                clean(form.workspace_name.data, multiline=False).strip(), form.email.data)
        except MembershipError as exc:
            form.plan.errors.append(str(exc))
        else:
            db.session.commit()
            # Shown once after the redirect, so a reload doesn't post (and invite) again.
            session[NEW_OPERATOR_INVITE_LINK] = url_for("auth.invite", token=token, _external=True)
            return redirect(url_for(".invites"))
    recent = db.session.scalars(db.select(OperatorInvite)
                                .order_by(OperatorInvite.created_at.desc()).limit(50)).all()
    return render_template("operator/invites.html", form=form, invites=recent, now=utcnow(),
                           new_invite_link=session.pop(NEW_OPERATOR_INVITE_LINK, None)), \
        422 if form.errors else 200


@bp.post("/invites/<int:invite_id>/revoke")
@permission(OPERATE)
def revoke_invite(invite_id: int):
    invite = db.session.get(OperatorInvite, invite_id)
    if invite is None or invite.used_at is not None:
        abort(404)
    db.session.delete(invite)
    db.session.commit()
    flash("Invite revoked.", "success")
    return redirect(url_for(".invites"))
