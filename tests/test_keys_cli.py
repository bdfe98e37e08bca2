"""The keyring at start-up (refuse to start on a missing or wrong key) and `rotate-keys`."""
import json
import shutil

import pytest
from flask import has_app_context
from sqlalchemy import delete, select, text
from sqlalchemy.pool import NullPool

from victimcare import cli, create_app, keys
from victimcare.crypto import KeyCheck, Keyring, KeyringError, keyring
from victimcare.extensions import db
from victimcare.people import service
from victimcare.people.models import Person, PersonAlias, PersonRevision

ENCRYPTED = {"person": ("name_enc", "id_number_enc", "date_of_birth_enc", "notes_enc"),
             "person_alias": ("name_enc",), "person_revision": ("changes_enc",)}


@pytest.fixture
def keyring_copy(app, test_config, tmp_path):
    """A private copy of the session keyring; key-check rows it adds are removed afterwards."""
    path = tmp_path / "keys.json"
    shutil.copy(test_config["KEYRING_FILE"], path)
    yield path
    db.session.rollback()
    db.session.execute(delete(KeyCheck).where(KeyCheck.key_id.not_in(
        ["index", "audit", *keyring().data_keys])))
    db.session.commit()


def _app_with(test_config, keyring_file):
    """Another app on the same database. The test's own session lets go of the database first
    (on SQLite every transaction holds the write lock); NullPool leaves no connection behind
    when start-up fails and the app object is never returned."""
    if has_app_context():
        db.session.remove()
    return create_app({**test_config, "KEYRING_FILE": str(keyring_file),
                       "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}})


def _run(app, *args):
    """Run a CLI command in that app's context (the test's own app context is current otherwise)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _write(path, raw):
    path.write_text(json.dumps(raw))


# -- refusing to start ----------------------------------------------------------
@pytest.mark.parametrize("drop, named", [("index_key", "blind-index key"), ("audit_key", "audit key"),
                                         ("data_keys", "data keys")])
def test_app_refuses_to_start_when_the_keyring_lacks_a_key(app, keyring_copy, test_config, drop, named):
    raw = json.loads(keyring_copy.read_text())
    del raw[drop]
    _write(keyring_copy, raw)
    with pytest.raises(KeyringError, match=named):
        _app_with(test_config, keyring_copy)


def test_app_refuses_to_start_without_the_key_its_data_was_written_with(app, keyring_copy, test_config):
    raw = Keyring.generate().to_dict()  # a whole different keyring
    old = keyring().active
    raw["index_key"], raw["audit_key"] = json.loads(keyring_copy.read_text())["index_key"], \
        json.loads(keyring_copy.read_text())["audit_key"]
    _write(keyring_copy, raw)
    with pytest.raises(KeyringError, match=f"Data key '{old}'.*missing"):
        _app_with(test_config, keyring_copy)


@pytest.mark.parametrize("replace, named", [("index_key", "blind-index key"), ("audit_key", "audit key"),
                                            ("data_key", "does not decrypt")])
def test_app_refuses_to_start_with_a_wrong_key(app, keyring_copy, test_config, replace, named):
    raw = json.loads(keyring_copy.read_text())
    other = Keyring.generate().to_dict()
    if replace == "data_key":
        raw["data_keys"][raw["active"]] = next(iter(other["data_keys"].values()))
    else:
        raw[replace] = other[replace]
    _write(keyring_copy, raw)
    with pytest.raises(KeyringError, match=named):
        _app_with(test_config, keyring_copy)


def test_app_refuses_to_start_when_an_existing_database_has_no_keyring_file(app, test_config, tmp_path):
    with pytest.raises(KeyringError, match="missing"):
        _app_with(test_config, tmp_path / "nowhere" / "keys.json")
    assert not (tmp_path / "nowhere" / "keys.json").exists()


def test_new_database_gets_a_keyring_generated(tmp_path, test_config, monkeypatch):
    from flask_migrate import upgrade
    monkeypatch.setenv("VICTIMCARE_INSTANCE_PATH", str(tmp_path / "instance"))
    config = {**test_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}"}
    path = tmp_path / "instance" / "keys.json"
    fresh = _app_with(config, path)
    try:
        generated = Keyring.load(str(path))
        assert generated.index_key and generated.audit_key and generated.active in generated.data_keys
        with fresh.app_context():
            upgrade()
            db.engine.dispose()
        again = _app_with(config, path)  # starts with the generated keyring and records its checks
        with again.app_context():
            assert set(db.session.scalars(select(KeyCheck.key_id))) == {generated.active, "index", "audit"}
            db.session.remove()
            db.engine.dispose()
        path.unlink()
        with pytest.raises(KeyringError, match="missing"):
            _app_with(config, path)  # the database now has keys on record: never regenerate
    finally:
        with fresh.app_context():
            db.engine.dispose()


# -- rotate-keys ------------------------------------------------------------------
@pytest.fixture
def people(orgs, make_user, make_person):
    """Three people with aliases and a correction each: values in all three encrypted tables."""
    user = make_user("caseworker", orgs["shelter_a"])
    made = {}
    for n, name in enumerate(("王芳", "李娜", "陈静")):
        person = make_person(orgs["shelter_a"], by=user, name=name, aliases=f"小{name[1]}\n阿{name[1]}",
                             notes=f"note {n}")
        service.update_identity(person, {"notes": f"corrected {n}"}, user, person.version)
        db.session.commit()
        made[person.id] = name
    db.session.remove()
    return made


def _stored(table):
    columns = ENCRYPTED[table]
    rows = db.session.execute(text(f"SELECT {', '.join(columns)} FROM {table}")).all()
    return [value for row in rows for value in row if value is not None]


def _readable(made):
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


def test_rotate_keys_reencrypts_everything_and_keeps_it_readable(people, keyring_copy, test_config):
    before = _readable(people)
    old = keyring().active
    rotating = _app_with(test_config, keyring_copy)
    result = _run(rotating, "rotate-keys", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    new = json.loads(keyring_copy.read_text())["active"]
    assert new != old and old in json.loads(keyring_copy.read_text())["data_keys"]
    assert "Re-encrypting" in result.output and "Done" in result.output
    with rotating.app_context():
        for table in ENCRYPTED:
            values = _stored(table)
            assert values and all(v.startswith(f"v1.{new}.") for v in values), table
        assert _readable(people) == before
        assert keys.pending_rotation(keyring()) == 0
        db.session.remove()
    # a second run starts another rotation rather than claiming to resume
    again = _run(rotating, "rotate-keys", "--batch-size", "2")
    assert "Resuming" not in again.output and again.exit_code == 0
    with rotating.app_context():
        db.engine.dispose()


def test_interrupted_rotation_resumes_without_another_key(people, keyring_copy, test_config, monkeypatch):
    before = _readable(people)
    real_rotate = keys.rotate

    def power_cut_after_first_batch(kr, batch_size, progress=None):
        def then_fail(n):
            progress(n)
            raise RuntimeError("power cut")
        return real_rotate(kr, batch_size, progress=then_fail)

    monkeypatch.setattr(cli, "rotate", power_cut_after_first_batch)
    first = _run(_app_with(test_config, keyring_copy), "rotate-keys", "--batch-size", "2")
    assert isinstance(first.exception, RuntimeError)
    new = json.loads(keyring_copy.read_text())["active"]
    monkeypatch.undo()

    restarted = _app_with(test_config, keyring_copy)  # a new process reads the saved keyring
    with restarted.app_context():
        pending = keys.pending_rotation(keyring())
        assert 0 < pending < sum(len(_stored(t)) for t in ENCRYPTED) - 1  # one batch of 2 went through
        db.session.remove()
    result = _run(restarted, "rotate-keys", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert f"Resuming rotation to key {new}" in result.output and "Done" in result.output
    saved = json.loads(keyring_copy.read_text())
    assert saved["active"] == new and len(saved["data_keys"]) == 2
    with restarted.app_context():
        assert all(v.startswith(f"v1.{new}.") for t in ENCRYPTED for v in _stored(t))
        assert _readable(people) == before
        db.session.remove()
        db.engine.dispose()
