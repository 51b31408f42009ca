"""Database tables. Every row that belongs to a workspace carries workspace_id for scoping."""
from __future__ import annotations

from datetime import datetime, timezone

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db

ROLES = ("viewer", "editor", "admin", "owner")  # ordered by power
STEPS = {1: "Script", 2: "Scenes", 3: "Images & audio", 4: "Video"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(db.String(254), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    password_hash: Mapped[str] = mapped_column(db.String(256))
    current_workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspace.id", ondelete="SET NULL", use_alter=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user",
                                                         cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Workspace(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(120))
    plan: Mapped[str] = mapped_column(db.String(40))
    video_enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped inside every credit charge so concurrent charges serialise on this row.
    ledger_lock: Mapped[int] = mapped_column(default=0)
    stability_api_key: Mapped[str | None] = mapped_column(db.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="workspace",
                                                         cascade="all, delete-orphan")


class Membership(db.Model):
    __table_args__ = (UniqueConstraint("user_id", "workspace_id"),
                      CheckConstraint("role in ('viewer','editor','admin','owner')", name="role"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(db.String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship(back_populates="memberships")


class Invite(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"),
                                              index=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    role: Mapped[str] = mapped_column(db.String(20))
    email: Mapped[str | None] = mapped_column(db.String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    workspace: Mapped[Workspace] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class Project(db.Model):
    __table_args__ = (Index("ix_project_workspace_updated", "workspace_id", "updated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(db.String(200))
    step: Mapped[int] = mapped_column(default=1)
    script: Mapped[str] = mapped_column(db.Text, default="")
    # Project-level choices (aspect ratio, voice, image model, style, transitions, wpm...).
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    thumbnail_asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL", use_alter=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Index into this project's Revision rows: where undo/redo currently stands.
    history_position: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    segments: Mapped[list[Segment]] = relationship(
        back_populates="project", order_by="Segment.position", cascade="all, delete-orphan",
        foreign_keys="Segment.project_id")
    thumbnail: Mapped[Asset | None] = relationship(foreign_keys=[thumbnail_asset_id],
                                                   post_update=True)

    def touch(self) -> None:
        self.updated_at = utcnow()


class Revision(db.Model):
    """A snapshot of a project's scenes after an edit, for undo and redo."""
    __table_args__ = (UniqueConstraint("project_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    position: Mapped[int]
    label: Mapped[str] = mapped_column(db.String(200))
    scenes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(db.Model):
    """One scene: a piece of narration with its description, timing, image and voiceover."""
    __table_args__ = (Index("ix_segment_project_position", "project_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    position: Mapped[int]
    text: Mapped[str] = mapped_column(db.Text, default="")
    # Set on the first scene of a topic (a chapter); None inside a topic.
    topic_title: Mapped[str | None] = mapped_column(db.String(200))
    description: Mapped[str] = mapped_column(db.Text, default="")
    notes: Mapped[str] = mapped_column(db.Text, default="")
    seconds: Mapped[float] = mapped_column(default=5.0)
    timing_source: Mapped[str] = mapped_column(db.String(20), default="estimate")
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # per-scene overrides
    image_asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL", use_alter=True))
    audio_asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL", use_alter=True))
    # Bumped by SQLAlchemy on every update: an edit from a stale tab is detected, not applied.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    project: Mapped[Project] = relationship(back_populates="segments", foreign_keys=[project_id])
    image: Mapped[Asset | None] = relationship(foreign_keys=[image_asset_id], post_update=True)
    audio: Mapped[Asset | None] = relationship(foreign_keys=[audio_asset_id], post_update=True)


class Asset(db.Model):
    """A stored media file with its provenance."""
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"),
                                              index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"),
                                                   index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"),
                                                   index=True)
    kind: Mapped[str] = mapped_column(db.String(20))  # image, audio, music, video, thumbnail, ...
    storage_key: Mapped[str] = mapped_column(db.String(500), unique=True)
    mime: Mapped[str] = mapped_column(db.String(100))
    size: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str | None] = mapped_column(db.String(40))
    model: Mapped[str | None] = mapped_column(db.String(80))
    prompt: Mapped[str | None] = mapped_column(db.Text)
    seed: Mapped[int | None] = mapped_column(db.BigInteger)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)  # dimensions, duration, word timings
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    created_by: Mapped[User | None] = relationship()


class Job(db.Model):
    """One background job, keyed by its RQ id; the page polls this row, not Redis."""
    id: Mapped[int] = mapped_column(primary_key=True)
    rq_id: Mapped[str] = mapped_column(db.String(64), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"),
                                              index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"),
                                                   index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"))
    batch: Mapped[str | None] = mapped_column(db.String(64), index=True)
    kind: Mapped[str] = mapped_column(db.String(20))  # image, voice, compile, preview
    state: Mapped[str] = mapped_column(db.String(20), default="queued")
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str] = mapped_column(db.String(300), default="")
    error: Mapped[str | None] = mapped_column(db.Text)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    ACTIVE = ("queued", "running")

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE


class CreditEntry(db.Model):
    """Append-only ledger; a workspace's balance is the sum of its deltas."""
    __table_args__ = (Index("ix_credit_entry_workspace_created", "workspace_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    delta: Mapped[int]
    kind: Mapped[str] = mapped_column(db.String(20))  # grant, monthly, charge, refund
    reason: Mapped[str] = mapped_column(db.String(300))
    # Makes grants/charges/refunds idempotent: a retried job can't write its entry twice.
    idempotency_key: Mapped[str | None] = mapped_column(db.String(120), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project | None] = relationship()
    user: Mapped[User | None] = relationship()
