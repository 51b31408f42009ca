"""Who may do what: every view declares a permission and one before_request hook enforces it."""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, g, render_template, request
from flask_login import current_user

from .extensions import db
from .models import ROLES, Membership, Project, User, Workspace
from .operator.settings import setting

# Minimum role per permission (DESIGN.md "Access").
PERMISSIONS = {
    "view": "viewer",          # read projects, scenes, media, ledger
    "edit": "editor",          # create/edit projects, generate, compile
    "manage": "admin",         # members, invites, features, credits, provider keys
    "plan": "owner",           # change the subscription plan
}
# Permissions that also need the video generator (plan includes it and an admin switched it on).
GENERATOR_PERMISSIONS = {"view", "edit"}
PUBLIC = "public"        # no login (sign-up, log-in, health check, static files)
LOGGED_IN = "logged_in"  # any signed-in user, workspace-independent (account pages)
OPERATE = "operate"      # instance operators only (app/operator); everyone else gets a 404
WHOEVER_RUNS_IT = "whoever runs this Scriptreel"


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLES.index(role) >= ROLES.index(minimum)


def permission(name: str, *, generator: bool | None = None, self_service: bool = False):
    """Declare what a view needs; enforce_access() checks it before the view runs.

    ``self_service`` marks changes to plans and credits: members may make them only when an
    operator turned self-service on (operators always may).
    """
    assert name in PERMISSIONS or name in (PUBLIC, LOGGED_IN, OPERATE), name

    def decorate(view):
        view.permission = name
        view.needs_generator = (name in GENERATOR_PERMISSIONS) if generator is None else generator
        view.self_service = self_service
        return view
    return decorate


@dataclass
class Refusal:
    reason: str       # "suspended" | "plan" | "disabled" | "role" | "operator"
    message: str
    ask: list[str]    # names/emails of the people who can help


def _people_with_role(workspace: Workspace, minimum: str) -> list[str]:
    return sorted(f"{m.user.name} <{m.user.email}>" for m in workspace.memberships
                  if role_at_least(m.role, minimum))


def operators() -> list[str]:
    """Whom to ask about plans, credits and suspensions: the instance's operators."""
    return [f"{u.name} <{u.email}>" for u in db.session.scalars(
        db.select(User).filter_by(is_operator=True).order_by(User.name))]


def is_suspended(workspace: Workspace | None) -> bool:
    """Whether an operator has suspended the workspace (its members can't use it meanwhile)."""
    return workspace is not None and workspace.suspended_at is not None


def self_service_allowed() -> bool:
    """Whether the signed-in user may change plans and credits of their own workspaces."""
    return (current_user.is_authenticated and current_user.is_operator) or setting("SELF_SERVICE")


def check(permission_name: str, needs_generator: bool = False,
          self_service: bool = False) -> Refusal | None:
    """Why the current member may not do this, or None when they may."""
    ws, role = g.workspace, g.role
    if is_suspended(ws):
        return Refusal("suspended", f"“{ws.name}” is suspended: its projects can't be opened or "
                       "changed for now. Nothing has been deleted. Ask "
                       f"{WHOEVER_RUNS_IT} to restore it.", operators())
    if needs_generator:
        plan = current_app.config["PLANS"].get(ws.plan, {})
        if not plan.get("video_generator"):
            who, ask = (("the workspace owner", _people_with_role(ws, "owner"))
                        if setting("SELF_SERVICE") else (WHOEVER_RUNS_IT, operators()))
            return Refusal("plan", f"The {plan.get('label', ws.plan)} plan of “{ws.name}” does not "
                           f"include the video generator. Ask {who} to change the plan.", ask)
        if not ws.video_enabled:
            return Refusal("disabled", f"The video generator is switched off for “{ws.name}”. "
                           "Ask your workspace admin to switch it on in Workspace settings.",
                           _people_with_role(ws, "admin"))
    minimum = PERMISSIONS[permission_name]
    if not role_at_least(role, minimum):
        who = "the workspace owner" if minimum == "owner" else "your workspace admin"
        return Refusal("role", f"Your role in “{ws.name}” is {role}; this needs {minimum} or "
                       f"higher. Ask {who} to change your role.",
                       _people_with_role(ws, "owner" if minimum == "owner" else "admin"))
    if self_service and not self_service_allowed():
        return Refusal("operator", f"Plans and credits of “{ws.name}” are set by {WHOEVER_RUNS_IT}, "
                       "not by its members. Ask them to change the plan or add credits.",
                       operators())
    return None


def load_workspace() -> None:
    """Put the signed-in user's current workspace and role on g (first membership as fallback)."""
    g.workspace, g.role = None, None
    if not current_user.is_authenticated:
        return
    memberships = {m.workspace_id: m for m in current_user.memberships}
    membership = memberships.get(current_user.current_workspace_id) or next(
        iter(sorted(memberships.values(), key=lambda m: m.id)), None)
    if membership:
        g.workspace, g.role = membership.workspace, membership.role


def refuse(refusal: Refusal):
    if request.headers.get("HX-Request"):
        from .partials import notice_fragment
        return notice_fragment("_refusal.html", 403, refusal=refusal)
    return render_template("refused.html", refusal=refusal), 403


def enforce_access():
    """before_request hook: the single place where permissions are checked."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None:
        return None  # 404/405 handled by Flask
    needed = getattr(view, "permission", None)
    if needed is None:
        if request.endpoint == "static":
            return None
        raise RuntimeError(f"view {request.endpoint} declares no permission")
    if needed == PUBLIC:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if needed == LOGGED_IN:
        return None
    if needed == OPERATE:
        if not current_user.is_operator:
            abort(404)  # the operator area doesn't exist for anyone else
        return None
    if g.workspace is None:
        abort(404)
    refusal = check(needed, view.needs_generator, view.self_service)
    return refuse(refusal) if refusal else None


def can(permission_name: str, self_service: bool = False) -> bool:
    """For templates: show or hide controls (the server still enforces)."""
    if g.get("workspace") is None:
        return False
    return check(permission_name, permission_name in GENERATOR_PERMISSIONS, self_service) is None


def project_or_404(project_id: int) -> Project:
    """A project of the current workspace; another workspace's id is indistinguishable from none."""
    project = db.session.scalar(db.select(Project).filter_by(id=project_id,
                                                             workspace_id=g.workspace.id))
    if project is None:
        abort(404)
    return project


def segment_or_404(project: Project, segment_id: int):
    """A scene of that project (the project is already scoped to the workspace)."""
    segment = next((s for s in project.segments if s.id == segment_id), None)
    if segment is None:
        abort(404)
    return segment


def membership_or_404(membership_id: int) -> Membership:
    membership = db.session.scalar(db.select(Membership).filter_by(
        id=membership_id, workspace_id=g.workspace.id))
    if membership is None:
        abort(404)
    return membership


def signed_in(view):
    """Mark an account view: signed in, no workspace needed."""
    return permission(LOGGED_IN)(view)


def public(view):
    return permission(PUBLIC)(view)
