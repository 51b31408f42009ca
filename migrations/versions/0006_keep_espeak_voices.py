"""Piper becomes the default voice: projects that never chose a voice keep the eSpeak NG one they had

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# The defaults these projects have been using (app/project_settings.py before this revision).
OLD_VOICE = {'voice_provider': 'espeak', 'voice': 'gmw/en-US'}
project = sa.table('project', sa.column('id', sa.Integer), sa.column('settings', sa.JSON))


def upgrade():
    conn = op.get_bind()
    for row in conn.execute(sa.select(project.c.id, project.c.settings)).all():
        settings = row.settings or {}
        if 'voice_provider' not in settings:  # a project that chose an engine keeps it, with its voice
            conn.execute(project.update().where(project.c.id == row.id)
                         .values(settings={**OLD_VOICE, **settings}))


def downgrade():
    pass  # the stored choice is what the old default was: nothing to undo
