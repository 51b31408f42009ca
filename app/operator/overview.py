"""Figures the operator sees per workspace, each gathered in one grouped query for all workspaces."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from .. import ledger
from ..extensions import db
from ..models import Asset, CreditEntry, Job, Membership, Workspace
from ..workspaces.usage import StorageUsage, storage_usage
from .settings import setting


@dataclass(frozen=True)
class WorkspaceRow:
    workspace: Workspace
    members: int
    balance: int
    used_this_month: int
    storage: StorageUsage
    running_jobs: int


def _per_workspace(column, aggregate, *conditions) -> dict[int, int]:
    query = select(column, aggregate).group_by(column)
    return {ws: int(value or 0) for ws, value in db.session.execute(query.where(*conditions))}


def workspace_rows(workspaces: list[Workspace]) -> list[WorkspaceRow]:
    ids = [w.id for w in workspaces]
    members = _per_workspace(Membership.workspace_id, func.count(), Membership.workspace_id.in_(ids))
    balances = _per_workspace(CreditEntry.workspace_id, func.sum(CreditEntry.delta),
                              CreditEntry.workspace_id.in_(ids))
    storage = _per_workspace(Asset.workspace_id, func.sum(Asset.size), Asset.workspace_id.in_(ids))
    jobs = _per_workspace(Job.workspace_id, func.count(), Job.workspace_id.in_(ids),
                          Job.state.in_(Job.ACTIVE))
    used = ledger.used_this_month(ids)
    default_quota = setting("DEFAULT_STORAGE_QUOTA_MB")
    return [WorkspaceRow(w, members.get(w.id, 0), balances.get(w.id, 0), used[w.id],
                         storage_usage(w, storage.get(w.id, 0), default_quota), jobs.get(w.id, 0))
            for w in workspaces]
