"""Instance settings: the environment gives the defaults, an operator's changes live in the database.

Kept in the database (not in a process's memory) so every web and worker process sees a change
at once.
"""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..models import InstanceSetting

SIGNUP_MODES = {
    "open": "Open — anyone can sign up and gets a workspace",
    "invite": "By invitation — with a workspace admin's invite or an operator invite",
    "closed": "Closed — only your operator invites create accounts",
}
# The settings an operator may change, with the type of their value.
SETTINGS = {
    "SIGNUP_MODE": str,
    "MAX_WORKSPACES_PER_ACCOUNT": int,
    "SELF_SERVICE": bool,
    "DEFAULT_STORAGE_QUOTA_MB": int,
    "SELFHOSTED_IMAGE_CREDITS": int,  # the price of one image from the operator's own GPU server
    "SELFHOSTED_IMAGE_PLANS": list,  # the plans that may use it
}


def _decode(key: str, stored: str):
    kind = SETTINGS[key]
    if kind is list:
        return [item for item in stored.split(",") if item]
    return stored == "1" if kind is bool else kind(stored)


def _encode(value) -> str:
    if isinstance(value, list):
        return ",".join(value)
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def setting(key: str):
    """The current value: the operator's if they set one, else the environment's."""
    row = db.session.get(InstanceSetting, key)
    return _decode(key, row.value) if row is not None else current_app.config[key]


def current_settings() -> dict:
    return {key: setting(key) for key in SETTINGS}


def save_settings(values: dict, user_id: int) -> None:
    """Store an operator's choices (the caller commits)."""
    for key, value in values.items():
        row = db.session.get(InstanceSetting, key) or InstanceSetting(key=key)
        row.value, row.updated_by_id = _encode(value), user_id
        db.session.add(row)
