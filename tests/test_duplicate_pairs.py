"""Possible duplicates by sound (issue 8, point 4): the registration warning's same-sound rules, and the
manager's page of pairs in scope, with answers ("not the same person", "linked for a merge decision")
that are kept, undone and audited, and never merge or delete a file."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import DuplicateDecision, Person
from victimcare.web import format_datetime

from .conftest import csrf_from, login
from .test_duplicates import PANEL, form_data, post, shown_cases, warned

DOB = dt.date(2010, 5, 1)
ID_NUMBER = "320102201001010029"
PAGE = "/people/duplicates/"
CASE = re.compile(r"\d{6}-\d{4}-\d{5}")
AGE = 16  # an estimated age: the birth year stored is this year minus it


def registered(client, orgs, **fields) -> None:
    """Post a registration that must go through without a warning."""
    response = post(client, form_data(orgs, **fields))
    assert response.status_code == 302, PANEL in response.text
    assert "/people/" in response.headers["Location"]


@pytest.fixture
def caseworker(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    return user


# -- the registration warning -------------------------------------------------------------------------
def test_a_same_sounding_name_with_the_same_birth_date_is_warned(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="张丽", date_of_birth=DOB)
    make_person(orgs["shelter_a"], name="张丽", date_of_birth=dt.date(2010, 5, 2))  # another day
    make_person(orgs["shelter_a"], name="王芳", date_of_birth=DOB)                   # another sound
    make_person(orgs["shelter_b"], name="张丽", date_of_birth=DOB)                  # outside the scope
    page = html.unescape(warned(client, orgs, name="章莉", date_of_birth=DOB.isoformat()).text)
    assert shown_cases(page) == [existing.case_number]
    assert "Name sounds the same, same date of birth" in page
    assert "Same name and date of birth" not in page


def test_a_same_sounding_alias_is_warned(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="李娜", aliases="章莉", date_of_birth=DOB)
    page = warned(client, orgs, name="张丽", date_of_birth=DOB.isoformat()).text
    assert shown_cases(page) == [existing.case_number]


def test_the_same_name_shows_only_the_stronger_reason(client, orgs, caseworker, make_person):
    make_person(orgs["shelter_a"], name="张丽", date_of_birth=DOB)
    page = html.unescape(warned(client, orgs, name="张丽", date_of_birth=DOB.isoformat()).text)
    assert "Same name and date of birth" in page and "Name sounds the same" not in page


def _estimated(make_person, org, origin, age=AGE, name="张丽"):
    return make_person(org, name=name, date_of_birth=None, estimated_age=age, birth_date_estimated=True,
                       origin_code=origin)


def test_birth_year_and_county_of_origin_are_warned(client, orgs, caseworker, make_person):
    existing = _estimated(make_person, orgs["shelter_a"], "320102")
    page = html.unescape(warned(client, orgs, name="章莉", date_of_birth="", estimated_age=str(AGE),
                                origin_code="320102").text)
    assert shown_cases(page) == [existing.case_number]
    assert "Name sounds the same, same birth year and county of origin" in page


@pytest.mark.parametrize("stored, given, age", [
    ("320102", "320104", AGE),      # another county of the same city
    ("320100", "320100", AGE),      # a city only
    ("320000", "320000", AGE),      # a province only
    ("320102", "320102", AGE + 1),  # another birth year
])
def test_birth_year_needs_the_same_county(client, orgs, caseworker, make_person, stored, given, age):
    _estimated(make_person, orgs["shelter_a"], stored)
    registered(client, orgs, name="章莉", date_of_birth="", estimated_age=str(age), origin_code=given)


# -- the manager's page ---------------------------------------------------------------------------------
@pytest.fixture
def world(orgs, make_person):
    """Pairs in the bureau's scope, people that match nobody, and pairs that cross or lie outside it."""
    p = {}
    p["sound_a"] = make_person(orgs["shelter_a"], name="张丽", date_of_birth=DOB)
    p["sound_b"] = make_person(orgs["shelter_b"], name="章莉", date_of_birth=DOB)
    p["id_a"] = make_person(orgs["shelter_a"], name="陈静", id_number=ID_NUMBER, date_of_birth=None, estimated_age=15)
    p["id_b"] = make_person(orgs["shelter_b"], name="刘洋", id_number=ID_NUMBER, date_of_birth=None, estimated_age=15)
    p["county_a"] = _estimated(make_person, orgs["shelter_a"], "320102", name="周敏")
    p["county_b"] = _estimated(make_person, orgs["shelter_a"], "320102", name="周民")
    p["alias_a"] = make_person(orgs["shelter_a"], name="黄燕", aliases="何芳", date_of_birth=dt.date(2012, 2, 2))
    p["alias_b"] = make_person(orgs["shelter_b"], name="何芳", date_of_birth=dt.date(2012, 2, 2))
    # No pair: another day, another sound, a city only, another county.
    p["day"] = make_person(orgs["shelter_a"], name="张丽", date_of_birth=dt.date(2010, 5, 3))
    p["sound"] = make_person(orgs["shelter_a"], name="王芳", date_of_birth=DOB)
    p["city_a"] = _estimated(make_person, orgs["shelter_a"], "320100", name="吴刚")
    p["city_b"] = _estimated(make_person, orgs["shelter_b"], "320100", name="吴钢")
    p["county_c"] = _estimated(make_person, orgs["shelter_b"], "320104", name="周敏", age=AGE + 30)
    # Outside the bureau: a pair of its own, each also matching files inside (sound, ID number).
    p["out_a"] = make_person(orgs["other_shelter"], name="张莉", date_of_birth=DOB)
    p["out_b"] = make_person(orgs["other_shelter"], name="章丽", id_number=ID_NUMBER, date_of_birth=DOB)
    return p


