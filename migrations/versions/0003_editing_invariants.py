"""Editing invariants: job public ids, one active job per scene/project, voiceover text, undo before-states

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:00:00

"""
import json
import uuid

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ACTIVE = "state IN ('queued', 'running')"


def upgrade():
    # SQLite hands a deleted row's id out again unless the table is AUTOINCREMENT; ids of these
    # tables name files, undo states and jobs (PostgreSQL sequences never reuse).
    if op.get_bind().dialect.name == "sqlite":
        for table in ("project", "segment", "asset"):
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sa.String(length=32), nullable=True))
    conn = op.get_bind()
    for (job_id,) in conn.execute(sa.text("SELECT id FROM job")).fetchall():
        conn.execute(sa.text("UPDATE job SET public_id = :p WHERE id = :i"),
                     {"p": uuid.uuid4().hex, "i": job_id})
    # Jobs already duplicated (the double click this migration guards against) end here.
    conn.execute(sa.text(
        f"UPDATE job SET state = 'failed', message = 'Superseded by another job for the same scene.' "
        f"WHERE {ACTIVE} AND segment_id IS NOT NULL AND id NOT IN "
        f"(SELECT MAX(id) FROM job WHERE {ACTIVE} AND segment_id IS NOT NULL GROUP BY segment_id, kind)"))
    sqlite = conn.dialect.name == "sqlite"
    with op.batch_alter_table('job', schema=None, recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True} if sqlite else {}) as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_job_public_id'), ['public_id'])
        batch_op.create_index('ux_job_active_scene', ['segment_id', 'kind'], unique=True,
                              sqlite_where=sa.text(f"{ACTIVE} AND segment_id IS NOT NULL"),
                              postgresql_where=sa.text(f"{ACTIVE} AND segment_id IS NOT NULL"))
        batch_op.create_index('ux_job_active_project', ['project_id', 'kind'], unique=True,
                              sqlite_where=sa.text(f"{ACTIVE} AND segment_id IS NULL"),
                              postgresql_where=sa.text(f"{ACTIVE} AND segment_id IS NULL"))

    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_text', sa.Text(), nullable=True))
    # Existing voiceovers were made from the scene text of their day (kept as the asset's prompt).
    conn.execute(sa.text("UPDATE segment SET voice_text = (SELECT asset.prompt FROM asset "
                         "WHERE asset.id = segment.audio_asset_id) WHERE audio_asset_id IS NOT NULL"))
    conn.execute(sa.text("UPDATE segment SET voice_text = text "
                         "WHERE audio_asset_id IS NOT NULL AND voice_text IS NULL"))

    with op.batch_alter_table('revision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scenes_before', sa.JSON(), nullable=True))
    # Old revisions held only the state after each edit: the one before is the previous revision's.
    rows = conn.execute(sa.text("SELECT id, project_id, position, scenes FROM revision "
                                "ORDER BY project_id, position")).fetchall()
    set_before = sa.text("UPDATE revision SET scenes_before = :b WHERE id = :i").bindparams(
        sa.bindparam("b", type_=sa.JSON))
    previous = {}
    for row_id, project_id, _position, scenes in rows:
        scenes = json.loads(scenes) if isinstance(scenes, str) else scenes
        if project_id in previous:
            conn.execute(set_before, {"b": previous[project_id], "i": row_id})
        previous[project_id] = scenes
    # The old "Start" rows (position 0) only served as the first edit's before-state.
    conn.execute(sa.text("DELETE FROM revision WHERE position = 0"))


def downgrade():
    with op.batch_alter_table('revision', schema=None) as batch_op:
        batch_op.drop_column('scenes_before')
    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.drop_column('voice_text')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ux_job_active_project')
        batch_op.drop_index('ux_job_active_scene')
        batch_op.drop_constraint(batch_op.f('uq_job_public_id'), type_='unique')
        batch_op.drop_column('public_id')
