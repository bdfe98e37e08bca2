"""merge two-factor sign-in and attachments

Revision ID: 0013_merge_totp_attachments
Revises: 0011_totp, 0012_attachments
"""
revision = "0013_merge_totp_attachments"
down_revision = ("0011_totp", "0012_attachments")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
