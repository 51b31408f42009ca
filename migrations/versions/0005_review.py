"""Client review: review links to a compiled video (hashed tokens, expiry, passphrase) and their comments

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:19:10

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('review_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('passphrase_hash', sa.String(length=256), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_review_link_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_review_link_job_id_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_review_link_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_review_link_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_review_link_token_hash'))
    )
    with op.batch_alter_table('review_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_link_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_link_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_link_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('review_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('scene_number', sa.Integer(), nullable=True),
    sa.Column('at_seconds', sa.Double(), nullable=True),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=80), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_user_id'], ['user.id'], name=op.f('fk_review_comment_author_user_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_review_comment_job_id_job'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['link_id'], ['review_link.id'], name=op.f('fk_review_comment_link_id_review_link'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['review_comment.id'], name=op.f('fk_review_comment_parent_id_review_comment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_review_comment_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user.id'], name=op.f('fk_review_comment_resolved_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['segment_id'], ['segment.id'], name=op.f('fk_review_comment_segment_id_segment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_review_comment_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_comment'))
    )
    with op.batch_alter_table('review_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_comment_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_comment_link_id'), ['link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_comment_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_review_comment_project_resolved', ['project_id', 'resolved_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_comment_segment_id'), ['segment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_comment_workspace_id'), ['workspace_id'], unique=False)



def downgrade():
    with op.batch_alter_table('review_comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_comment_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_review_comment_segment_id'))
        batch_op.drop_index('ix_review_comment_project_resolved')
        batch_op.drop_index(batch_op.f('ix_review_comment_parent_id'))
        batch_op.drop_index(batch_op.f('ix_review_comment_link_id'))
        batch_op.drop_index(batch_op.f('ix_review_comment_job_id'))

    op.drop_table('review_comment')
    with op.batch_alter_table('review_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_link_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_review_link_project_id'))
        batch_op.drop_index(batch_op.f('ix_review_link_job_id'))

    op.drop_table('review_link')
