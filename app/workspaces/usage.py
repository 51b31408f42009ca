"""What a workspace uses: storage against its quota (operators set quotas, app/operator)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import Asset, Workspace
from ..operator.settings import setting

MB = 1024 * 1024


@dataclass(frozen=True)
class StorageUsage:
    used: int            # bytes of all the workspace's stored files
    quota: int | None    # bytes; None when there is no limit

    @property
    def percent(self) -> int | None:
        return None if not self.quota else min(100, round(100 * self.used / self.quota))

    @property
    def over(self) -> bool:
        return self.quota is not None and self.used > self.quota


def storage_used(workspace_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Asset.size), 0))
                             .where(Asset.workspace_id == workspace_id))


def quota_mb(workspace: Workspace, default_mb: int | None = None) -> int:
    """The workspace's own quota, or the instance default; 0 means no limit."""
    if workspace.storage_quota_mb is not None:
        return workspace.storage_quota_mb
    return setting("DEFAULT_STORAGE_QUOTA_MB") if default_mb is None else default_mb


def storage_usage(workspace: Workspace, used: int | None = None,
                  default_mb: int | None = None) -> StorageUsage:
    """Storage used against the quota (``used`` and ``default_mb`` when already known)."""
    quota = quota_mb(workspace, default_mb)
    return StorageUsage(storage_used(workspace.id) if used is None else used,
                        quota * MB if quota else None)


def human_size(size: int) -> str:
    """Bytes for people: 0 B, 512 KB, 3.4 MB, 10 GB (binary units, as quotas are set in MB)."""
    for unit, scale in (("GB", 1024 ** 3), ("MB", MB), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} B"
