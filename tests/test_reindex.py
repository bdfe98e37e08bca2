"""`flask --app victimcare reindex`: every blind index rebuilt from the encrypted values, in batches,
safe to interrupt and re-run."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import select, text, update

from victimcare.audit import AuditEvent
from victimcare.crypto import keyring
from victimcare.extensions import db
from victimcare.names import reindex as reindex_module
from victimcare.names.models import NameSoundKey
from victimcare.people import service
from victimcare.people.models import Person, PersonAlias

from .test_name_sound import EXACT, SOUND, found

ID_NUMBER = "11010519491231002X"


@pytest.fixture
def people(orgs, make_person):
    a = orgs["shelter_a"]
    made = {"zhang": make_person(a, name="张丽", aliases="小燕", id_number=ID_NUMBER,
                                 police_case_number="A2025-1"),
            "ouyang": make_person(a, name="欧阳娜", date_of_birth=dt.date(2009, 9, 9))}
    for n in range(5):
        made[f"p{n}"] = make_person(a, name=f"王{'一二三四五'[n]}")
    return {key: person.id for key, person in made.items()}


def searches(people) -> dict:
    """What every kind of search finds (results as keys of ``people``)."""
    back = {v: k for k, v in people.items()}

    def ids(clause):
        return {back[i] for i in db.session.scalars(select(Person.id).where(clause))}
    result = {q: {back[i]: r for i, r in found(q).items()} for q in ("张丽", "小燕", "zhang li", "ouyang", "zl")}
    result["id"] = ids(Person.id.in_(select(service.search_matches(ID_NUMBER).c.person_id)))
    result["police"] = ids(Person.id.in_(select(service.search_matches("A2025-1").c.person_id)))
    result["dob"] = ids(Person.date_of_birth_bidx == keyring().blind_index("date_of_birth", "2009-09-09"))
    db.session.rollback()
    return result


EXPECTED = {"张丽": {"zhang": EXACT}, "小燕": {"zhang": EXACT}, "zhang li": {"zhang": SOUND},
            "ouyang": {"ouyang": SOUND}, "zl": {"zhang": 3}, "id": {"zhang"}, "police": {"zhang"},
            "dob": {"ouyang"}}


@pytest.fixture
def other_index_key(app):
    """Change the blind-index key in memory (as a key change would), and put it back afterwards."""
    kr = keyring()
    original = kr.index_key
    kr.index_key = secrets.token_bytes(32)
    yield kr
    kr.index_key = original


def run(app, *args):
    db.session.remove()  # the command's own transactions; SQLite's write lock is free
    return app.test_cli_runner().invoke(args=["reindex", *args])


def test_searches_work_before(app, people):
    assert searches(people) == EXPECTED


def test_reindex_after_an_index_key_change_restores_every_search(app, people, other_index_key):
    assert searches(people)["张丽"] == {} and searches(people)["id"] == set()
    result = run(app, "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "Done:" in result.output
    assert searches(people) == EXPECTED
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "admin")).all()
    assert len(events) == 1
    details = events[0].details_dict
    assert details["change"] == "reindex" and details["people"] == len(people)
    assert "张丽" not in events[0].details


def test_reindex_fills_keys_of_people_registered_before_they_existed(app, people):
    db.session.execute(NameSoundKey.__table__.delete())
    db.session.commit()
    assert searches(people)["zhang li"] == {}
    assert run(app).exit_code == 0
    assert searches(people) == EXPECTED


def test_reindex_drops_keys_of_removed_aliases_and_stale_rows(app, people):
    db.session.execute(update(PersonAlias).values(removed_at=dt.datetime(2026, 1, 1)))
    db.session.commit()
    assert run(app).exit_code == 0
    assert found("小燕") == {} and found("xiao yan") == {}


def test_an_interrupted_reindex_then_a_rerun_is_correct(app, people, other_index_key, monkeypatch):
    calls = {"n": 0}
    real = reindex_module.index_rows

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # in the middle of the second batch of people
            raise RuntimeError("power cut")
        return real(*args, **kwargs)
    monkeypatch.setattr(reindex_module, "index_rows", failing)
    result = run(app, "--batch-size", "3")
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    db.session.rollback()
    # The first batch was committed, the second not: the index is partly rebuilt, never duplicated.
    per_person = db.session.execute(text(
        "SELECT person_id, kind, bidx, COUNT(*) FROM name_sound_key GROUP BY person_id, kind, bidx, alias_id "
        "HAVING COUNT(*) > 1")).all()
    assert per_person == []
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "admin")).all()
    monkeypatch.setattr(reindex_module, "index_rows", real)
    assert run(app, "--batch-size", "3").exit_code == 0
    assert searches(people) == EXPECTED
    assert run(app, "--batch-size", "3").exit_code == 0  # idempotent: nothing doubles
    assert searches(people) == EXPECTED
    keys = db.session.execute(select(NameSoundKey.person_id, NameSoundKey.kind, NameSoundKey.bidx)).all()
    assert len(keys) == len(set(keys))
