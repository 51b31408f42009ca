"""Sign up, log in, log out, change password, sessions, accept invites."""
import functools
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..access import public, signed_in
from ..extensions import db
from ..models import OperatorInvite, User
from ..operator.settings import setting
from ..platform.security import LOGIN_LIMIT, SIGNUP_LIMIT, limiter
from ..text import clean
from ..workspaces.service import (
    MembershipError,
    accept_invite,
    create_own_workspace,
    find_invite,
)
from . import sessions
from .forms import ChangePasswordForm, LoginForm, SignupForm

bp = Blueprint("auth", __name__)
# Shown for a taken email too: sign-up must not tell strangers which addresses have accounts.
SIGNUP_FAILED = ("We couldn't create an account with these details. If you have an account "
                 "already, log in instead.")


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing, checked for unknown emails so they take as long as real accounts."""
    return generate_password_hash(secrets.token_urlsafe(16))


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


def _signup_refusal(invite) -> str | None:
    """Why this person may not sign up here now, or None.

    The first account always may: it sets the instance up and becomes its operator. An
    operator's invite works in every mode; a workspace invite in the open and invite modes.
    """
    if db.session.scalar(select(User.id).limit(1)) is None or isinstance(invite, OperatorInvite):
        return None
    mode = setting("SIGNUP_MODE")
    if mode == "open" or (mode == "invite" and invite is not None):
        return None
    if mode == "invite":
        return ("Sign-up on this Scriptreel is by invitation. Ask a workspace admin or whoever "
                "runs this Scriptreel for an invite link.")
    return ("Sign-up on this Scriptreel is closed. If you should have an account, ask whoever "
            "runs this Scriptreel.")


def _create_account(form: SignupForm, invite) -> User:
    first = db.session.scalar(select(User.id).limit(1)) is None
    user = User(email=form.email.data.strip().lower(), is_operator=first,
                name=clean(form.name.data, multiline=False).strip())
    user.set_password(form.password.data)
    db.session.add(user)
    db.session.flush()
    if invite:
        _join_invite_or_flash(form.invite.data, user)
    else:
        create_own_workspace(user, f"{user.name}'s workspace", at_signup=True)
    db.session.commit()
    if first:
        flash("You are this Scriptreel's first account, so you are its operator: the Operator "
              "page sets sign-up, plans, credits and quotas.", "info")
    return user


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(SIGNUP_LIMIT, methods=["POST"])
@public
def signup():
    form = SignupForm(invite=request.args.get("invite", ""))
    invite, invite_error = None, None
    if form.invite.data:
        try:
            invite = find_invite(form.invite.data)
        except MembershipError as exc:
            invite_error = str(exc)
    if refusal := _signup_refusal(invite):
        return render_template("auth/signup_refused.html", refusal=refusal,
                               invite_error=invite_error), 403
    if invite_error:
        flash(invite_error, "error")
    if invite is not None and invite.email and request.method == "GET":
        form.email.data = invite.email  # whom it was made for; they may still use another address
    failed = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if db.session.scalar(select(User.id).filter_by(email=email)) is not None:
            generate_password_hash(form.password.data)  # as slow as creating the account
            failed = SIGNUP_FAILED
        else:
            sessions.sign_in(_create_account(form, invite))
            return redirect(url_for("projects.index"))
    return render_template("auth/signup.html", form=form, invite=invite, failed=failed,
                           new_workspace=isinstance(invite, OperatorInvite))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
@public
def login():
    form = LoginForm(invite=request.args.get("invite", ""))
    if form.validate_on_submit():
        user = db.session.scalar(select(User).filter_by(email=form.email.data.strip().lower()))
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("That email and password don't match an account.")
        else:
            sessions.sign_in(user)
            _join_invite_or_flash(form.invite.data, user)
            db.session.commit()
            return redirect(_safe_next(url_for("projects.index")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout():
    sessions.sign_out()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


def _account_page(form: ChangePasswordForm, status: int = 200):
    return render_template("auth/account.html", form=form,
                           sessions=sessions.active_sessions(current_user),
                           current_session_id=sessions.current_session_id()), status


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
            ended = sessions.end_other_sessions(current_user)
            flash("Your password has been changed." + (
                f" {ended} other browser{'s were' if ended != 1 else ' was'} signed out."
                if ended else ""), "success")
            return redirect(url_for("auth.account"))
    return _account_page(form, 422 if form.errors else 200)


def _to_login():
    """After this browser's own session ended: to the log-in page (htmx follows HX-Redirect)."""
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("auth.login")}
    return redirect(url_for("auth.login"))


@bp.post("/account/sessions/<int:session_id>/end")
@signed_in
def end_session(session_id: int):
    if session_id == sessions.current_session_id():
        sessions.sign_out()
        flash("You have logged out.", "info")
        return _to_login()
    if not sessions.end_session(current_user, session_id):
        abort(404)
    if request.headers.get("HX-Request"):
        return render_template("auth/_sessions.html", sessions=sessions.active_sessions(current_user),
                               current_session_id=sessions.current_session_id())
    flash("That browser has been signed out.", "success")
    return redirect(url_for("auth.account", _anchor="sessions"))


@bp.post("/account/sessions/end-all")
@signed_in
def end_all_sessions():
    sessions.end_all_sessions(current_user)
    flash("You have been signed out everywhere, including here.", "info")
    return _to_login()


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
    return render_template("auth/invite.html", invite=pending, token=token,
                           new_workspace=isinstance(pending, OperatorInvite))
