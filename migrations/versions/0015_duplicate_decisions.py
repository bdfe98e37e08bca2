"""duplicate decisions: a manager's answer about a pair of possible duplicates (issue 8)

Revision ID: 0015_duplicate_decisions
Revises: 0014_name_sound_keys

"different" (not the same person) or "same" (linked for a merge decision); nothing is merged.
An index on person (origin_code, birth_year) for the birth-year-and-county duplicate rule.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_duplicate_decisions'
down_revision = '0014_name_sound_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('duplicate_decision',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_a_id', sa.String(length=32), nullable=False),
    sa.Column('person_b_id', sa.String(length=32), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.Column('note_enc', sa.Text(), nullable=True),
    sa.CheckConstraint("person_a_id < person_b_id", name=op.f('ck_duplicate_decision_pair_order')),
    sa.CheckConstraint("decision IN ('different', 'same')", name=op.f('ck_duplicate_decision_decision')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_duplicate_decision_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['person_a_id'], ['person.id'], name=op.f('fk_duplicate_decision_person_a_id_person')),
    sa.ForeignKeyConstraint(['person_b_id'], ['person.id'], name=op.f('fk_duplicate_decision_person_b_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_decision')),
    sa.UniqueConstraint('person_a_id', 'person_b_id', name=op.f('uq_duplicate_decision_person_a_id'))
    )
    with op.batch_alter_table('duplicate_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_decision_person_b_id'), ['person_b_id'], unique=False)
    # Pairs by birth year and county of origin are found off this index (people/duplicate_pairs.py).
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index('ix_person_origin_birth_year', ['origin_code', 'birth_year'], unique=False)
        # Name searches with many hits (initials) check scope and order off this one (bench_names.py).
        batch_op.create_index('ix_person_id_organisation_created', ['id', 'organisation_id', 'created_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_id_organisation_created')
        batch_op.drop_index('ix_person_origin_birth_year')
    with op.batch_alter_table('duplicate_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_decision_person_b_id'))
    op.drop_table('duplicate_decision')
