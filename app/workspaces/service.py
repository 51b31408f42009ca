"""Workspace membership rules shared by the web pages and the CLI."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import ROLES, Invite, Membership, User, Workspace, utcnow


class MembershipError(ValueError):
    """A change the rules don't allow; the message is shown to the user."""


def create_workspace(owner: User, name: str, plan: str | None = None) -> Workspace:
    workspace = Workspace(name=name, plan=plan or current_app.config["DEFAULT_PLAN"])
    db.session.add(workspace)
    db.session.add(Membership(user=owner, workspace=workspace, role="owner"))
    db.session.flush()
    owner.current_workspace_id = workspace.id
    return workspace


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(workspace: Workspace, role: str, created_by: User,
                  email: str | None = None) -> str:
    """Store an invite and return its secret token (only its hash is kept)."""
    if role not in ROLES or role == "owner":
        raise MembershipError("Invite people as viewer, editor or admin.")
    token = secrets.token_urlsafe(24)
    db.session.add(Invite(workspace=workspace, role=role, email=email or None,
                          token_hash=_hash(token), created_by_id=created_by.id,
                          expires_at=utcnow() + timedelta(
                              hours=current_app.config["INVITE_TTL_HOURS"])))
    return token


def find_invite(token: str) -> Invite:
    invite = db.session.scalar(select(Invite).filter_by(token_hash=_hash(token or "")))
    if invite is None:
        raise MembershipError("This invite link is not valid. Ask for a new one.")
    if invite.used_at is not None:
        raise MembershipError("This invite link has already been used. Ask for a new one.")
    if invite.expires_at < utcnow():
        raise MembershipError("This invite link has expired. Ask for a new one.")
    return invite


def accept_invite(token: str, user: User) -> Workspace:
    invite = find_invite(token)
    existing = db.session.scalar(select(Membership).filter_by(
        user_id=user.id, workspace_id=invite.workspace_id))
    if existing is None:
        db.session.add(Membership(user=user, workspace_id=invite.workspace_id, role=invite.role))
    invite.used_at, invite.used_by_id = utcnow(), user.id
    user.current_workspace_id = invite.workspace_id
    return invite.workspace


def _owner_count(workspace_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership).filter_by(
        workspace_id=workspace_id, role="owner"))


def change_role(membership: Membership, role: str, actor_role: str) -> None:
    if role not in ROLES:
        raise MembershipError("Unknown role.")
    if "owner" in (role, membership.role) and actor_role != "owner":
        raise MembershipError("Only an owner can make or unmake owners.")
    if membership.role == "owner" and role != "owner" and _owner_count(membership.workspace_id) <= 1:
        raise MembershipError("A workspace needs at least one owner. Make someone else owner first.")
    membership.role = role


def remove_member(membership: Membership, actor_role: str) -> None:
    if membership.role == "owner":
        if actor_role != "owner":
            raise MembershipError("Only an owner can remove an owner.")
        if _owner_count(membership.workspace_id) <= 1:
            raise MembershipError("The last owner can't be removed. Make someone else owner first.")
    user = membership.user
    db.session.delete(membership)
    if user.current_workspace_id == membership.workspace_id:
        user.current_workspace_id = None