IN_SCOPE = (("sound_a", "sound_b"), ("id_a", "id_b"), ("county_a", "county_b"), ("alias_a", "alias_b"))


def listed(page_text: str) -> list[frozenset]:
    """The pairs of case numbers in the page's table, in order."""
    body = page_text.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page_text else ""
    return [frozenset(CASE.findall(row)) for row in body.split("<tr>")[1:]]


def expected(world, keys) -> set[frozenset]:
    return {frozenset((world[x].case_number, world[y].case_number)) for x, y in keys}


@pytest.fixture
def manager(client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    client.get("/language/en")
    return user


def test_the_page_lists_exactly_the_pairs_in_scope_newest_first(client, world, manager):
    page = client.get(PAGE)
    assert page.status_code == 200
    pairs = listed(page.text)
    assert set(pairs) == expected(world, IN_SCOPE) and len(pairs) == len(IN_SCOPE)
    newest = [frozenset((world[x].case_number, world[y].case_number)) for x, y in reversed(IN_SCOPE)]
    assert pairs == newest  # each pair's newer file was registered later than the one before
    text = html.unescape(page.text)
    assert "张丽" in text and "章莉" in text  # managers read identity
    for reason in ("Same ID number", "Name sounds the same, same date of birth",
                   "Name sounds the same, same birth year and county of origin", "Same alias and date of birth"):
        assert reason in text, reason
    assert "4 pairs" in text
    event = _audit_rows("list")[-1]
    assert event.details_dict == {"page": "duplicates", "show": "open", "results": 4}


def test_the_page_is_paginated(client, world, manager, app):
    app.config["PAGE_SIZE"] = 3
    first, second = listed(client.get(PAGE).text), listed(client.get(PAGE + "?page=2").text)
    assert len(first) == 3 and len(second) == 1 and set(first) | set(second) == expected(world, IN_SCOPE)


def test_a_manager_of_the_other_bureau_sees_only_its_own_pair(client, world, orgs, make_user):
    other = make_user("manager", orgs["other_bureau"])
    assert login(client, other).status_code == 302
    assert listed(client.get(PAGE).text) == [expected(world, [("out_a", "out_b")]).pop()]


@pytest.mark.parametrize("role, org", [("caseworker", "shelter_a"), ("clinician", "hospital"),
                                       ("police", "police"), ("auditor", "supervision")])
def test_other_roles_may_not_use_the_page(client, orgs, world, logged_in, role, org):
    logged_in(role, orgs[org])
    home = client.get("/")
    assert 'href="/people/duplicates/"' not in home.text
    denied = len(_audit_rows("denied"))
    assert client.get(PAGE).status_code == 403
    token = csrf_from(home.text)
    response = client.post("/people/duplicates/decide", data={
        "csrf_token": token, "person_a": world["sound_a"].id, "person_b": world["sound_b"].id, "decision": "same"})
    assert response.status_code == 403
    assert len(_audit_rows("denied")) == denied + 2
    assert _decisions() == []


def test_the_menu_links_the_page_for_managers(client, manager):
    assert 'href="/people/duplicates/"' in client.get("/").text


# -- answers ------------------------------------------------------------------------------------------------
def _answer(client, world, x, y, decision=None, note="", url="/people/duplicates/decide"):
    token = csrf_from(client.get(PAGE).text)
    data = {"csrf_token": token, "person_a": world[x].id if x in world else x,
            "person_b": world[y].id if y in world else y, "note": note}
    if decision:
        data["decision"] = decision
    return client.post(url, data=data)


def _decisions() -> list[tuple]:
    db.session.rollback()
    return db.session.execute(select(DuplicateDecision.person_a_id, DuplicateDecision.person_b_id,
                                     DuplicateDecision.decision)).all()


def _audit_rows(action: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def _people_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Person))


