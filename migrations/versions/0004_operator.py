"""Operator: instance operators, server-side sessions, instance settings, operator invites, quotas, suspension

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Columns are added and dropped in place (ALTER TABLE ADD/DROP COLUMN, which SQLite has too) rather
# than by batch mode's copy of the user and workspace tables, which every other table references.
NEW_COLUMNS = {
    'user': [sa.Column('is_operator', sa.Boolean(), nullable=False, server_default='0'),
             sa.Column('workspaces_created', sa.Integer(), nullable=False, server_default='0')],
    'workspace': [sa.Column('storage_quota_mb', sa.Integer(), nullable=True),
                  sa.Column('suspended_at', sa.DateTime(), nullable=True)],
}


def upgrade():
    for table, columns in NEW_COLUMNS.items():
        for column in columns:
            op.add_column(table, column)
    # Existing accounts have created the workspaces they own.
    op.execute('UPDATE "user" SET workspaces_created = (SELECT COUNT(*) FROM membership '
               'WHERE membership.user_id = "user".id AND membership.role = \'owner\')')

    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_session_token_hash'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    op.create_table('instance_setting',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_instance_setting_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_instance_setting'))
    )

    op.create_table('operator_invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('plan', sa.String(length=40), nullable=False),
    sa.Column('workspace_name', sa.String(length=120), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by_id', sa.Integer(), nullable=True),
    sa.Column('workspace_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_operator_invite_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['used_by_id'], ['user.id'], name=op.f('fk_operator_invite_used_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_operator_invite_workspace_id_workspace'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_invite')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operator_invite_token_hash'))
    )


def downgrade():
    op.drop_table('operator_invite')
    op.drop_table('instance_setting')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))
    op.drop_table('user_session')
    for table, columns in NEW_COLUMNS.items():
        for column in reversed(columns):
            op.drop_column(table, column.name)
