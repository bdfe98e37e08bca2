"""The identity section through the web: register, edit with history, aliases, search and filters."""
import datetime as dt
import html

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import Person, PersonRevision
from victimcare.people.rules import id_check_digit

from .conftest import csrf_from, post_form

ID_NUMBER = "320102201001010029"
assert id_check_digit(ID_NUMBER[:17]) == ID_NUMBER[17]
ID_WITH_X = "11010519491231002X"


@pytest.fixture
def caseworker(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    return user


def form_data(orgs, **fields):
    data = {"organisation_id": str(orgs["shelter_a"].id), "name": "林小燕", "aliases": "", "sex": "female",
            "date_of_birth": "2010-01-01", "estimated_age": "", "id_number": "", "nationality": "CHN",
            "origin_code": "", "origin_address": "", "contact": "", "rescue_date": "2026-03-02",
            "rescue_place": "", "rescuing_agency": "", "police_case_number": "",
            "identity_status": "unidentified", "identified_method": "", "identified_on": "",
            "tracing_result": "not_started", "tracing_notes": "", "notes": ""}
    data.update(fields)
    return data


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audit_rows(action, **where):
    query = select(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return db.session.scalars(query).all()


def edit_data(person, **fields):
    data = {"version": str(person.version), "name": person.name or "", "aliases": "\n".join(person.alias_names),
            "sex": person.sex, "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else "",
            "estimated_age": "", "id_number": person.id_number or "", "nationality": person.nationality or "CHN",
            "identity_status": person.identity_status, "identified_method": "", "identified_on": "",
            "tracing_result": person.tracing_result}
    data.update(fields)
    return data


# -- register ------------------------------------------------------------------
def test_register_redirects_to_the_file_and_is_audited(client, orgs, caseworker):
    response = post_form(client, "/people/new", form_data(orgs, id_number=ID_NUMBER, aliases="小燕\n阿燕"))
    assert response.status_code == 302
    person = db.session.scalars(select(Person)).one()
    assert response.headers["Location"].endswith(f"/people/{person.id}")
    assert person.name == "林小燕" and person.id_number == ID_NUMBER
    assert person.organisation_id == orgs["shelter_a"].id and person.created_by_id == caseworker.id
    assert sorted(person.alias_names) == ["小燕", "阿燕"]
    created = audit_rows("create", object_id=person.id)
    assert len(created) == 1 and created[0].user_id == caseworker.id
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "林小燕" in page.text and person.case_number in page.text


def assert_refused(client, orgs, fields, field_id, message):
    before = count(Person)
    response = post_form(client, "/people/new", form_data(orgs, **fields))
    assert response.status_code == 200
    assert message in html.unescape(response.text)
    assert f'id="{field_id}-error"' in response.text
    assert count(Person) == before
    assert audit_rows("create") == []
    return response


def test_bad_check_digit_keeps_input_and_saves_nothing(client, orgs, caseworker):
    wrong = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
    response = assert_refused(client, orgs, {"id_number": wrong, "name": "林小燕", "contact": "13900001111"},
                              "id_number", "The check digit (last character) is wrong")
    assert 'value="林小燕"' in response.text
    assert f'value="{wrong}"' in response.text
    assert "13900001111" in response.text


@pytest.mark.parametrize("field", ["date_of_birth", "rescue_date"])
def test_future_dates_refused(client, orgs, caseworker, field):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert_refused(client, orgs, {field: tomorrow}, field, "This date is in the future.")


def test_future_identification_date_refused(client, orgs, caseworker):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert_refused(client, orgs, {"identity_status": "identified", "identified_method": "dna",
                                  "identified_on": tomorrow}, "identified_on", "This date is in the future.")


def test_birth_date_or_estimated_age_required(client, orgs, caseworker):
    assert_refused(client, orgs, {"date_of_birth": "", "estimated_age": ""}, "date_of_birth",
                   "Give a date of birth or an estimated age.")


def test_estimated_age_is_enough(client, orgs, caseworker):
    response = post_form(client, "/people/new", form_data(orgs, date_of_birth="", estimated_age="12"))
    assert response.status_code == 302
    person = db.session.scalars(select(Person)).one()
    assert person.birth_year == dt.date.today().year - 12 and person.birth_date_estimated
    assert person.date_of_birth is None


def test_identified_needs_method_and_date(client, orgs, caseworker):
    response = assert_refused(client, orgs, {"identity_status": "identified"}, "identified_method",
                              "Say how the identity was established.")
    assert "Give the date the identity was established." in response.text


def test_identification_details_need_identified_status(client, orgs, caseworker):
    assert_refused(client, orgs, {"identified_method": "dna", "identified_on": "2026-03-05"},
                   "identity_status", "set the status to identified")


def test_birth_date_must_match_id_number(client, orgs, caseworker):
    assert_refused(client, orgs, {"id_number": ID_NUMBER, "date_of_birth": "2010-01-02"}, "date_of_birth",
                   "The date of birth differs from the one in the ID number.")


def test_rescue_before_birth_refused(client, orgs, caseworker):
    assert_refused(client, orgs, {"rescue_date": "2009-12-31"}, "rescue_date",
                   "The rescue date is before the date of birth.")


def test_bad_division_code_refused(client, orgs, caseworker):
    assert_refused(client, orgs, {"origin_code": "990102"}, "origin_code",
                   "The first two digits are not a province code.")


def test_cannot_register_into_an_organisation_out_of_scope(client, orgs, caseworker):
    before = count(Person)
    response = post_form(client, "/people/new", form_data(orgs, organisation_id=str(orgs["shelter_b"].id)))
    assert response.status_code == 200 and count(Person) == before


def test_script_in_name_is_escaped(client, orgs, caseworker):
    name = '<script>alert("x")</script>'
    response = post_form(client, "/people/new", form_data(orgs, name=name, notes="<b>bold</b>"))
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "<script>alert" not in page.text and "<b>bold" not in page.text
    assert "&lt;script&gt;" in page.text
    listing = client.get("/people/")
    assert "<script>alert" not in listing.text and "&lt;script&gt;" in listing.text


def test_missing_csrf_token_refused(client, orgs, caseworker):
    response = client.post("/people/new", data=form_data(orgs))
    assert response.status_code == 400 and count(Person) == 0


# -- edit, history, conflicts ---------------------------------------------------
def test_edit_keeps_history(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], name="旧名字")
    response = post_form(client, f"/people/{person.id}/edit", edit_data(person, name="新名字"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "新名字"
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.person_id == person.id)).all()
    assert len(revisions) == 1 and revisions[0].changed_by_id == caseworker.id
    assert "旧名字" not in (revisions[0].changes_enc or "")  # stored encrypted
    assert len(audit_rows("update", object_id=person.id)) == 1
    history = client.get(f"/people/{person.id}/history")
    assert history.status_code == 200 and "旧名字" in history.text and "新名字" in history.text


def test_edit_without_change_writes_no_revision(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], nationality="CHN", aliases="小丽", id_number=ID_NUMBER,
                         date_of_birth=dt.date(2010, 1, 1))
    response = post_form(client, f"/people/{person.id}/edit", edit_data(person, id_number=ID_NUMBER.lower()))
    assert response.status_code == 302
    assert count(PersonRevision) == 0 and audit_rows("update") == []


