"""The credit ledger: append-only entries; the balance is always their sum."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import CreditEntry, Workspace, utcnow


# Kinds of ledger entry, as the credit history names them.
KINDS = {"grant": "Grant", "monthly": "Monthly plan credits", "charge": "Charge", "refund": "Refund",
         "debit": "Removed"}


class InsufficientCredits(Exception):
    def __init__(self, needed: int, balance: int):
        super().__init__(f"This needs {needed} credit{'s' if needed != 1 else ''} but the "
                         f"workspace has {balance}. Ask whoever runs this Scriptreel for more "
                         "credits.")
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


def lock_workspace(workspace_id: int) -> None:
    """Hold the workspace row's write lock until the transaction ends.

    Charges, removals and owner changes of one workspace serialise on it. Commits the session
    first, so the lock is the first statement of a fresh transaction (SQLite then takes its
    write lock before anything is read).
    """
    db.session.commit()
    db.session.execute(update(Workspace).where(Workspace.id == workspace_id)
                       .values(ledger_lock=Workspace.ledger_lock + 1))


def _spend(entry: CreditEntry) -> CreditEntry:
    """Append a negative entry unless the balance can't cover it (checked under the row lock)."""
    lock_workspace(entry.workspace_id)
    available = balance(entry.workspace_id)
    if available < -entry.delta:
        db.session.rollback()
        raise InsufficientCredits(-entry.delta, available)
    return _append(entry)


def charge(workspace_id: int, amount: int, reason: str, *, key: str, **links) -> CreditEntry:
    """Spend credits atomically: concurrent charges serialise on the workspace row."""
    db.session.commit()
    if (existing := _existing(key)) is not None:
        return existing  # a retried job: already charged
    return _spend(CreditEntry(workspace_id=workspace_id, delta=-amount, kind="charge",
                              reason=reason, idempotency_key=key, **links))


def debit(workspace_id: int, amount: int, reason: str, *, user_id: int) -> CreditEntry:
    """An operator removes credits; never more than the balance, so it can't go below zero."""
    if amount <= 0:
        raise ValueError("a removal must be a positive number of credits")
    return _spend(CreditEntry(workspace_id=workspace_id, delta=-amount, kind="debit",
                              reason=reason, user_id=user_id))


def refund(charge_entry: CreditEntry, reason: str) -> CreditEntry:
    """Give a charge back; refunding the same charge twice writes one entry."""
    return _append(CreditEntry(
        workspace_id=charge_entry.workspace_id, delta=-charge_entry.delta, kind="refund",
        reason=reason, idempotency_key=f"refund:{charge_entry.id}",
        project_id=charge_entry.project_id, segment_id=charge_entry.segment_id,
        job_id=charge_entry.job_id, user_id=charge_entry.user_id))


def used_this_month(workspace_ids: list[int], now: datetime | None = None) -> dict[int, int]:
    """Credits each workspace spent this calendar month (UTC): charges less their refunds."""
    start = (now or utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = dict(db.session.execute(
        select(CreditEntry.workspace_id, func.sum(CreditEntry.delta))
        .where(CreditEntry.workspace_id.in_(workspace_ids),
               CreditEntry.kind.in_(("charge", "refund")), CreditEntry.created_at >= start)
        .group_by(CreditEntry.workspace_id)).all())
    return {ws: -int(spent.get(ws) or 0) for ws in workspace_ids}


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
