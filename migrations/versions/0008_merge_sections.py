"""merge the section modules' migrations (placements, medical, legal/school/jobs, follow-ups)

Revision ID: 0008_merge_sections
Revises: 0004_placements, 0005_medical, 0006_legal_school_jobs, 0007_followups
"""
revision = "0008_merge_sections"
down_revision = ("0004_placements", "0005_medical", "0006_legal_school_jobs", "0007_followups")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
