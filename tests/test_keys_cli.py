"""The keyring at start-up (refuse to start on a missing or wrong key) and `rotate-keys`."""
import json
import types

import pytest
from sqlalchemy import select

from victimcare import cli, keys
from victimcare.crypto import KeyCheck, Keyring, KeyringError, keyring
from victimcare.extensions import db

from .conftest import cli_admin_args
from .keys_support import ENCRYPTED, app_with_keyring, readable_people, run_cli, stored_values




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
        app_with_keyring(test_config, keyring_copy)


def test_app_refuses_to_start_without_the_key_its_data_was_written_with(app, keyring_copy, test_config):
    raw = Keyring.generate().to_dict()  # a whole different keyring
    old = keyring().active
    raw["index_key"], raw["audit_key"] = json.loads(keyring_copy.read_text())["index_key"], \
        json.loads(keyring_copy.read_text())["audit_key"]
    _write(keyring_copy, raw)
    with pytest.raises(KeyringError, match=f"Data key '{old}'.*missing"):
        app_with_keyring(test_config, keyring_copy)


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
        app_with_keyring(test_config, keyring_copy)


def test_app_refuses_to_start_when_an_existing_database_has_no_keyring_file(app, test_config, tmp_path):
    with pytest.raises(KeyringError, match="missing"):
        app_with_keyring(test_config, tmp_path / "nowhere" / "keys.json")
    assert not (tmp_path / "nowhere" / "keys.json").exists()


def test_new_database_gets_a_keyring_generated(tmp_path, test_config, monkeypatch):
    from flask_migrate import upgrade
    monkeypatch.setenv("VICTIMCARE_INSTANCE_PATH", str(tmp_path / "instance"))
    config = {**test_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}"}
    path = tmp_path / "instance" / "keys.json"
    fresh = app_with_keyring(config, path)
    try:
        generated = Keyring.load(str(path))
        assert generated.index_key and generated.audit_key and generated.active in generated.data_keys
        with fresh.app_context():
            upgrade()
            db.engine.dispose()
        again = app_with_keyring(config, path)  # starts with the generated keyring and records its checks
        with again.app_context():
            assert set(db.session.scalars(select(KeyCheck.key_id))) == {generated.active, "index", "audit"}
            db.session.remove()
            db.engine.dispose()
        path.unlink()
        with pytest.raises(KeyringError, match="missing"):
            app_with_keyring(config, path)  # the database now has keys on record: never regenerate
    finally:
        with fresh.app_context():
            db.engine.dispose()


# -- rotate-keys ------------------------------------------------------------------
@pytest.fixture
def admin(orgs, make_user):
    """rotate-keys needs an administrator's password and two-factor code (tests/test_reauth.py)."""
    user = make_user("admin", orgs["bureau"])
    return types.SimpleNamespace(id=user.id, username=user.username, totp_secret=user.totp_secret)


def test_rotate_keys_reencrypts_everything_and_keeps_it_readable(encrypted_people, keyring_copy, test_config, admin):
    before = readable_people(encrypted_people)
    old = keyring().active
    rotating = app_with_keyring(test_config, keyring_copy)
    result = run_cli(rotating, "rotate-keys", "--batch-size", "2", *cli_admin_args(admin))
    assert result.exit_code == 0, result.output
    new = json.loads(keyring_copy.read_text())["active"]
    assert new != old and old in json.loads(keyring_copy.read_text())["data_keys"]
    assert "Re-encrypting" in result.output and "Done" in result.output
    with rotating.app_context():
        for table in ENCRYPTED:
            values = stored_values(table)
            assert values and all(v.startswith(f"v1.{new}.") for v in values), table
        assert readable_people(encrypted_people) == before
        assert keys.pending_rotation(keyring()) == 0
        db.session.remove()
    # a second run starts another rotation rather than claiming to resume
    again = run_cli(rotating, "rotate-keys", "--batch-size", "2", *cli_admin_args(admin))
    assert "Resuming" not in again.output and again.exit_code == 0
    with rotating.app_context():
        db.engine.dispose()


def test_interrupted_rotation_resumes_without_another_key(encrypted_people, keyring_copy, test_config, monkeypatch, admin):
    before = readable_people(encrypted_people)
    real_rotate = keys.rotate

    def power_cut_after_first_batch(kr, batch_size, progress=None):
        def then_fail(n):
            progress(n)
            raise RuntimeError("power cut")
        return real_rotate(kr, batch_size, progress=then_fail)

    monkeypatch.setattr(cli, "rotate", power_cut_after_first_batch)
    first = run_cli(app_with_keyring(test_config, keyring_copy), "rotate-keys", "--batch-size", "2", *cli_admin_args(admin))
    assert isinstance(first.exception, RuntimeError)
    new = json.loads(keyring_copy.read_text())["active"]
    monkeypatch.undo()

    restarted = app_with_keyring(test_config, keyring_copy)  # a new process reads the saved keyring
    with restarted.app_context():
        pending = keys.pending_rotation(keyring())
        assert 0 < pending < sum(len(stored_values(t)) for t in ENCRYPTED)  # the first batch went through
        db.session.remove()
    result = run_cli(restarted, "rotate-keys", "--batch-size", "2", *cli_admin_args(admin))
    assert result.exit_code == 0, result.output
    assert f"Resuming rotation to key {new}" in result.output and "Done" in result.output
    saved = json.loads(keyring_copy.read_text())
    assert saved["active"] == new and len(saved["data_keys"]) == 2
    with restarted.app_context():
        assert all(v.startswith(f"v1.{new}.") for t in ENCRYPTED for v in stored_values(t))
        assert readable_people(encrypted_people) == before
        db.session.remove()
        db.engine.dispose()
