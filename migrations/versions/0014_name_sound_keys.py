"""name sound keys: blind indexes of the pinyin of names and aliases (issue 8)

Revision ID: 0014_name_sound_keys
Revises: 0013_merge_totp_attachments

The table starts empty: `flask --app victimcare reindex` fills it for people registered before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_name_sound_keys'
down_revision = '0013_merge_totp_attachments'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('name_sound_key',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('alias_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('bidx', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['alias_id'], ['person_alias.id'], name=op.f('fk_name_sound_key_alias_id_person_alias')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_name_sound_key_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_name_sound_key'))
    )
    with op.batch_alter_table('name_sound_key', schema=None) as batch_op:
        batch_op.create_index('ix_name_sound_key_kind_bidx', ['kind', 'bidx', 'person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_name_sound_key_person_id'), ['person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('name_sound_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_name_sound_key_person_id'))
        batch_op.drop_index('ix_name_sound_key_kind_bidx')
    op.drop_table('name_sound_key')