def test_not_the_same_person_is_kept_and_no_longer_listed(client, world, manager):
    people = _people_count()
    # Either order names the same pair.
    response = _answer(client, world, "sound_b", "sound_a", "different", note="不同的人：照片不符")
    assert response.status_code == 302
    pair = tuple(sorted((world["sound_a"].id, world["sound_b"].id)))
    assert _decisions() == [(*pair, "different")]
    assert set(listed(client.get(PAGE).text)) == expected(world, IN_SCOPE[1:])
    kept = client.get(PAGE + "?show=different")
    assert set(listed(kept.text)) == expected(world, IN_SCOPE[:1])
    assert "不同的人：照片不符" in html.unescape(kept.text)
    assert _people_count() == people
    stored = db.session.scalar(select(DuplicateDecision.note_enc))
    assert "不同" not in stored and stored.startswith("v1.")  # the note is encrypted


def test_linking_lists_the_pair_with_who_and_when_and_undo_lists_it_again(client, world, manager):
    people = _people_count()
    assert _answer(client, world, "id_a", "id_b", "same").status_code == 302
    linked = html.unescape(client.get(PAGE + "?show=same").text)
    assert set(listed(linked)) == expected(world, IN_SCOPE[1:2])
    decided = db.session.scalar(select(DuplicateDecision.decided_at))
    with client.application.test_request_context():
        shown = format_datetime(decided)  # in the office's time zone: after 16:00 UTC, tomorrow in Beijing
    assert manager.username in linked and shown in linked
    assert "Same ID number" in linked
    assert expected(world, IN_SCOPE[1:2]).isdisjoint(listed(client.get(PAGE).text))
    # Both files are still whole and separate.
    assert client.get(f"/people/{world['id_a'].id}").status_code == 200
    assert client.get(f"/people/{world['id_b'].id}").status_code == 200
    response = _answer(client, world, "id_b", "id_a", url="/people/duplicates/undo")
    assert response.status_code == 302 and "show=same" in response.headers["Location"]
    assert _decisions() == []
    assert set(listed(client.get(PAGE).text)) == expected(world, IN_SCOPE)
    assert _people_count() == people


