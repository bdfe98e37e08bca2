"""`backup`, `backup-verify` and `restore` on the session's database (SQLite, or PostgreSQL with
--db=postgresql): a backup taken while another thread writes restores to a consistent state with
every row, value and audit row intact; a damaged, cut, reordered or foreign backup is refused before
the database is touched."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import struct
import threading
import time

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from victimcare import audit, backup
from victimcare.auth.models import Organisation, User
from victimcare.backup.databases import pg_invocation
from victimcare.crypto import ENCRYPTED_FIELDS, keyring
from victimcare.demo import load_demo
from victimcare.extensions import db
from victimcare.medical.models import MedicalVisit
from victimcare.people.models import Person
from victimcare.people.service import register_person

SMALL_CHUNKS = 4096
WRITER_PREFIX = "并发写入"


# -- what the database holds --------------------------------------------------------
def stored_rows() -> dict[str, dict[tuple, tuple]]:
    """Every row of every table as stored (ciphertexts included), by primary key."""
    tables = {}
    for table in db.metadata.sorted_tables:
        key = [c.name for c in table.primary_key.columns]
        rows = db.session.execute(select(table)).mappings()
        tables[table.name] = {tuple(row[c] for c in key): tuple(row.values()) for row in rows}
    db.session.rollback()
    return tables


def decrypted_values() -> dict[tuple, object]:
    """Every encrypted value, decrypted: (table, field, row id) -> value."""
    values = {}
    for model, field in ENCRYPTED_FIELDS:
        for obj in db.session.scalars(select(model)):
            values[(model.__tablename__, field.name, obj.id)] = getattr(obj, field.name)
    db.session.rollback()
    return values


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


# -- data ------------------------------------------------------------------------------
@pytest.fixture
def demo_data(app, tmp_path, monkeypatch):
    """The demo: people with entries in every section, and their audit rows."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    load_demo(echo=lambda *args: None)
    db.session.remove()  # on SQLite an open transaction would hold the write lock


@pytest.fixture
def small_data(app, orgs, make_user, make_person):
    user = make_user("caseworker", orgs["shelter_a"])
    for n in range(3):
        make_person(orgs["shelter_a"], by=user, name=f"备份测试{n}", aliases="小红")
    ids = orgs["shelter_a"].id, user.id
    db.session.remove()
    return ids


@contextlib.contextmanager
def writer(app, username):
    """A thread registering people (each with its audit row) until the block ends.
    Yields the list it fills: (person id, time before the commit, time after it)."""
    commits, errors, stop = [], [], threading.Event()

    def work():
        with app.app_context():
            try:
                user = db.session.scalar(select(User).where(User.username == username))
                org = user.organisation
                while not stop.is_set():
                    person = register_person({"name": f"{WRITER_PREFIX}{len(commits)}", "sex": "female",
                                              "identity_status": "unidentified",
                                              "tracing_result": "not_started"}, org, user)
                    before = time.monotonic()
                    db.session.commit()
                    commits.append((person.id, before, time.monotonic()))
            except Exception as exc:  # surfaced in the test's thread below
                errors.append(exc)
            finally:
                db.session.remove()
    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield commits
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors


def wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the round trip --------------------------------------------------------------------
def test_backup_of_a_running_system_restores_every_row_intact(app, demo_data, tmp_path):
    path = str(tmp_path / "running.vcb")
    before, values_before = stored_rows(), decrypted_values()
    assert len(before["person"]) > 20 and len(before["medical_visit"]) and len(before["audit_event"]) > 100

    with writer(app, "caseworker") as commits:
        wait_for(lambda: len(commits) >= 3)  # busy before the backup starts, and after it ends
        started = time.monotonic()
        result = run(app, "backup", path)
        ended = time.monotonic()
        wait_for(lambda: len([c for c in commits if c[1] > ended]) >= 3)
    assert result.exit_code == 0, result.output
    # measured: about 5 commits during a SQLite backup of the demo, 16 during pg_dump
    assert any(started < begun and done < ended for _, begun, done in commits), "no write while the backup ran"
    written = [person_id for person_id, _, _ in commits]
    after = stored_rows()

    _change_and_delete_after_the_backup()
    result = run(app, "restore", "--yes", path)
    assert result.exit_code == 0, result.output
    assert "Audit chain intact" in result.output and "the keyring opens this database" in result.output

    restored = stored_rows()
    _drop_restore_event(restored)
    _assert_between(before, restored, after)
    _assert_consistent_snapshot(restored, written)
    assert {k: v for k, v in decrypted_values().items() if k in values_before} == values_before
    assert audit.verify().ok


