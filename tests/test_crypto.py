"""Field encryption at rest, associated data binding values to their row, blind indexes."""
import json

import pytest
from sqlalchemy import select, text

from victimcare.crypto import (DecryptionError, Keyring, KeyringError, blind_index, keyring, normalise_compact,
                               normalise_text)
from victimcare.extensions import db
from victimcare.people.models import Person
from victimcare.people.rules import id_check_digit

ID17 = "11010520100501002"
ID_NUMBER = ID17 + id_check_digit(ID17)
ENCRYPTED_COLUMNS = ("name_enc", "id_number_enc", "date_of_birth_enc", "contact_enc", "notes_enc")


def _raw(person_id, column):
    return db.session.execute(text(f"SELECT {column} FROM person WHERE id = :id"), {"id": person_id}).scalar()


def _set_raw(person_id, column, value):
    db.session.execute(text(f"UPDATE person SET {column} = :v WHERE id = :id"), {"v": value, "id": person_id})
    db.session.commit()
    db.session.expunge_all()


def _reload(person_id):
    return db.session.get(Person, person_id)


@pytest.fixture
def person(orgs, make_person):
    return make_person(orgs["shelter_a"], name="王芳", id_number=ID_NUMBER, contact="13800138000",
                       notes="Rescued from a factory in Dongguan")


def test_stored_columns_carry_format_and_key_id_and_hide_plaintext(app, person):
    plain = {"name_enc": "王芳", "id_number_enc": ID_NUMBER, "date_of_birth_enc": "2010-05-01",
             "contact_enc": "13800138000", "notes_enc": "Dongguan"}
    for column in ENCRYPTED_COLUMNS:
        stored = _raw(person.id, column)
        assert stored.startswith(f"v1.{keyring().active}."), column
        assert plain[column] not in stored, column
    row = db.session.execute(text("SELECT * FROM person WHERE id = :id"), {"id": person.id}).one()
    assert not any(isinstance(v, str) and ("王芳" in v or ID_NUMBER in v) for v in row)
    db.session.expunge_all()
    again = _reload(person.id)
    assert (again.name, again.id_number, again.contact) == ("王芳", ID_NUMBER, "13800138000")


def test_same_value_encrypts_differently_each_time(app):
    kr = keyring()
    first, second = kr.encrypt("王芳", "person.name.x"), kr.encrypt("王芳", "person.name.x")
    assert first != second
    assert kr.decrypt(first, "person.name.x") == kr.decrypt(second, "person.name.x") == "王芳"


def test_two_people_with_the_same_name_have_different_ciphertexts(orgs, make_person):
    a, b = make_person(orgs["shelter_a"], name="王芳"), make_person(orgs["shelter_a"], name="王芳")
    assert _raw(a.id, "name_enc") != _raw(b.id, "name_enc")
    assert a.name_bidx == b.name_bidx


def test_ciphertext_copied_into_another_row_does_not_decrypt(orgs, make_person):
    victim, other = make_person(orgs["shelter_a"], name="王芳").id, make_person(orgs["shelter_a"], name="李娜").id
    _set_raw(other, "name_enc", _raw(victim, "name_enc"))
    with pytest.raises(DecryptionError, match=f"person.name.{other}"):
        _reload(other).name
    assert _reload(victim).name == "王芳"


def test_ciphertext_copied_into_another_column_does_not_decrypt(person):
    person_id = person.id
    _set_raw(person_id, "notes_enc", _raw(person_id, "name_enc"))
    with pytest.raises(DecryptionError):
        _reload(person_id).notes


@pytest.mark.parametrize("position", [3, 20, -2])  # -1: its low bits may be padding
def test_changing_one_character_fails(person, position):
    person_id = person.id
    token = _raw(person_id, "name_enc")
    prefix = len(f"v1.{keyring().active}.")
    index = position if position < 0 else prefix + position
    index %= len(token)
    swapped = "A" if token[index] != "A" else "B"
    _set_raw(person_id, "name_enc", token[:index] + swapped + token[index + 1:])
    with pytest.raises(DecryptionError):
        _reload(person_id).name


def test_unknown_key_id_and_malformed_values_fail(app):
    kr = keyring()
    token = kr.encrypt("x", "person.name.1")
    with pytest.raises(DecryptionError, match="not in the keyring"):
        kr.decrypt(token.replace(kr.active, "kdeadbeef"), "person.name.1")
    with pytest.raises(DecryptionError):
        kr.decrypt("garbage", "person.name.1")
    with pytest.raises(DecryptionError, match="format"):
        kr.decrypt("v0" + token[2:], "person.name.1")


def test_blind_index_equal_for_equal_normalised_values(app):
    assert blind_index("name", "Anna  Li") == blind_index("name", " anna li") == blind_index("name", "ＡＮＮＡ LI")
    assert blind_index("name", "Anna Li") != blind_index("name", "Anna Lee")
    spaced = " ".join([ID_NUMBER[:6], ID_NUMBER[6:14], ID_NUMBER[14:]])
    assert blind_index("id_number", ID_NUMBER.lower(), normalise_compact) == \
        blind_index("id_number", spaced, normalise_compact)
    assert blind_index("name", "") is None and blind_index("name", None) is None


def test_blind_index_differs_per_domain_and_per_key(app):
    assert blind_index("name", "王芳") != blind_index("police_case_number", "王芳")
    assert len(blind_index("name", "王芳")) == 32
    other = Keyring.generate()
    assert other.blind_index("name", "王芳") != keyring().blind_index("name", "王芳")


def test_person_is_found_through_each_blind_index(person):
    for column, domain, value in (("name_bidx", "name", " 王芳 "), ("id_number_bidx", "id_number", ID_NUMBER)):
        found = db.session.scalars(select(Person.id).where(
            getattr(Person, column) == blind_index(domain, value, _normaliser(domain)))).all()
        assert found == [person.id], column
    # a plain comparison on the encrypted column matches nothing: that is why indexes exist
    assert db.session.scalars(select(Person.id).where(Person.name_enc == "王芳")).all() == []


def _normaliser(domain):
    return normalise_compact if domain == "id_number" else normalise_text


# -- the keyring file ------------------------------------------------------------
@pytest.mark.parametrize("drop, named", [
    ("data_keys", "No data keys"),
    ("index_key", '"index_key"'),
    ("audit_key", '"audit_key"'),
    ("active", "active data key"),
])
def test_keyring_load_names_the_missing_key(tmp_path, drop, named):
    raw = Keyring.generate().to_dict()
    del raw[drop]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(KeyringError, match=named):
        Keyring.load(str(path))


def test_keyring_load_names_the_missing_active_key_and_bad_lengths(tmp_path):
    raw = Keyring.generate().to_dict()
    raw["active"] = "kmissing"
    with pytest.raises(KeyringError, match="kmissing"):
        Keyring.from_dict(raw)
    raw = Keyring.generate().to_dict()
    raw["audit_key"] = "c2hvcnQ"
    with pytest.raises(KeyringError, match="audit key.*32 bytes"):
        Keyring.from_dict(raw)
    with pytest.raises(KeyringError, match="missing"):
        Keyring.load(str(tmp_path / "absent.json"))


def test_keyring_round_trips_through_its_file(tmp_path):
    kr = Keyring.generate(str(tmp_path / "keys.json"))
    kr.add_active_key()
    kr.save()
    assert Keyring.load(str(tmp_path / "keys.json")) == kr
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
