"""Database tables. Every row that belongs to a workspace carries workspace_id for scoping."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db

ROLES = ("viewer", "editor", "admin", "owner")  # ordered by power
STEPS = {1: "Script", 2: "Scenes", 3: "Images & audio", 4: "Video"}


def spoken_words(text: str | None) -> list[str]:
    """The words of a narration, case and punctuation aside: what a voiceover has to say."""
    return re.findall(r"\w+", (text or "").casefold())


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(db.String(254), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    password_hash: Mapped[str] = mapped_column(db.String(256))
    current_workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspace.id", ondelete="SET NULL", use_alter=True))
    # Runs this Scriptreel: the operator area, plans, credits, quotas, sign-up (app/operator).
    is_operator: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Workspaces this account has created (its first starts on the default plan, later ones on
    # Free); a counter so that a conditional UPDATE can enforce the limit under concurrency.
    workspaces_created: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user",
                                                         cascade="all, delete-orphan")

    # The server-side session this request was loaded through (see app/auth/sessions.py).
    session_token = None

    def get_id(self) -> str:
        # Flask-Login keeps this in the session and remember-me cookies: naming the server-side
        # session means ending that session invalidates every cookie that carries it.
        return f"{self.id}:{self.session_token}" if self.session_token else str(self.id)

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
    # Set by an operator; None means the instance default (setting DEFAULT_STORAGE_QUOTA_MB).
    storage_quota_mb: Mapped[int | None]
    # A suspended workspace keeps its data but its members can't use it (see access.check).
    suspended_at: Mapped[datetime | None]
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


# Row ids of these tables name storage keys, undo states and jobs: SQLite must never hand out a
# deleted row's id again (it does by default, for the highest one).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Project(db.Model):
    __table_args__ = (Index("ix_project_workspace_updated", "workspace_id", "updated_at"), NEVER_REUSE_IDS)
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
    """One undoable edit: the project's scenes just before it and just after it (see script/history.py)."""
    __table_args__ = (UniqueConstraint("project_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    position: Mapped[int]
    label: Mapped[str] = mapped_column(db.String(200))
    scenes: Mapped[list] = mapped_column(JSON)  # after the edit
    scenes_before: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(db.Model):
    """One scene: a piece of narration with its description, timing, image and voiceover."""
    __table_args__ = (Index("ix_segment_project_position", "project_id", "position"), NEVER_REUSE_IDS)
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
    # The narration the current voiceover speaks; when it differs from ``text`` the voiceover is
    # out of date (shown, never silently used).
    voice_text: Mapped[str | None] = mapped_column(db.Text)
    # Bumped by SQLAlchemy on every update: an edit from a stale tab is detected, not applied.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    project: Mapped[Project] = relationship(back_populates="segments", foreign_keys=[project_id])
    image: Mapped[Asset | None] = relationship(foreign_keys=[image_asset_id], post_update=True)
    audio: Mapped[Asset | None] = relationship(foreign_keys=[audio_asset_id], post_update=True)

    @property
    def voice_outdated(self) -> bool:
        """The voiceover speaks other words than the scene's text (it was edited since)."""
        return (self.audio_asset_id is not None and self.voice_text is not None
                and spoken_words(self.voice_text) != spoken_words(self.text))

    @property
    def voice_state(self) -> str:
        """"missing", "outdated" or "current"."""
        if self.audio_asset_id is None:
            return "missing"
        return "outdated" if self.voice_outdated else "current"


class Asset(db.Model):
    """A stored media file with its provenance."""
    __table_args__ = (NEVER_REUSE_IDS,)
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


ACTIVE_JOB = "state IN ('queued', 'running')"


class Job(db.Model):
    """One background job, keyed by its RQ id; the page polls this row, not Redis."""
    __table_args__ = (
        # At most one active job of a kind per scene, and per project for project-wide kinds
        # (compile, cut, batches): a double click or a second tab can't queue (or charge) twice.
        Index("ux_job_active_scene", "segment_id", "kind", unique=True,
              sqlite_where=text(f"{ACTIVE_JOB} AND segment_id IS NOT NULL"),
              postgresql_where=text(f"{ACTIVE_JOB} AND segment_id IS NOT NULL")),
        Index("ux_job_active_project", "project_id", "kind", unique=True,
              sqlite_where=text(f"{ACTIVE_JOB} AND segment_id IS NULL"),
              postgresql_where=text(f"{ACTIVE_JOB} AND segment_id IS NULL")),
        NEVER_REUSE_IDS,
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rq_id: Mapped[str] = mapped_column(db.String(64), unique=True)
    # Random and never reused (row ids are, on SQLite): the ledger's idempotency keys use it.
    public_id: Mapped[str] = mapped_column(db.String(32), unique=True,
                                           default=lambda: uuid.uuid4().hex)
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


class UserSession(db.Model):
    """A signed-in browser: the cookie names it by a random token, stored here only hashed."""
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(db.String(64), default="")
    user_agent: Mapped[str] = mapped_column(db.String(300), default="")
    ended_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class InstanceSetting(db.Model):
    """An instance setting an operator changed; unset keys fall back to the environment."""
    key: Mapped[str] = mapped_column(db.String(60), primary_key=True)
    value: Mapped[str] = mapped_column(db.String(200))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OperatorInvite(db.Model):
    """An operator's invite: whoever uses it gets a new workspace of their own on the chosen plan."""
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    plan: Mapped[str] = mapped_column(db.String(40))
    workspace_name: Mapped[str | None] = mapped_column(db.String(120))
    email: Mapped[str | None] = mapped_column(db.String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    used_by: Mapped[User | None] = relationship(foreign_keys=[used_by_id])
    workspace: Mapped[Workspace | None] = relationship()


class ReviewLink(db.Model):
    """A client's way in to one compiled video: a secret token (stored hashed), an expiry, maybe a passphrase."""
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)  # the compile
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    passphrase_hash: Mapped[str | None] = mapped_column(db.String(256))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    compile: Mapped[Job] = relationship()
    project: Mapped[Project] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def open(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()


class ReviewComment(db.Model):
    """A reviewer's note on a compiled version (a scene, a moment, or the whole), or a team member's answer."""
    __table_args__ = (Index("ix_review_comment_project_resolved", "project_id", "resolved_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("review_link.id", ondelete="SET NULL"), index=True)
    # What the reviewer saw: the compile (its storyboard snapshot) and the scene's number in it.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"), index=True)
    version: Mapped[int | None]
    scene_number: Mapped[int | None]
    at_seconds: Mapped[float | None]
    # The scene it concerns in the editor's steps (gone if the scene was deleted or merged away since).
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("review_comment.id", ondelete="CASCADE"), index=True)
    author_name: Mapped[str] = mapped_column(db.String(80))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(db.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    replies: Mapped[list[ReviewComment]] = relationship(order_by="ReviewComment.id", cascade="all, delete-orphan")
