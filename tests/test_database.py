"""When a transaction takes SQLite's one write lock (victimcare/database.py), seen from another connection
as another gunicorn worker would see it; and page views that do not reload what they read."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, select

from victimcare import audit
from victimcare.extensions import db
from victimcare.people.models import Person


@pytest.fixture
def sqlite_file(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write-lock rule is SQLite's; PostgreSQL locks rows")
    return db.engine.url.database


def other_worker_can_write(path: str) -> bool:
    """Could another process start writing right now (without waiting)?"""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def test_a_page_view_reads_without_the_write_lock(app, sqlite_file):
    with app.test_request_context("/people/", method="GET"):
        db.session.execute(select(Person.id)).all()
        assert other_worker_can_write(sqlite_file)
        db.session.rollback()


def test_a_page_view_takes_the_lock_for_its_audit_row_and_the_chain_holds(app, sqlite_file):
    with app.test_request_context("/people/", method="GET"):
        db.session.execute(select(Person.id)).all()
        audit.record("view", object_type="person", object_id="x", section="identity")
        assert not other_worker_can_write(sqlite_file)
        db.session.commit()
        assert other_worker_can_write(sqlite_file)
    assert audit.verify().ok


def test_a_view_appends_after_a_row_another_worker_committed_meanwhile(app, sqlite_file):
    """The view read the chain head before another worker appended: its own row still links to the
    newest head (read again under the lock), so the chain does not fork."""
    with app.test_request_context("/people/", method="GET"):
        before = db.session.get(audit.AuditHead, 1).seq  # read in the view's snapshot
        with app.app_context():  # another worker's request: its own session and connection
            audit.record("view", object_type="person", object_id="other", section="identity")
            db.session.commit()
        event_ = audit.record("view", object_type="person", object_id="mine", section="identity")
        db.session.commit()
        assert event_.seq == before + 2
    assert audit.verify().ok


@pytest.mark.parametrize("method", ["POST", None])
def test_a_request_that_changes_data_and_work_outside_requests_hold_the_lock_from_the_start(app, sqlite_file,
                                                                                            method):
    """So a rule checked on what was read (an overlap, a count) cannot be raced by another writer."""
    if method:
        with app.test_request_context("/people/new", method=method):
            db.session.execute(select(Person.id)).all()
            assert not other_worker_can_write(sqlite_file)
            db.session.rollback()
    else:
        db.session.execute(select(Person.id)).all()
        assert not other_worker_can_write(sqlite_file)
        db.session.rollback()
    assert other_worker_can_write(sqlite_file)


def test_the_caseload_page_does_not_reload_each_person_after_its_audit_commit(client, orgs, make_person,
                                                                             logged_in):
    """The audit row's commit used to expire every row read, and the page then loaded each person
    again, one query per line."""
    logged_in("caseworker", orgs["shelter_a"])
    for n in range(12):
        make_person(orgs["shelter_a"], name=f"人员{n}")
    db.session.commit()
    assert client.get("/people/").status_code == 200  # warm: templates, the session's last-seen time
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        page = client.get("/people/")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert page.status_code == 200
    assert "人员11" in page.text
    person_loads = [s for s in statements if s.lstrip().startswith("SELECT person.id")]
    assert len(person_loads) <= 2, person_loads  # the page and its count, not one per person
