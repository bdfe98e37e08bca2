"""index for the caseload's order (newest first)

Revision ID: 0002_caseload_order
Revises: 8d4cb07205d7
"""
from alembic import op

revision = "0002_caseload_order"
down_revision = "8d4cb07205d7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_person_created_at_id", "person", ["created_at", "id"])


def downgrade():
    op.drop_index("ix_person_created_at_id", table_name="person")