def test_stale_version_is_a_conflict(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], name="原名")
    stale = edit_data(person, name="我的修改")
    assert post_form(client, f"/people/{person.id}/edit", edit_data(person, name="别人的修改")).status_code == 302
    response = post_form(client, f"/people/{person.id}/edit", stale)
    assert response.status_code == 409
    assert 'value="我的修改"' in response.text
    assert "Someone else saved this entry" in response.text
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "别人的修改"
    assert count(PersonRevision) == 1
    # The conflict page carries the current version: saving again now succeeds.
    again = client.post(f"/people/{person.id}/edit",
                        data={**stale, "csrf_token": csrf_from(response.text),
                              "version": str(db.session.get(Person, person.id).version)})
    assert again.status_code == 302


def find(client, **params):
    page = client.get("/people/", query_string=params)
    assert page.status_code == 200
    return page.text


def test_aliases_added_and_removed(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], name="周梅")
    assert post_form(client, f"/people/{person.id}/edit",
                     edit_data(person, aliases="小梅\n阿梅")).status_code == 302
    assert listed(person, find(client, q="小梅")) and listed(person, find(client, q="阿梅"))
    db.session.expire_all()
    person = db.session.get(Person, person.id)
    assert post_form(client, f"/people/{person.id}/edit", edit_data(person, aliases="阿梅")).status_code == 302
    assert not listed(person, find(client, q="小梅"))
    assert listed(person, find(client, q="阿梅"))
    db.session.expire_all()
    assert db.session.get(Person, person.id).alias_names == ["阿梅"]


# -- search and filters ----------------------------------------------------------
THIS_YEAR = dt.date.today().year
LIN_BORN = dt.date(THIS_YEAR - 16, 1, 1)       # 16 all year round
LIN_ID = f"320102{LIN_BORN:%Y%m%d}002" + id_check_digit(f"320102{LIN_BORN:%Y%m%d}002")


@pytest.fixture
def caseload(orgs, make_person):
    a, b = orgs["shelter_a"], orgs["shelter_b"]
    return {
        "lin": make_person(a, name="林小燕", aliases="燕子", id_number=LIN_ID, date_of_birth=LIN_BORN,
                           rescue_date=dt.date(2026, 3, 2), police_case_number="A202512345"),
        "wang": make_person(a, name="王秀英", id_number=ID_WITH_X, date_of_birth=dt.date(1949, 12, 31),
                            sex="female", identity_status="identified", identified_method="documents",
                            identified_on=dt.date(2026, 5, 1), rescue_date=dt.date(2026, 5, 1)),
        "boy": make_person(b, name="李明", sex="male", date_of_birth=None, estimated_age=7,
                           rescue_date=dt.date(2025, 12, 20)),
        "zhao": make_person(b, name="赵丽", date_of_birth=dt.date(THIS_YEAR - 26, 1, 1), rescue_date=None),
    }


