"""Sign up, log in, log out, change password, accept invites."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from ..access import public, signed_in
from ..extensions import db
from ..models import User
from ..security import LOGIN_LIMIT, SIGNUP_LIMIT, limiter
from ..text import clean
from ..workspaces.service import (
    MembershipError,
    accept_invite,
    create_workspace,
    find_invite,
)
from .forms import ChangePasswordForm, LoginForm, SignupForm

bp = Blueprint("auth", __name__)


def _safe_next(default: str) -> str:
    target = request.args.get("next", "")
    # Only same-site relative paths: never bounce a user to another host after login.
    parts = urlsplit(target)
    return target if target.startswith("/") and not parts.netloc and not parts.scheme \
        and not target.startswith("//") else default


def _join_invite_or_flash(token: str, user: User) -> None:
    if not token:
        return
    try:
        workspace = accept_invite(token, user)
        flash(f"You joined “{workspace.name}”.", "success")
    except MembershipError as exc:
        flash(str(exc), "error")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(SIGNUP_LIMIT, methods=["POST"])
@public
def signup():
    form = SignupForm(invite=request.args.get("invite", ""))
    invite = None
    if form.invite.data:
        try:
            invite = find_invite(form.invite.data)
        except MembershipError as exc:
            flash(str(exc), "error")
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if db.session.scalar(select(User).filter_by(email=email)):
            form.email.errors.append("An account with this email exists already. Log in instead.")
        else:
            user = User(email=email, name=clean(form.name.data, multiline=False).strip())
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.flush()
            if invite:
                _join_invite_or_flash(form.invite.data, user)
            else:
                create_workspace(user, f"{user.name}'s workspace")
            db.session.commit()
            login_user(user)
            return redirect(url_for("projects.index"))
    return render_template("auth/signup.html", form=form, invite=invite)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
@public
def login():
    form = LoginForm(invite=request.args.get("invite", ""))
    if form.validate_on_submit():
        user = db.session.scalar(select(User).filter_by(email=form.email.data.strip().lower()))
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("That email and password don't match an account.")
        else:
            login_user(user)
            _join_invite_or_flash(form.invite.data, user)
            db.session.commit()
            return redirect(_safe_next(url_for("projects.index")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout():
    logout_user()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def account():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That isn't your current password.")
        else:
            current_user.set_password(form.password.data)
            db.session.commit()
            flash("Your password has been changed.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT)
@public
def invite(token: str):
    try:
        pending = find_invite(token)
    except MembershipError as exc:
        return render_template("auth/invite.html", error=str(exc)), 410
    if request.method == "POST" and current_user.is_authenticated:
        _join_invite_or_flash(token, current_user)
        db.session.commit()
        return redirect(url_for("projects.index"))
    return render_template("auth/invite.html", invite=pending, token=token)