def _change_and_delete_after_the_backup():
    person = db.session.scalar(select(Person).where(Person.name_enc.is_not(None)).limit(1))
    person.name = "备份后改的名字"
    db.session.execute(delete(MedicalVisit).where(MedicalVisit.id == db.session.scalar(select(MedicalVisit.id))))
    db.session.execute(delete(audit.AuditEvent).where(audit.AuditEvent.seq == 5))
    db.session.commit()
    assert not audit.verify().ok


def column(table: str, name: str) -> int:
    """Where a column sits in the rows of stored_rows()."""
    return list(db.metadata.tables[table].columns.keys()).index(name)


def _drop_restore_event(restored):
    """The restore writes one audit row of its own after the restored chain."""
    events = restored["audit_event"]
    last = max(events)
    assert '"change":"restore"' in events[last][column("audit_event", "details")]
    del events[last]


MUTABLE = {"audit_head", "case_counter"}  # rows the writer updates: checked through consistency below


def _assert_between(before, restored, after):
    """The restored database is a state between the start of the backup and its end: every row that
    existed before is there unchanged (however it was changed or deleted afterwards), nothing is there
    that did not exist at the end, and what the writer added meanwhile is there as it was written."""
    for table, rows in restored.items():
        for key, row in before[table].items():
            if table not in MUTABLE:
                assert rows.get(key) == row, (table, key)
        assert set(rows) <= set(after[table]), table
        if table not in MUTABLE:
            assert all(after[table][key] == row for key, row in rows.items()), table


def _assert_consistent_snapshot(restored, written):
    """One point in time: the writer's people up to some commit (at least the three committed before
    the backup began), each with its audit row and counted by the case counter. (The audit head
    naming the last row is checked by audit.verify.)"""
    people = {key[0] for key in restored["person"]} & set(written)
    assert len(people) >= 3 and people == set(written[:len(people)]), "not a prefix of the writer's commits"
    action, kind, object_id = (column("audit_event", c) for c in ("action", "object_type", "object_id"))
    audited = {row[object_id] for row in restored["audit_event"].values()
               if row[action] == "create" and row[kind] == "person"}
    assert audited & set(written) == people
    sequence = column("case_counter", "last")
    numbers = [row[column("person", "case_number")] for row in restored["person"].values()]
    for counter in restored["case_counter"].values():  # the counter moved with the people it numbered
        prefix = f"{counter[column('case_counter', 'region_code')]}-{counter[column('case_counter', 'year')]}-"
        assert counter[sequence] == max(int(n[len(prefix):]) for n in numbers if n.startswith(prefix))


# -- refusals -------------------------------------------------------------------------
@pytest.fixture
def small_backup(app, small_data, tmp_path, make_person):
    """A backup in small chunks, then one more person: a restore would remove her."""
    org_id, user_id = small_data
    folder = tmp_path / "backups"
    folder.mkdir()
    path = folder / "small.vcb"
    backup.create_backup(str(path), chunk_size=SMALL_CHUNKS)
    make_person(db.session.get(Organisation, org_id), by=db.session.get(User, user_id), name="备份之后")
    db.session.remove()
    return path


