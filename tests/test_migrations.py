"""The schema comes only from migrations: they must produce exactly what the models declare."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from victimcare.extensions import db


def test_migrations_match_the_models(app):
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == []


def test_the_audit_chain_head_is_seeded_by_the_migration(app):
    from victimcare.audit import GENESIS_MAC, AuditHead
    head = db.session.get(AuditHead, 1)
    assert (head.seq, head.mac) == (0, GENESIS_MAC)
