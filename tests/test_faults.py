"""Faults. A database error in the middle of a multi-row save leaves nothing written, and the user
gets a clear page (503), never a traceback; a full disk or a read-only database likewise, log-in
included; an interrupted key rotation (even a killed process, mid-batch) resumes and every value
stays readable; the app refuses to start with a wrong or missing key and says which."""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import logging
import multiprocessing
import os
import signal
from typing import Callable

import pytest
from sqlalchemy import event, text

from victimcare import audit
from victimcare.extensions import db
from victimcare.people.models import Person

from .conftest import csrf_from
from .resilience_support import FailingWrites, World, browser, days_ago, dialect, form_on, table_counts
from .keys_support import ENCRYPTED, app_with_keyring, readable_people, stored_values

TODAY = dt.date.today()
HALF_SAVED = "Nothing was half-saved"


@pytest.fixture
def world(app, orgs, make_org, make_user, make_person):
    return World(orgs, make_org, make_user, make_person)


def assert_clean_failure(response, status=503):
    """The page a user sees when the database fails: the code, the message, no trace of the code."""
    page = html.unescape(response.text)
    assert response.status_code == status, page
    assert HALF_SAVED in page and "administrator" in page
    assert "Traceback" not in page and "sqlalchemy" not in page.lower() and "INSERT" not in page


# -- a failure in the middle of a multi-row save -----------------------------------------------------
@dataclasses.dataclass
class Save:
    user: object
    page: str                   # where the form is
    field: str                  # a field of the form (to find it on the page)
    fill: dict                  # what the user types
    post: str | None = None     # where it posts, if not to the page
    unchanged: Callable = lambda: None  # a value a half-save would have changed
    min_writes: int = 3         # it really is a multi-row save


def register(w):
    return Save(w.caseworkers[0], "/people/new", "name",
                {"name": "故障登记", "aliases": "小甲\n阿乙", "date_of_birth": "2011-03-04", "notes": "登记备注"})


def identity_with_aliases(w):
    p = w.person
    return Save(w.caseworkers[0], f"/people/{p.id}/edit", "notes", {"aliases": "新别名\n另一别名", "notes": "更正"},
                unchanged=lambda: (db.session.get(Person, p.id).notes, db.session.get(Person, p.id).version))


def placement_transfer(w):
    """Discharge the current stay and admit to a new one, in one save."""
    stay = w.stay()
    return Save(w.caseworkers[0], f"/people/{w.person.id}/placements", "admitted_on",
                {"transfer": "y", "placement_type": "transit_rehabilitation", "admitted_on": days_ago(1).isoformat(),
                 "institution_name": "乙康复中心", "household_relation": "none", "organisation_id": ""},
                unchanged=lambda: db.session.get(type(stay), stay.id).discharged_on)


def residence_submission(w):
    """The submission also refers the person to the police station (referral, disclosure log)."""
    application = w.application()
    return Save(w.caseworkers[0], f"/people/{w.person.id}/residence", "police_organisation_id",
                {"police_organisation_id": str(w.orgs["police"].id), "submitted_on": TODAY.isoformat()},
                post=f"/residence/applications/{application.id}/submit",
                unchanged=lambda: db.session.get(type(application), application.id).status)


def close_file(w):
    manager = w.pair("manager", w.orgs["bureau"])[0]
    p = w.person
    return Save(manager, f"/people/{p.id}/close", "reason", {"reason": "已妥善安置"},
                unchanged=lambda: db.session.get(Person, p.id).status)


def record_return(w):
    """The return and its scheduled follow-up visits."""
    return Save(w.caseworkers[0], f"/people/{w.person.id}/followups/return", "kind",
                {"kind": "family", "return_date": days_ago(5).isoformat(), "wish_confirmed": "y",
                 "wish_expressed_by": "person", "destination": "原籍村"})


def medical_visit(w):
    clinicians, _r = w.partners("clinician", w.orgs["hospital"])
    return Save(clinicians[0], f"/people/{w.person.id}/medical", "total_cost",
                {"visit_date": days_ago(2).isoformat(), "visit_type": "basic_medical", "diagnosis": "贫血",
                 "total_cost": "1280.50", "insurance_paid": "900.25"}, post=f"/people/{w.person.id}/medical/visits")


