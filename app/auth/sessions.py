"""Server-side sessions: each signed-in browser is a UserSession row, so ending it takes effect at once.

The cookie carries ``user_id:token`` (User.get_id); a request is signed in only while the row with
that token's hash is active. The rows live in the database, so every web process agrees, and a
saved or remembered cookie of an ended session opens nothing.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from flask import g, request
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from ..extensions import db
from ..models import User, UserSession, utcnow

# last_seen_at is written at most this often per session: enough for "last active", few writes.
SEEN_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _client() -> dict:
    # request.remote_addr is the client's address once TRUSTED_PROXIES is right (security.py).
    return {"ip": (request.remote_addr or "")[:64],
            "user_agent": request.headers.get("User-Agent", "")[:300]}


def sign_in(user: User) -> None:
    """Start a session for someone who just proved who they are, and sign them in with it."""
    token = secrets.token_urlsafe(32)
    record = UserSession(user_id=user.id, token_hash=_hash(token), **_client())
    db.session.add(record)
    db.session.commit()
    user.session_token = token
    g.user_session = record
    login_user(user)


def load_user(user_key: str) -> User | None:
    """Flask-Login's user loader: the user of an active session, or None (signed out)."""
    user_id, _, token = user_key.partition(":")
    if not token:
        return None  # a cookie from before sessions were kept on the server
    record = db.session.scalar(select(UserSession).filter_by(token_hash=_hash(token),
                                                             ended_at=None))
    if record is None or str(record.user_id) != user_id:
        return None
    now = utcnow()
    if now - record.last_seen_at > SEEN_EVERY:
        record.last_seen_at = now
        record.ip = _client()["ip"]
        db.session.commit()
    user = record.user
    user.session_token = token
    g.user_session = record
    return user


def current_session_id() -> int | None:
    record = g.get("user_session")
    return record.id if record is not None else None


def _end(user_id: int, *conditions) -> int:
    """End the user's active sessions that match; returns how many ended."""
    result = db.session.execute(
        update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None),
                                  *conditions).values(ended_at=utcnow()))
    db.session.commit()
    return result.rowcount


def sign_out() -> None:
    """End this browser's session on the server, then forget it in the cookie."""
    record = g.get("user_session")
    if record is not None:
        _end(record.user_id, UserSession.id == record.id)
    logout_user()


def end_session(user: User, session_id: int) -> bool:
    """End one of the user's sessions; False when it isn't theirs or has ended already."""
    return _end(user.id, UserSession.id == session_id) == 1


def end_other_sessions(user: User) -> int:
    """End every session of the account but this one (after a password change)."""
    return _end(user.id, UserSession.id != current_session_id())


def end_all_sessions(user: User) -> None:
    """Sign out everywhere, this browser included."""
    _end(user.id)
    logout_user()


def active_sessions(user: User) -> list[UserSession]:
    return db.session.scalars(select(UserSession).filter_by(user_id=user.id, ended_at=None)
                              .order_by(UserSession.last_seen_at.desc())).all()


_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari")]
_SYSTEMS = [("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")]


def device(user_agent: str) -> str:
    """A person's name for a browser: "Firefox on Windows" rather than the raw User-Agent."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (re.split(r"[\s/]", user_agent, 1)[0] or "Unknown browser")
