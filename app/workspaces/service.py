"""Workspace rules shared by the web pages and the CLI: creating, inviting, roles, removal."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from ..extensions import db
from ..ledger import lock_workspace
from ..models import ROLES, Invite, Membership, OperatorInvite, User, Workspace, utcnow
from ..operator.settings import setting

# Where an account's second and later workspaces start, so that making workspaces never
# collects a paid plan's monthly credits twice; an operator moves them to another plan.
EXTRA_WORKSPACE_PLAN = "free"


class MembershipError(ValueError):
    """A change the rules don't allow; the message is shown to the user."""


def _new_workspace(owner: User, name: str, plan: str) -> Workspace:
    workspace = Workspace(name=name, plan=plan)
    db.session.add(workspace)
    db.session.add(Membership(user=owner, workspace=workspace, role="owner"))
    db.session.flush()
    owner.current_workspace_id = workspace.id
    return workspace


def _limit_message(limit: int) -> str:
    return (f"Each account can create {limit} workspace{'' if limit == 1 else 's'} on this "
            "Scriptreel. Ask whoever runs this Scriptreel for another workspace, or for an invite "
            "to one.")


def creation_refusal(user: User) -> str | None:
    """Why the account can't create another workspace now, or None when it can."""
    limit = setting("MAX_WORKSPACES_PER_ACCOUNT")
    return None if user.is_operator or user.workspaces_created < limit else _limit_message(limit)


def _count_creation(user: User, limit: int | None) -> int:
    """Count one more workspace for the account, atomically within the limit; returns the count."""
    counted = (update(User).where(User.id == user.id)
               .values(workspaces_created=User.workspaces_created + 1)
               .returning(User.workspaces_created))
    if limit is not None:
        counted = counted.where(User.workspaces_created < limit)
    count = db.session.execute(counted).scalar_one_or_none()
    if count is None:
        raise MembershipError(_limit_message(limit))
    return count


def create_own_workspace(user: User, name: str, *, at_signup: bool = False) -> Workspace:
    """A workspace an account makes for itself.

    Sign-up always makes one (the sign-up mode decides who may sign up); later ones count against
    MAX_WORKSPACES_PER_ACCOUNT, except for operators. The account's first workspace gets the
    default plan, later ones start on Free.
    """
    limit = None if at_signup or user.is_operator else setting("MAX_WORKSPACES_PER_ACCOUNT")
    first = _count_creation(user, limit) == 1
    plan = current_app.config["DEFAULT_PLAN"] if first or user.is_operator else EXTRA_WORKSPACE_PLAN
    return _new_workspace(user, name, plan)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _expiry():
    return utcnow() + timedelta(hours=current_app.config["INVITE_TTL_HOURS"])


def create_invite(workspace: Workspace, role: str, created_by: User,
                  email: str | None = None) -> str:
    """Store an invite and return its secret token (only its hash is kept)."""
    if role not in ROLES or role == "owner":
        raise MembershipError("Invite people as viewer, editor or admin.")
    token = secrets.token_urlsafe(24)
    db.session.add(Invite(workspace=workspace, role=role, email=email or None,
                          token_hash=_hash(token), created_by_id=created_by.id,
                          expires_at=_expiry()))
    return token


def create_operator_invite(plan: str, created_by: User, workspace_name: str | None = None,
                           email: str | None = None) -> str:
    """An operator's invite: its user gets a new workspace on ``plan``; returns the secret token."""
    if plan not in current_app.config["PLANS"]:
        raise MembershipError("Choose one of the plans.")
    token = secrets.token_urlsafe(24)
    db.session.add(OperatorInvite(plan=plan, workspace_name=workspace_name or None,
                                  email=email or None, token_hash=_hash(token),
                                  created_by_id=created_by.id, expires_at=_expiry()))
    return token


def find_invite(token: str) -> Invite | OperatorInvite:
    """The unused, unexpired workspace or operator invite with this token."""
    token_hash = _hash(token or "")
    invite = (db.session.scalar(select(Invite).filter_by(token_hash=token_hash))
              or db.session.scalar(select(OperatorInvite).filter_by(token_hash=token_hash)))
    if invite is None:
        raise MembershipError("This invite link is not valid. Ask for a new one.")
    if invite.used_at is not None:
        raise MembershipError("This invite link has already been used. Ask for a new one.")
    if invite.expires_at < utcnow():
        raise MembershipError("This invite link has expired. Ask for a new one.")
    return invite


def _mark_used(invite: Invite | OperatorInvite, user: User) -> None:
    """Claim the invite; of two people using one link at the same moment, only one gets it."""
    model = type(invite)
    claimed = db.session.execute(update(model).where(model.id == invite.id, model.used_at.is_(None))
                                 .values(used_at=utcnow(), used_by_id=user.id)).rowcount
    if claimed != 1:
        raise MembershipError("This invite link has already been used. Ask for a new one.")


def accept_invite(token: str, user: User) -> Workspace:
    """Join the invite's workspace, or for an operator invite, get a new workspace of one's own."""
    invite = find_invite(token)
    _mark_used(invite, user)
    if isinstance(invite, OperatorInvite):
        _count_creation(user, None)
        workspace = _new_workspace(user, invite.workspace_name or f"{user.name}'s workspace",
                                   invite.plan)
        invite.workspace_id = workspace.id
        return workspace
    existing = db.session.scalar(select(Membership).filter_by(
        user_id=user.id, workspace_id=invite.workspace_id))
    if existing is None:
        db.session.add(Membership(user=user, workspace_id=invite.workspace_id, role=invite.role))
    user.current_workspace_id = invite.workspace_id
    return invite.workspace


def _owner_count(workspace_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership).filter_by(
        workspace_id=workspace_id, role="owner"))


def _role_of(user_id: int, workspace_id: int) -> str | None:
    return db.session.scalar(select(Membership.role).filter_by(user_id=user_id,
                                                               workspace_id=workspace_id))


def _locked(membership: Membership, actor_id: int) -> str | None:
    """Lock the workspace for this change and re-read both roles; returns the actor's role now.

    Two owners demoting each other at the same moment queue on the lock, so the second sees the
    first's change and can't leave the workspace without an owner.
    """
    lock_workspace(membership.workspace_id)
    db.session.refresh(membership)
    return _role_of(actor_id, membership.workspace_id)


def change_role(membership: Membership, role: str, actor_id: int) -> None:
    """Change a member's role (the caller commits, or rolls back on MembershipError)."""
    if role not in ROLES:
        raise MembershipError("Unknown role.")
    actor_role = _locked(membership, actor_id)
    if "owner" in (role, membership.role) and actor_role != "owner":
        raise MembershipError("Only an owner can make or unmake owners.")
    if membership.role == "owner" and role != "owner" and _owner_count(membership.workspace_id) <= 1:
        raise MembershipError("A workspace needs at least one owner. Make someone else owner first.")
    membership.role = role


def remove_member(membership: Membership, actor_id: int) -> None:
    """Remove a member (the caller commits, or rolls back on MembershipError)."""
    actor_role = _locked(membership, actor_id)
    if membership.role == "owner":
        if actor_role != "owner":
            raise MembershipError("Only an owner can remove an owner.")
        if _owner_count(membership.workspace_id) <= 1:
            raise MembershipError("The last owner can't be removed. Make someone else owner first.")
    user = membership.user
    db.session.delete(membership)
    if user.current_workspace_id == membership.workspace_id:
        user.current_workspace_id = None