def listed(person, text):
    """The person's row is in a caseload page (a search's own text is echoed, so not the case number)."""
    return f'href="/people/{person.id}"' in text


def shown(text, caseload):
    return {key for key, person in caseload.items() if listed(person, text)}


@pytest.fixture
def manager(client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    client.get("/language/en")
    return user


@pytest.mark.parametrize("q, expected", [
    ("林小燕", {"lin"}), ("  林小燕 ", {"lin"}), ("燕子", {"lin"}), ("王秀英", {"wang"}),
    (LIN_ID, {"lin"}), (ID_WITH_X.lower(), {"wang"}), ("110105 19491231 002x", {"wang"}),
    ("A202512345", {"lin"}), ("林小", set()), ("林小燕燕", set()), ("张三", set()),
    (LIN_ID[:17] + ("1" if LIN_ID[17] == "0" else "0"), set()), ("440524188001010014", set()),
])
def test_search_through_blind_indexes(client, manager, caseload, q, expected):
    assert shown(find(client, q=q), caseload) == expected


def test_search_by_case_number(client, manager, caseload):
    for key, person in caseload.items():
        assert shown(find(client, q=person.case_number), caseload) == {key}
        assert shown(find(client, q=f" {person.case_number} "), caseload) == {key}


def test_search_is_audited_without_the_search_text(client, manager, caseload):
    find(client, q="林小燕")
    rows = audit_rows("search")
    assert len(rows) == 1 and rows[0].details_dict["query_kind"] == "name"
    assert rows[0].details_dict["results"] == 1 and "林小燕" not in rows[0].details


@pytest.mark.parametrize("params, expected", [
    ({}, {"lin", "wang", "boy", "zhao"}),
    ({"status": "open"}, {"lin", "wang", "boy", "zhao"}),
    ({"status": "closed"}, {"closed"}),
    ({"identity_status": "identified"}, {"wang"}),
    ({"identity_status": "unidentified"}, {"lin", "boy", "zhao"}),
    ({"sex": "male"}, {"boy"}),
    ({"sex": "female"}, {"lin", "wang", "zhao"}),
    ({"age_band": "6-13"}, {"boy"}),
    ({"age_band": "16-17"}, {"lin"}),
    ({"age_band": "14-15"}, set()),
    ({"age_band": "60+"}, {"wang"}),
    ({"age_band": "18-34"}, {"zhao"}),
    ({"age_band": "0-5"}, set()),
    ({"rescued_from": "2026-01-01"}, {"lin", "wang"}),
    ({"rescued_until": "2026-03-02"}, {"lin", "boy"}),
    ({"rescued_from": "2026-03-02", "rescued_until": "2026-04-30"}, {"lin"}),
    ({"sex": "female", "identity_status": "unidentified", "q": "赵丽"}, {"zhao"}),
])
def test_filters(client, manager, caseload, make_person, orgs, params, expected):
    if "status" in params:
        closed = make_person(orgs["shelter_a"], name="结案人")
        closed.status = "closed"
        db.session.commit()
        caseload = {**caseload, "closed": closed}
    assert shown(find(client, **params), caseload) == expected


def test_filter_by_organisation(client, manager, caseload, orgs):
    assert shown(find(client, organisation_id=orgs["shelter_a"].id), caseload) == {"lin", "wang"}
    assert shown(find(client, organisation_id=orgs["shelter_b"].id), caseload) == {"boy", "zhao"}


def test_pagination(client, app, orgs, manager, make_person):
    app.config["PAGE_SIZE"] = 3
    people = [make_person(orgs["shelter_a"], name=f"人{i}") for i in range(7)]
    pages = [find(client, page=n) for n in (1, 2, 3)]
    seen = [{p.case_number for p in people if listed(p, text)} for text in pages]
    assert [len(s) for s in seen] == [3, 3, 1]
    assert set.union(*seen) == {p.case_number for p in people}
    assert "7 people" in pages[0] and "Page 1 of 3" in pages[0]
    assert seen[0] == {p.case_number for p in people[-3:]}  # newest first


def test_age_band_filter_agrees_with_the_listed_band(client, manager, orgs, make_person):
    """Bands are by birth year (the plaintext the filter can use), in the list as in the filter."""
    today = dt.date.today()
    person = make_person(orgs["shelter_a"], date_of_birth=dt.date(today.year - 16, 12, 31))
    page = find(client, age_band="16-17")
    assert listed(person, page)
    assert not listed(person, find(client, age_band="14-15"))