def frames(raw: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each chunk frame, parsed independently of the module."""
    (length,) = struct.unpack(">I", raw[len(backup.MAGIC):len(backup.MAGIC) + 4])
    offset = len(backup.MAGIC) + 4 + length
    found = []
    while offset < len(raw):
        size = 1 + 4 + 12 + struct.unpack(">I", raw[offset + 1:offset + 5])[0]
        found.append((offset, size))
        offset += size
    return found


def header_of(path) -> dict:
    with open(path, "rb") as fh:
        return backup.read_header(fh)[0]


def flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


def _swap(raw, a, b):
    (oa, la), (ob, lb) = frames(raw)[a], frames(raw)[b]
    return raw[:oa] + raw[ob:ob + lb] + raw[oa + la:ob] + raw[oa:oa + la] + raw[ob + lb:]


TAMPERINGS = {
    "header": (lambda raw: raw.replace(b'"database"', b'"databasf"'), "header"),
    "a header value": (lambda raw: raw.replace(b'"created":"20', b'"created":"19'),
                       "Chunk 0 of the backup does not decrypt"),
    "header length": (lambda raw: flip(raw, len(backup.MAGIC) + 3), "The backup header is damaged"),
    "magic": (lambda raw: flip(raw, 0), "not a victimcare backup"),
    "last chunk's final flag": (lambda raw: flip(raw, frames(raw)[-1][0]), "does not decrypt"),
    "a middle chunk flagged final": (lambda raw: flip(raw, frames(raw)[2][0]), "does not decrypt"),
    "cut at a chunk boundary": (lambda raw: raw[:frames(raw)[-1][0]], "without its final chunk"),
    "cut after the header": (lambda raw: raw[:frames(raw)[0][0]], "without its final chunk"),
    "cut inside a chunk": (lambda raw: raw[:frames(raw)[1][0] + 40], "truncated"),
    "swapped chunks": (lambda raw: _swap(raw, 1, 2), "Chunk 1 of the backup does not decrypt"),
    "dropped chunk": (lambda raw: raw[:frames(raw)[1][0]] + raw[frames(raw)[2][0]:],
                      "Chunk 1 of the backup does not decrypt"),
    "a chunk repeated": (lambda raw: raw[:frames(raw)[2][0]] + raw[frames(raw)[1][0]:],
                         "Chunk 2 of the backup does not decrypt"),
    "data after the final chunk": (lambda raw: raw + raw[frames(raw)[-1][0]:], "after its final chunk"),
    "empty file": (lambda raw: b"", "not a victimcare backup"),
}


def assert_refused(app, path, message, before):
    result = run(app, "restore", "--yes", str(path))
    assert result.exit_code == 1, result.output
    assert message in result.output and "Nothing was restored" in result.output, result.output
    assert stored_rows() == before  # the person added after the backup is still there, nothing else moved
    assert os.listdir(path.parent) == [path.name]  # no plaintext dump left behind


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_a_tampered_backup_is_refused_and_the_database_is_unchanged(app, small_backup, tampering):
    change, message = TAMPERINGS[tampering]
    raw = small_backup.read_bytes()
    assert len(frames(raw)) >= 5
    small_backup.write_bytes(change(raw))
    before = stored_rows()
    assert_refused(app, small_backup, message, before)
    assert run(app, "backup-verify", str(small_backup)).exit_code == 1


def test_one_flipped_byte_in_any_chunk_is_refused(app, small_backup):
    raw = small_backup.read_bytes()
    before = stored_rows()
    for index, (offset, size) in enumerate(frames(raw)):
        # by turns the length field, the nonce, the ciphertext and the tag
        at = offset + (1 + 3, 5 + 6, 17 + (size - 17) // 2, size - 1)[index % 4]
        small_backup.write_bytes(flip(raw, at))
        result = run(app, "restore", "--yes", str(small_backup))
        assert result.exit_code == 1 and "Nothing was restored" in result.output, (index, result.output)
    assert stored_rows() == before
    assert os.listdir(small_backup.parent) == [small_backup.name]


def test_a_backup_under_another_key_is_refused(app, small_backup, monkeypatch):
    kr = keyring()
    before = stored_rows()
    kid = header_of(small_backup)["key_id"]
    monkeypatch.setitem(kr.data_keys, kid, os.urandom(32))
    assert_refused(app, small_backup, "Chunk 0 of the backup does not decrypt", before)
    monkeypatch.delitem(kr.data_keys, kid)
    assert_refused(app, small_backup, f"data key {kid!r} this backup was made with is not in the keyring", before)


def _reencrypted(path, **header):
    """The same dump in a validly encrypted backup whose header says something else."""
    original = header_of(path)
    dump = path.parent.parent / "dump"
    with open(dump, "wb") as out:
        backup.decrypt_backup(str(path), out)
    os.unlink(path)
    with open(path, "wb") as out:
        backup.encrypt_stream(str(dump), out, {**original, **header}, keyring(), SMALL_CHUNKS)
    os.unlink(dump)


@pytest.mark.parametrize("header, message", [
    ({"database": "mysql"}, "This is a backup of a mysql database"),
    ({"revision": ["9999_from_the_future"]}, "9999_from_the_future is newer than this version"),
    ({"sha256": "0" * 64}, "does not match the checksum"),
    ({"size": 1}, "does not match the checksum"),
    ({"format": 2}, "Backup format 2 is not one this version of victimcare reads"),
])
def test_a_backup_for_another_database_or_schema_is_refused(app, small_backup, header, message):
    _reencrypted(small_backup, **header)
    before = stored_rows()
    assert_refused(app, small_backup, message, before)


def test_the_other_database_kind_is_refused(app, small_backup):
    other = "postgresql" if db.engine.dialect.name == "sqlite" else "sqlite"
    _reencrypted(small_backup, database=other)
    assert_refused(app, small_backup, f"This is a backup of a {other} database", stored_rows())


def test_restore_asks_before_replacing_the_database(app, small_backup):
    before = stored_rows()
    for answer in ("n\n", ""):  # declined, or no terminal to answer on
        result = run(app, "restore", str(small_backup), input=answer)
        assert result.exit_code == 1 and "Replace the whole database" in result.output, result.output
        assert stored_rows() == before
    result = run(app, "restore", str(small_backup), input="y\n")
    assert result.exit_code == 0, result.output
    names = {p.name for p in db.session.scalars(select(Person))}
    assert names == {"备份测试0", "备份测试1", "备份测试2"}  # the later person is gone
    assert audit.verify().ok


# -- the file itself ----------------------------------------------------------------
def test_the_backup_is_encrypted_and_holds_no_key(app, small_backup):
    raw = small_backup.read_bytes()
    kr = keyring()
    header = header_of(small_backup)
    assert header["database"] == db.engine.dialect.name and header["key_id"] == kr.active
    assert header["revision"] == sorted(backup.code_heads())
    assert abs(dt.datetime.fromisoformat(header["created"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    dump = small_backup.parent.parent / "dump"
    with open(dump, "wb") as out:
        backup.decrypt_backup(str(small_backup), out)
    plain = dump.read_bytes()
    # the check works: the dump starts with its format's magic and (SQLite: uncompressed) holds the
    # organisation's name, which is plaintext in the database
    assert plain.startswith(b"SQLite format 3" if header["database"] == "sqlite" else b"PGDMP")
    assert header["database"] != "sqlite" or "甲救助站".encode() in plain
    keys = (*kr.data_keys.values(), kr.index_key, kr.audit_key)
    for secret in ("甲救助站".encode(), plain[:16], plain[-64:], *keys):
        assert secret not in raw
    assert os.stat(small_backup).st_mode & 0o077 == 0


def test_backup_verify_and_a_rotated_keyring(app, small_backup, monkeypatch):
    kr = keyring()
    made_with = kr.active
    monkeypatch.setitem(kr.data_keys, "knewkey1", os.urandom(32))
    monkeypatch.setattr(kr, "active", "knewkey1")  # a rotation since: older keys stay in the keyring
    result = run(app, "backup-verify", str(small_backup))
    assert result.exit_code == 0 and "Backup intact" in result.output and made_with in result.output, result.output
    second = small_backup.parent / "second.vcb"
    assert run(app, "backup", str(second)).exit_code == 0
    assert header_of(second)["key_id"] == "knewkey1"
    result = run(app, "backup", str(second))
    assert result.exit_code == 1 and "exists already" in result.output


def test_a_restored_database_has_its_audit_rows_and_counts(app, small_data, tmp_path):
    path = tmp_path / "counts.vcb"
    assert run(app, "backup", str(path)).exit_code == 0
    counts = {name: len(rows) for name, rows in stored_rows().items()}
    db.session.execute(delete(audit.AuditEvent))
    db.session.commit()
    result = run(app, "restore", "--yes", str(path))
    assert result.exit_code == 0, result.output
    restored = stored_rows()
    _drop_restore_event(restored)
    backup_event = 1  # recorded after the dump, so not in it
    assert {name: len(rows) for name, rows in restored.items()} == \
        {**counts, "audit_event": counts["audit_event"] - backup_event}
    assert db.session.scalar(select(func.count()).select_from(Person)) == 3


def test_pg_tools_get_the_password_in_the_environment_not_the_command_line():
    url = make_url("postgresql+psycopg://app:s3cr%40t@db.example:5433/vc?sslmode=require")
    command, env = pg_invocation(url, "pg_dump", "--format=custom")
    assert os.path.basename(command[0]) == "pg_dump"
    assert command[1:] == ["--dbname=postgresql://app@db.example:5433/vc?sslmode=require", "--format=custom"]
    assert env["PGPASSWORD"] == "s3cr@t"


def test_a_restore_ends_every_log_in(app, client, logged_in, orgs, tmp_path):
    """The backup holds the session opened here; restored, it would let a copied cookie back in."""
    logged_in("caseworker", orgs["shelter_a"])
    assert client.get("/").status_code == 200
    path = tmp_path / "sessions.vcb"
    assert run(app, "backup", str(path)).exit_code == 0
    result = run(app, "restore", "--yes", str(path))
    assert result.exit_code == 0 and "Every log-in has ended" in result.output, result.output
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