def referral(w):
    """The referral and its disclosure log entry."""
    return Save(w.caseworkers[0], f"/people/{w.person.id}/referrals", "purpose",
                {"organisation_id": str(w.orgs["hospital"].id), "purpose": "请诊治", "basis": "consent",
                 "consent_given_by": "person", "consent_given_on": days_ago(1).isoformat()})


SAVES = {f.__name__: f for f in (register, identity_with_aliases, placement_transfer, residence_submission,
                                 close_file, record_return, medical_visit, referral)}


@pytest.mark.parametrize("name", SAVES)
def test_a_database_error_at_any_write_of_a_save_leaves_nothing_written(app, world, name, caplog):
    """The save is tried once per write statement it makes, failing at that statement (the first, the
    second, ..., the last before the commit); each time every table is as before and the user gets
    the 503 page. Then it is made without a failure and does write."""
    save = SAVES[name](world)
    client = browser(app, save.user)
    data = {**form_on(client.get(save.page).text, save.field), **save.fill}
    before, unchanged = table_counts(), save.unchanged()
    caplog.set_level(logging.ERROR)
    position = 1
    while True:
        failing = FailingWrites(db.engine, fail_at=position)
        with failing.installed():
            response = client.post(save.post or save.page, data=data)
        if not failing.fired:
            break
        assert_clean_failure(response)
        assert table_counts() == before, f"half-saved when write {position} failed"
        assert save.unchanged() == unchanged
        assert audit.verify().ok
        position += 1
    assert response.status_code == 302, response.text
    assert position - 1 >= save.min_writes   # a save of several rows, each position tried
    assert table_counts() != before
    assert audit.verify().ok
    logged = [r.getMessage() for r in caplog.records if "Database error" in r.getMessage()]
    assert len(logged) == position - 1 and all("injected failure" in m for m in logged)
    typed = [v for v in save.fill.values() if len(v) > 1 and not v.isascii()]
    assert not any(v in m for v in typed for m in logged)  # what the user typed is never logged


