"""print jobs: batch printing progress and its rendered parts

Revision ID: 0010_print_jobs
Revises: 0009_disclosures
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_print_jobs'
down_revision = '0009_disclosures'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('print_job',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('person_ids', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('purpose_enc', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_print_job_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_job'))
    )
    with op.batch_alter_table('print_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_print_job_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_print_job_user_id'), ['user_id'], unique=False)

    op.create_table('print_job_part',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('content_enc', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['print_job.id'], name=op.f('fk_print_job_part_job_id_print_job')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_job_part')),
    sa.UniqueConstraint('job_id', 'seq', name=op.f('uq_print_job_part_job_id'))
    )
    with op.batch_alter_table('print_job_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_print_job_part_job_id'), ['job_id'], unique=False)


def downgrade():
    with op.batch_alter_table('print_job_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_print_job_part_job_id'))
    op.drop_table('print_job_part')
    with op.batch_alter_table('print_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_print_job_user_id'))
        batch_op.drop_index(batch_op.f('ix_print_job_created_at'))
    op.drop_table('print_job')
