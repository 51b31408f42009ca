"""The credit ledger: append-only entries; the balance is always their sum."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import CreditEntry, Workspace, utcnow


class InsufficientCredits(Exception):
    def __init__(self, needed: int, balance: int):
        super().__init__(f"This needs {needed} credit{'s' if needed != 1 else ''} but the "
                         f"workspace has {balance}. Ask your workspace admin for more credits.")
        self.needed, self.balance = needed, balance


def balance(workspace_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(CreditEntry.delta), 0))
                             .where(CreditEntry.workspace_id == workspace_id))


def _existing(key: str) -> CreditEntry | None:
    return db.session.scalar(select(CreditEntry).filter_by(idempotency_key=key))


def _append(entry: CreditEntry) -> CreditEntry:
    """Insert and commit; an entry whose idempotency key exists already is returned instead."""
    db.session.add(entry)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = _existing(entry.idempotency_key) if entry.idempotency_key else None
        if existing is None:
            raise
        return existing
    return entry


def grant(workspace_id: int, amount: int, reason: str, *, kind: str = "grant",
          key: str | None = None, user_id: int | None = None) -> CreditEntry:
    if amount <= 0:
        raise ValueError("a grant must be a positive number of credits")
    return _append(CreditEntry(workspace_id=workspace_id, delta=amount, kind=kind, reason=reason,
                               idempotency_key=key, user_id=user_id))


def charge(workspace_id: int, amount: int, reason: str, *, key: str, **links) -> CreditEntry:
    """Spend credits atomically: concurrent charges serialise on the workspace row.

    Commits the session first, so the row lock is the first statement of a fresh
    transaction (SQLite then takes its write lock before reading the balance).
    """
    db.session.commit()
    if (existing := _existing(key)) is not None:
        return existing  # a retried job: already charged
    db.session.execute(update(Workspace).where(Workspace.id == workspace_id)
                       .values(ledger_lock=Workspace.ledger_lock + 1))
    available = balance(workspace_id)
    if available < amount:
        db.session.rollback()
        raise InsufficientCredits(amount, available)
    return _append(CreditEntry(workspace_id=workspace_id, delta=-amount, kind="charge",
                               reason=reason, idempotency_key=key, **links))


def refund(charge_entry: CreditEntry, reason: str) -> CreditEntry:
    """Give a charge back; refunding the same charge twice writes one entry."""
    return _append(CreditEntry(
        workspace_id=charge_entry.workspace_id, delta=-charge_entry.delta, kind="refund",
        reason=reason, idempotency_key=f"refund:{charge_entry.id}",
        project_id=charge_entry.project_id, segment_id=charge_entry.segment_id,
        job_id=charge_entry.job_id, user_id=charge_entry.user_id))


def ensure_monthly_grant(workspace: Workspace, now: datetime | None = None) -> None:
    """Grant the plan's monthly credits once per calendar month (UTC), on first use."""
    now = now or utcnow()
    amount = current_app.config["PLANS"].get(workspace.plan, {}).get("monthly_credits", 0)
    if amount <= 0:
        return
    key = f"monthly:{workspace.id}:{now:%Y-%m}"
    if _existing(key) is None:
        grant(workspace.id, amount, f"Monthly {workspace.plan} plan credits for {now:%B %Y}",
              kind="monthly", key=key)