# -- a full disk, a read-only database ----------------------------------------------------------------
@pytest.fixture
def on_connect(app):
    """on_connect(sql...): every new connection of the app runs these first (the pool is emptied);
    returns the function that ends it."""
    installed = []

    def remove():
        db.session.remove()
        while installed:
            event.remove(db.engine, "connect", installed.pop())
        db.engine.dispose()

    def install(*statements):
        def run(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()
            if dialect() == "postgresql":
                dbapi_connection.commit()
        event.listen(db.engine, "connect", run)
        installed.append(run)
        db.session.remove()
        db.engine.dispose()
        return remove
    yield install
    remove()


def _register_data(client, **fields):
    return {**form_on(client.get("/people/new").text, "name"), "name": "满盘登记", "date_of_birth": "2011-03-04",
            **fields}


def _log_in_again(app, username):
    """A new browser logging in while the database cannot write: a page, not a loop or a trace."""
    fresh = app.test_client()
    fresh.get("/language/en")
    page = fresh.get("/login")
    assert page.status_code == 200  # the log-in page itself needs no write
    response = fresh.post("/login", data={"csrf_token": csrf_from(page.text), "username": username,
                                          "password": "correct horse battery staple"})
    return response


@pytest.mark.skipif("config.getoption('--db') != 'sqlite'", reason="SQLite's page limit")
def test_a_full_disk_gives_a_clear_page_and_saves_nothing(app, world, on_connect, caplog):
    client = browser(app, world.caseworkers[0])
    data = _register_data(client, notes="很长的叙述" * 1500)  # needs new pages
    file_page, other = f"/people/{world.person.id}", world.caseworkers[1].username
    db.session.remove()                                  # SQLite: hold no lock, no snapshot
    with db.engine.connect() as conn:                    # no free pages left to fill
        conn.exec_driver_sql("COMMIT")                   # (the engine began IMMEDIATE; VACUUM needs none)
        conn.exec_driver_sql("VACUUM")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    before = table_counts()
    on_connect(f"PRAGMA max_page_count = {pages}")
    caplog.set_level(logging.ERROR)

    response = client.post("/people/new", data=data)
    assert_clean_failure(response)
    assert any("full" in r.getMessage() for r in caplog.records)  # SQLITE_FULL, logged for the admin
    assert table_counts() == before
    assert client.get(file_page).status_code in (200, 503)  # reading is not a trace
    assert _log_in_again(app, other).status_code in (302, 503)
    assert audit.verify().ok


def _read_only(on_connect):
    if dialect() == "sqlite":
        return on_connect("PRAGMA query_only = ON")
    name = db.engine.url.database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    db.session.remove()
    db.engine.dispose()

    def undo():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET default_transaction_read_only = off"))
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        db.engine.dispose()
    return undo


def test_a_read_only_database_gives_a_clear_page_log_in_included(app, world, on_connect):
    client = browser(app, world.caseworkers[0])
    data = _register_data(client)
    file_page, other = f"/people/{world.person.id}", world.caseworkers[1].username
    before = table_counts()
    undo = _read_only(on_connect)
    try:
        assert_clean_failure(client.post("/people/new", data=data))
        assert_clean_failure(client.get(file_page))          # viewing a file is audited: a write
        assert_clean_failure(client.get(file_page))          # ... and again: no loop, no leftover state
        assert_clean_failure(_log_in_again(app, other))
    finally:
        undo()
    assert table_counts() == before
    assert client.post("/people/new", data=data).status_code == 302  # back to normal once writable
    assert audit.verify().ok


@pytest.mark.skipif("config.getoption('--db') != 'postgresql'", reason="a PostgreSQL error code")
def test_a_full_disk_on_postgresql_gives_a_clear_page(app, world):
    """PostgreSQL's own disk-full error (SQLSTATE 53100), raised by the server on the audit insert."""
    client = browser(app, world.caseworkers[0])
    data = _register_data(client)
    before = table_counts()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END$$"))
        conn.execute(text("CREATE TRIGGER disk_full BEFORE INSERT ON audit_event FOR EACH ROW "
                          "EXECUTE FUNCTION disk_full()"))
    try:
        assert_clean_failure(client.post("/people/new", data=data))
        assert table_counts() == before
    finally:
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER disk_full ON audit_event"))
            conn.execute(text("DROP FUNCTION disk_full()"))
    assert client.post("/people/new", data=data).status_code == 302


def test_an_unexpected_database_error_is_a_plain_500_page(app, world, monkeypatch):
    """Not every database error is the disk: any other is the generic 500 page, still no trace."""
    from sqlalchemy.exc import ProgrammingError

    from victimcare.people import service

    def broken(*args, **kwargs):
        raise ProgrammingError("SELECT 1", {}, Exception("syntax error near secret"))
    monkeypatch.setattr(service, "register_person", broken)
    client = browser(app, world.caseworkers[0])
    response = client.post("/people/new", data=_register_data(client))
    assert response.status_code == 500
    page = html.unescape(response.text)
    assert "half-saved" in page and "Traceback" not in page and "secret" not in page


# -- an interrupted key rotation -----------------------------------------------------------------------


def test_a_rotation_killed_mid_batch_resumes_and_every_value_stays_readable(encrypted_people, keyring_copy, test_config,
                                                                           instance_path, tmp_path):
    """A power cut in the middle of a batch (the process is SIGKILLed between two UPDATEs of one
    transaction): the batch is lost whole, the keyring already holds the new key, and a re-run
    finishes the rotation; every value decrypts as before."""
    from victimcare import keys
    from victimcare.crypto import keyring

    from .resilience_support import rotate_and_die

    before = readable_people(encrypted_people)
    total = keys.pending_rotation(dataclasses.replace(keyring(), active="k-none"))  # every stored value
    old = keyring().active
    db.session.remove()
    db.engine.dispose()
    config = {**test_config, "KEYRING_FILE": str(keyring_copy)}
    progress = tmp_path / "committed"
    worker = multiprocessing.get_context("spawn").Process(target=rotate_and_die,
                                                          args=(config, instance_path, str(progress)))
    worker.start()
    worker.join(120)
    assert worker.exitcode == -signal.SIGKILL       # killed with one UPDATE of a batch made, uncommitted
    committed = int(progress.read_text())
    assert 0 < committed < total

    saved = json.loads(keyring_copy.read_text())
    new = saved["active"]
    assert new != old and {old, new} <= set(saved["data_keys"])   # the new key was saved before use
    restarted = app_with_keyring(test_config, keyring_copy)
    with restarted.app_context():
        assert keys.pending_rotation(keyring()) == total - committed  # the cut batch is undone whole
        db.session.remove()
    with restarted.app_context():  # what a re-run of rotate-keys does when values are pending
        assert keyring().active == new
        assert keys.rotate(keyring(), 2) == total - committed
        db.session.remove()
    with restarted.app_context():
        assert all(v.startswith(f"v1.{new}.") for t in ENCRYPTED for v in stored_values(t))
        assert keys.pending_rotation(keyring()) == 0
        assert readable_people(encrypted_people) == before
        assert audit.verify().ok
        db.session.remove()
        db.engine.dispose()


# -- refusing to start -----------------------------------------------------------------------------
def _flask(test_config, instance_path, keyring_file, *args, env=None):
    """`python -m flask --app victimcare ...` as an administrator would run it, on the test database."""
    import subprocess
    import sys
    env = {**os.environ, "VICTIMCARE_INSTANCE_PATH": instance_path, "VICTIMCARE_KEYRING_FILE": str(keyring_file),
           "VICTIMCARE_SQLALCHEMY_DATABASE_URI": test_config["SQLALCHEMY_DATABASE_URI"],
           "VICTIMCARE_SECRET_KEY": "test-secret", **(env or {})}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "victimcare", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("breakage, named", [
    ("missing_file", "is missing"),
    ("wrong_audit_key", "audit key"),
    ("wrong_index_key", "blind-index key"),
    ("wrong_data_key", "does not decrypt"),
    ("not_json", "cannot be read"),
    ("inline_wrong_audit_key", "audit key"),       # the keyring given as VICTIMCARE_KEYRING instead
    ("inline_without_index_key", "blind-index key"),
])
def test_the_command_line_refuses_to_start_and_names_the_key(app, encrypted_people, keyring_copy, test_config, instance_path,
                                                           breakage, named):
    """What an administrator sees starting the app with a bad keyring: which key, no traceback."""
    from victimcare.crypto import Keyring
    raw, other = json.loads(keyring_copy.read_text()), Keyring.generate().to_dict()
    env = None
    if breakage.startswith("inline_"):
        if breakage == "inline_wrong_audit_key":
            raw["audit_key"] = other["audit_key"]
        else:
            del raw["index_key"]
        env = {"VICTIMCARE_KEYRING": json.dumps(raw)}
    elif breakage == "missing_file":
        keyring_copy.unlink()
    elif breakage == "not_json":
        keyring_copy.write_text("{not json")
    elif breakage == "wrong_data_key":
        raw["data_keys"][raw["active"]] = next(iter(other["data_keys"].values()))
        keyring_copy.write_text(json.dumps(raw))
    else:
        key = breakage.removeprefix("wrong_")
        raw[key] = other[key]
        keyring_copy.write_text(json.dumps(raw))
    db.session.remove()  # SQLite: hold no lock while the command starts
    done = _flask(test_config, instance_path, keyring_copy, "audit-verify", env=env)
    assert done.returncode != 0
    assert named in done.stderr
    assert "Intact" not in done.stdout and "intact" not in done.stdout
    for command in __import__("re").findall(r"flask --app victimcare ([a-z-]+)", done.stderr):
        assert command in app.cli.commands or command in ("db", "run", "shell", "routes"), \
            f"the message names a command that does not exist: {command}"