def test_changing_an_answer_keeps_one_row(client, world, manager):
    _answer(client, world, "county_a", "county_b", "same")
    _answer(client, world, "county_a", "county_b", "different")
    assert [d[2] for d in _decisions()] == ["different"]


def test_answers_are_audited_with_ids_and_never_names_or_notes(client, world, manager):
    _answer(client, world, "alias_a", "alias_b", "same", note="备注何芳")
    _answer(client, world, "alias_a", "alias_b", "different")
    _answer(client, world, "alias_a", "alias_b", url="/people/duplicates/undo")
    pair = sorted((world["alias_a"].id, world["alias_b"].id))
    rows = [r for r in _audit_rows("create") + _audit_rows("update") if "duplicate_pair" in r.details_dict]
    assert [(r.action, r.details_dict) for r in sorted(rows, key=lambda r: r.seq)] == [
        ("create", {"duplicate_pair": pair, "decision": "same"}),
        ("update", {"duplicate_pair": pair, "decision": "different", "previous": "same"}),
        ("update", {"duplicate_pair": pair, "decision": "different", "undone": True}),
    ]
    assert all(r.user_id == manager.id and r.object_id == pair[0] and r.section == "identity" for r in rows)
    every_row = "".join(str([r.details, r.object_id]) for r in db.session.scalars(select(AuditEvent)))
    for secret in ("黄燕", "何芳", "备注"):
        assert secret not in every_row and secret.encode("unicode_escape").decode() not in every_row


def test_a_file_outside_the_scope_is_not_found_and_the_attempt_audited(client, world, manager):
    denied = len(_audit_rows("denied"))
    for url in ("/people/duplicates/decide", "/people/duplicates/undo"):
        response = _answer(client, world, "sound_a", "out_a", "different", url=url)
        assert response.status_code == 404
    rows = _audit_rows("denied")[denied:]
    assert [(r.object_id, r.details_dict["status"]) for r in rows] == [(world["out_a"].id, 404)] * 2
    assert _answer(client, world, "sound_a", "f" * 32, "different").status_code == 404
    assert _decisions() == []


@pytest.mark.parametrize("x, y, decision", [
    ("sound_a", "sound_a", "different"),   # one file twice
    ("sound_a", "", "different"),          # one file only
    ("sound_a", "x" * 40, "different"),    # not an id
    ("sound_a", "sound_b", "merge"),       # not an answer
    ("sound_a", "sound_b", None),          # no answer
])
def test_malformed_answers_are_refused(client, world, manager, x, y, decision):
    assert _answer(client, world, x, y, decision).status_code == 400
    assert _decisions() == []


def test_a_pair_that_does_not_match_is_not_recorded(client, world, manager):
    response = _answer(client, world, "sound_a", "sound", "different")
    assert response.status_code == 302
    assert _decisions() == []
    assert "no longer match" in client.get(response.headers["Location"]).text


def test_a_pair_is_stored_smaller_id_first(app, world):
    a, b = sorted((world["sound_a"].id, world["sound_b"].id))
    db.session.add(DuplicateDecision(person_a_id=b, person_b_id=a, decision="different"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_linked_pair_corrected_since_says_it_no_longer_matches(client, world, manager):
    _answer(client, world, "sound_a", "sound_b", "same")
    person = db.session.get(Person, world["sound_b"].id)
    person.date_of_birth = dt.date(2010, 6, 1)  # a caseworker corrects the date of birth
    db.session.commit()
    linked = html.unescape(client.get(PAGE + "?show=same").text)
    assert set(listed(linked)) == expected(world, IN_SCOPE[:1])
    assert "No longer matches" in linked and "Name sounds the same" not in linked
    assert expected(world, IN_SCOPE[:1]).isdisjoint(listed(client.get(PAGE).text))
