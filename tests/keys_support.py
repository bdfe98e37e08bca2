"""Shared by the key tests (test_keys_cli, test_faults, test_reauth): encrypted columns, another app on
the same database with its own keyring, running a CLI command in it, reading every person back."""
import json

from flask import has_app_context
from sqlalchemy import select, text
from sqlalchemy.pool import NullPool

from victimcare import create_app
from victimcare.extensions import db
from victimcare.people.models import Person, PersonAlias, PersonRevision

ENCRYPTED = {"person": ("name_enc", "id_number_enc", "date_of_birth_enc", "notes_enc"),
             "person_alias": ("name_enc",), "person_revision": ("changes_enc",),
             "user_account": ("totp_secret_enc",)}


def app_with_keyring(test_config, keyring_file):
    """Another app on the same database. The test's own session lets go of the database first
    (on SQLite every transaction holds the write lock); NullPool leaves no connection behind
    when start-up fails and the app object is never returned."""
    if has_app_context():
        db.session.remove()
    return create_app({**test_config, "KEYRING_FILE": str(keyring_file),
                       "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}})


def run_cli(app, *args):
    """Run a CLI command in that app's context (the test's own app context is current otherwise)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def stored_values(table):
    columns = ENCRYPTED[table]
    rows = db.session.execute(text(f"SELECT {', '.join(columns)} FROM {table}")).all()
    return [value for row in rows for value in row if value is not None]


def readable_people(made):
    """Decrypt every value in a fresh session; return what the people look like."""
    db.session.remove()
    result = {}
    for person_id in made:
        person = db.session.get(Person, person_id)
        revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.person_id == person_id)).all()
        aliases = db.session.scalars(select(PersonAlias).where(PersonAlias.person_id == person_id)).all()
        result[person_id] = (person.name, person.notes, sorted(a.name for a in aliases),
                             [json.loads(r.changes) for r in revisions])
    db.session.remove()
    return result
