"""Workspace settings: name, plan, video generator switch, provider key, members and invites."""
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from .. import ledger
from ..access import membership_or_404, permission, signed_in
from ..extensions import db
from ..models import ROLES, Invite, utcnow
from ..platform.security import INVITE_LIMIT, limiter
from ..text import clean
from .forms import InviteForm, NewWorkspaceForm
from .service import (
    MembershipError,
    change_role,
    create_invite,
    create_own_workspace,
    creation_refusal,
    remove_member,
)
from .usage import storage_usage

bp = Blueprint("workspaces", __name__, url_prefix="/workspace")
# The session key that carries a new invite link from the POST to the page it redirects to.
NEW_INVITE_LINK = "new_invite_link"


def _settings_page(invite_form: InviteForm | None = None):
    members = sorted(g.workspace.memberships, key=lambda m: (-ROLES.index(m.role), m.user.name))
    invites = db.session.scalars(db.select(Invite).filter(
        Invite.workspace_id == g.workspace.id, Invite.used_at.is_(None),
        Invite.expires_at > utcnow()).order_by(Invite.created_at.desc())).all()
    return render_template("workspaces/settings.html", members=members, invites=invites,
                           invite_form=invite_form or InviteForm(), ROLES=ROLES,
                           new_invite_link=session.pop(NEW_INVITE_LINK, None),
                           storage=storage_usage(g.workspace),
                           credits_used=ledger.used_this_month([g.workspace.id])[g.workspace.id])


@bp.get("/")
@permission("view", generator=False)
def settings():
    return _settings_page()


@bp.post("/name")
@permission("manage")
def rename():
    name = clean(request.form.get("name"), multiline=False).strip()
    if not name or len(name) > 120:
        return render_template("workspaces/_name.html", error="Give the workspace a name of up to "
                               "120 characters."), 422
    g.workspace.name = name
    db.session.commit()
    return render_template("workspaces/_name.html", saved=True)


@bp.post("/plan")
@permission("plan", self_service=True)
def change_plan():
    plan = request.form.get("plan", "")
    if plan not in current_app.config["PLANS"]:
        abort(400)
    g.workspace.plan = plan
    db.session.commit()
    ledger.ensure_monthly_grant(g.workspace)
    flash(f"The plan is now {current_app.config['PLANS'][plan]['label']}.", "success")
    return redirect(url_for(".settings"))


@bp.post("/video-generator")
@permission("manage")
def toggle_generator():
    g.workspace.video_enabled = request.form.get("enabled") == "on"
    db.session.commit()
    flash("The video generator is " + ("on." if g.workspace.video_enabled else "off."), "success")
    return redirect(url_for(".settings"))


@bp.post("/stability-key")
@permission("manage")
def set_stability_key():
    key = request.form.get("key", "").strip()
    g.workspace.stability_api_key = key or None
    db.session.commit()
    flash("Stability AI key " + ("saved." if key else "removed."), "success")
    return redirect(url_for(".settings"))


@bp.post("/invites")
@limiter.limit(INVITE_LIMIT)
@permission("manage")
def invite():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            token = create_invite(g.workspace, form.role.data, current_user, form.email.data)
        except MembershipError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            # Shown once on the page the browser is sent to, so a reload doesn't post again.
            session[NEW_INVITE_LINK] = url_for("auth.invite", token=token, _external=True)
            return redirect(url_for(".settings", _anchor="invite"))
    return _settings_page(invite_form=form), 422


@bp.post("/invites/<int:invite_id>/revoke")
@permission("manage")
def revoke_invite(invite_id: int):
    pending = db.session.scalar(db.select(Invite).filter_by(id=invite_id,
                                                            workspace_id=g.workspace.id))
    if pending is None:
        abort(404)
    db.session.delete(pending)
    db.session.commit()
    flash("Invite revoked.", "success")
    return redirect(url_for(".settings"))


@bp.post("/members/<int:membership_id>/role")
@permission("manage")
def set_role(membership_id: int):
    membership = membership_or_404(membership_id)
    try:
        change_role(membership, request.form.get("role", ""), current_user.id)
        db.session.commit()
        flash(f"{membership.user.name} is now {membership.role}.", "success")
    except MembershipError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".settings"))


@bp.post("/members/<int:membership_id>/remove")
@permission("manage")
def remove(membership_id: int):
    membership = membership_or_404(membership_id)
    name = membership.user.name
    try:
        remove_member(membership, current_user.id)
        db.session.commit()
        flash(f"{name} was removed from the workspace.", "success")
    except MembershipError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".settings"))


@bp.post("/switch")
@signed_in
def switch():
    workspace_id = request.form.get("workspace_id", type=int)
    if not any(m.workspace_id == workspace_id for m in current_user.memberships):
        abort(404)
    current_user.current_workspace_id = workspace_id
    db.session.commit()
    return redirect(url_for("projects.index"))


@bp.route("/new", methods=["GET", "POST"])
@signed_in
def new():
    form = NewWorkspaceForm()
    if refusal := creation_refusal(current_user):
        return render_template("workspaces/new.html", form=form, refusal=refusal), 403
    if form.validate_on_submit():
        name = clean(form.name.data, multiline=False).strip()
        if not name:
            form.name.errors.append("Give the workspace a name.")
            return render_template("workspaces/new.html", form=form), 422
        try:
            workspace = create_own_workspace(current_user, name)
        except MembershipError as exc:
            db.session.rollback()
            return render_template("workspaces/new.html", form=form, refusal=str(exc)), 403
        db.session.commit()
        plan = current_app.config["PLANS"][workspace.plan]
        flash(f"Workspace “{name}” created. It is on the {plan['label']} plan and you are its "
              "owner.", "success")
        # Without the video generator the projects page would only refuse: show the plan instead.
        return redirect(url_for("projects.index" if plan["video_generator"] else ".settings"))
    return render_template("workspaces/new.html", form=form), 422 if form.errors else 200

