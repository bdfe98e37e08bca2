"""`flask demo`: idempotent, one user per role, and nothing identifying stored in plaintext."""
import glob
import os
import stat

import pytest
from sqlalchemy import String, Text, func, select

from victimcare import access
from victimcare.auth.models import Organisation, User
from victimcare.extensions import db
from victimcare.people.models import Person, PersonAlias
from victimcare.people.rules import id_birth_date, id_number_problem


@pytest.fixture
def demo(app, tmp_path, monkeypatch):
    """Run `flask demo` with a throw-away instance folder (it writes demo-credentials.txt there)."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))

    def run():
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        return result
    return run


def counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Organisation, User, Person, PersonAlias))


def test_demo_is_idempotent_with_one_user_per_role(app, demo, tmp_path):
    first = demo()
    after_first = counts()
    assert after_first[2] > 0
    credentials = tmp_path / "demo-credentials.txt"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    lines = [line for line in credentials.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert sorted(line.split("\t")[0] for line in lines) == sorted(access.ROLES)
    for line in lines:
        username, password = line.split("\t")
        assert password in first.output

    second = demo()
    assert counts() == after_first
    assert "already present" in second.output
    assert credentials.read_text(encoding="utf-8").count("\t") == len(access.ROLES)  # nothing appended

    users = db.session.scalars(select(User)).all()
    assert sorted(u.username for u in users) == sorted(access.ROLES)
    assert all(u.username == u.role for u in users)


def test_demo_people_are_valid_and_in_the_demo_caseworkers_reach(app, demo):
    demo()
    caseworker = db.session.scalar(select(User).where(User.username == "caseworker"))
    manager = db.session.scalar(select(User).where(User.username == "manager"))
    people = db.session.scalars(select(Person)).all()
    for person in people:
        assert access.can(manager, "read", person)
        if person.id_number:
            assert id_number_problem(person.id_number) is None
            assert id_birth_date(person.id_number) == person.date_of_birth
        assert person.date_of_birth or person.birth_year
    assert any(access.can(caseworker, "read", p) for p in people)


def _secrets():
    """Plaintext that must never be stored: names, aliases, ID numbers, police case numbers."""
    values = set()
    for person in db.session.scalars(select(Person)):
        values.update(v for v in (person.name, person.id_number, person.police_case_number) if v)
    values.update(a.name for a in db.session.scalars(select(PersonAlias)))
    assert len(values) > 30
    return values


def test_no_plaintext_in_text_columns(app, demo):
    demo()
    secrets = _secrets()
    found = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            for value in row:
                if value and any(s in value for s in secrets):
                    found.append((table.name, value[:40]))
    assert found == []


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def test_no_plaintext_in_sqlite_file(app, demo):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("file bytes are checked on SQLite; the column scan covers PostgreSQL")
    demo()
    secrets = _secrets()
    db.session.remove()
    path = db.engine.url.database
    files = [p for p in glob.glob(path + "*") if p == path or p[len(path):] in ("-wal", "-journal")]
    assert path in files
    raw = b"".join(_read(p) for p in files)
    # The check itself works: a non-secret plaintext value of the demo is found in the bytes.
    assert "示范市民政局".encode() in raw
    leaked = sorted(s for s in secrets if s.encode("utf-8") in raw)
    assert leaked == []
