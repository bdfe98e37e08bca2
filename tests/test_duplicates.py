"""Possible duplicates before registering (issue 6, point 2): same ID number, or same name or alias with
the same date of birth, within the registering user's scope only; nothing saved until the user answers
the exact candidate set shown."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people import duplicates
from victimcare.people.models import Person
from victimcare.people.rules import id_check_digit

from .conftest import csrf_from
from .hostile_support import deltas, row_counts
from .test_i18n import ensure_compiled
from .test_people import form_data

ID_X = "11010519491231002X"  # check digit X
assert id_check_digit(ID_X[:17]) == "X"
ID_OTHER = "320102201001010029"
assert id_check_digit(ID_OTHER[:17]) == ID_OTHER[17]
TOKEN = re.compile(r'name="duplicates_confirmed" value="([^"]*)"')
PANEL = 'id="possible-duplicates"'


def post(client, data):
    token = csrf_from(client.get("/people/new").text)
    return client.post("/people/new", data={"csrf_token": token, **data})


def people_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Person))


def shown_cases(page: str) -> list[str]:
    """Case numbers listed in the duplicates panel, in order."""
    panel = page.split(PANEL, 1)[1].split("</section>", 1)[0]
    return re.findall(r"\d{6}-\d{4}-\d{5}", panel)


def duplicate_checks():
    db.session.rollback()
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "search").order_by(AuditEvent.seq))
    return [r for r in rows if r.details_dict.get("query_kind") == "duplicates"]


@pytest.fixture
def caseworker(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    return user


def warned(client, orgs, **fields):
    """Post a registration that must be held back by a warning; nothing may be written."""
    before = row_counts()
    response = post(client, form_data(orgs, **fields))
    assert response.status_code == 200, response.status_code
    assert PANEL in response.text, "no duplicate warning"
    assert deltas(before, row_counts()) == {}, "a warned registration wrote rows"
    return response


def registered(client, orgs, **fields):
    before = people_count()
    response = post(client, form_data(orgs, **fields))
    assert response.status_code == 302, response.text
    assert PANEL not in response.text
    assert people_count() == before + 1
    return response


# -- what matches ------------------------------------------------------------------------------------
def test_same_id_number_written_with_spaces_and_lowercase_x(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="王秀兰", id_number=ID_X, date_of_birth=dt.date(1949, 12, 31))
    response = warned(client, orgs, name="刘某", date_of_birth="1949-12-31", id_number="110105 19491231 002x")
    page = html.unescape(response.text)
    assert shown_cases(page) == [existing.case_number]
    assert "Same ID number" in page and "Same name and date of birth" not in page
    assert "王秀兰" not in page  # the other file's name is not shown, only its case number
    assert "甲救助站" in page and "Female" in page and "60+" in page


def test_same_name_and_date_of_birth(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="张丽", date_of_birth=dt.date(2010, 5, 1))
    page = html.unescape(warned(client, orgs, name=" 张丽 ", date_of_birth="2010-05-01").text)
    assert shown_cases(page) == [existing.case_number]
    assert "Same name and date of birth" in page and "Same ID number" not in page


@pytest.mark.parametrize("stored, typed", [
    ({"name": "王芳", "aliases": "小芳"}, {"name": "小芳"}),                 # typed name = stored alias
    ({"name": "王芳", "aliases": "小芳"}, {"name": "李某", "aliases": "小芳"}),  # typed alias = stored alias
    ({"name": "王芳"}, {"name": "", "aliases": "阿芳\n王芳"}),               # typed alias = stored name
])
def test_same_alias_and_date_of_birth(client, orgs, caseworker, make_person, stored, typed):
    existing = make_person(orgs["shelter_a"], date_of_birth=dt.date(2011, 2, 3), **stored)
    page = html.unescape(warned(client, orgs, date_of_birth="2011-02-03", **typed).text)
    assert shown_cases(page) == [existing.case_number]
    assert "Same alias and date of birth" in page


def test_a_removed_alias_no_longer_matches(client, orgs, caseworker, make_person):
    from victimcare.people import service
    existing = make_person(orgs["shelter_a"], name="王芳", aliases="小芳", date_of_birth=dt.date(2011, 2, 3))
    service.update_identity(existing, {"name": "王芳", "aliases": ""}, caseworker, existing.version)
    db.session.commit()
    registered(client, orgs, name="小芳", date_of_birth="2011-02-03")


def test_several_reasons_and_candidates_are_listed_strongest_first(client, orgs, caseworker, make_person):
    by_name = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    by_both = make_person(orgs["shelter_a"], name="林小燕", id_number=ID_OTHER, date_of_birth=dt.date(2010, 1, 1))
    page = html.unescape(warned(client, orgs, id_number=ID_OTHER).text)
    assert shown_cases(page) == [by_both.case_number, by_name.case_number]
    row = page.split(by_both.case_number, 1)[1].split("</tr>", 1)[0]
    assert "Same ID number" in row and "Same name and date of birth" in row


def test_same_name_with_another_date_of_birth_is_no_duplicate(client, orgs, caseworker, make_person):
    make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 2))
    make_person(orgs["shelter_a"], name="林小燕", estimated_age=15, date_of_birth=None)  # no date at all
    registered(client, orgs)


def test_a_closed_file_in_scope_is_still_a_candidate(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    existing.status = "closed"
    db.session.commit()
    page = html.unescape(warned(client, orgs).text)
    assert shown_cases(page) == [existing.case_number] and "Closed" in page


# -- scope -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("org", ["other_shelter", "shelter_b", "bureau"])
def test_a_file_outside_the_users_scope_is_never_shown(client, orgs, caseworker, make_person, org):
    """The other bureau's shelter, the sibling shelter and the bureau above: not even a count."""
    other = make_person(orgs[org], name="林小燕", id_number=ID_OTHER, date_of_birth=dt.date(2010, 1, 1),
                        aliases="小燕")
    response = registered(client, orgs, id_number=ID_OTHER, aliases="小燕")
    page = client.get(response.headers["Location"]).text
    assert other.case_number not in page
    assert duplicate_checks() == []  # nothing audited: nothing was found


def test_only_the_in_scope_file_is_shown_beside_an_out_of_scope_one(client, orgs, caseworker, make_person):
    mine = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    theirs = make_person(orgs["other_shelter"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    response = warned(client, orgs)
    assert shown_cases(response.text) == [mine.case_number]
    assert theirs.case_number not in response.text
    assert duplicate_checks()[-1].details_dict["candidates"] == [mine.id]


def test_a_partner_finds_only_people_referred_to_them_while_the_referral_is_live(app, orgs, make_user,
                                                                                make_person):
    """Scope through referrals (the same helper as the caseload): a closed referral ends it."""
    from victimcare.referrals import service as referrals
    caseworker = make_user("caseworker", orgs["shelter_a"])
    clinician = make_user("clinician", orgs["hospital"])
    person = make_person(orgs["shelter_a"], by=caseworker, name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    data = {"name": "林小燕", "date_of_birth": dt.date(2010, 1, 1)}
    assert duplicates.possible_duplicates(clinician, data) == []
    referral = referrals.refer(person, orgs["hospital"], "purpose", caseworker)
    referrals.accept(referral, clinician)
    db.session.commit()
    assert [c.person.id for c in duplicates.possible_duplicates(clinician, data)] == [person.id]
    referrals.close(referral, "done", caseworker)
    db.session.commit()
    assert duplicates.possible_duplicates(clinician, data) == []


# -- answering the warning -----------------------------------------------------------------------------
def test_confirming_registers_exactly_one_new_person(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    fields = {"aliases": "阿燕", "notes": "第二个林小燕"}
    page = warned(client, orgs, **fields).text
    for name, value in form_data(orgs, **fields).items():  # every field kept as typed
        if value and name not in ("organisation_id",):
            assert html.escape(value, quote=False) in page or f'value="{value}"' in page, name
    token = TOKEN.search(page).group(1)
    response = registered(client, orgs, duplicates_confirmed=token, **fields)
    new = db.session.get(Person, response.headers["Location"].rsplit("/", 1)[1])
    assert new.id != existing.id and new.notes == "第二个林小燕" and new.alias_names == ["阿燕"]
    checks = duplicate_checks()
    assert [c.details_dict["confirmed"] for c in checks] == [False, True]
    assert checks[1].object_id == new.id and checks[1].details_dict["candidates"] == [existing.id]


def test_a_tampered_or_empty_confirmation_warns_again(client, orgs, caseworker, make_person):
    make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    token = TOKEN.search(warned(client, orgs).text).group(1)
    for answer in (token[:-1] + ("0" if token[-1] != "0" else "1"), "", "1", token.upper() + "x", "中"):
        warned(client, orgs, duplicates_confirmed=answer)
    assert people_count() == 1


def test_a_confirmation_answers_only_the_candidates_it_was_given_for(client, orgs, caseworker, make_person):
    first = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    token = TOKEN.search(warned(client, orgs).text).group(1)
    # Another match appears before the user answers: a file registered meanwhile ...
    second = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    page = warned(client, orgs, duplicates_confirmed=token).text
    assert sorted(shown_cases(page)) == sorted([first.case_number, second.case_number])
    token = TOKEN.search(page).group(1)
    # ... or the data changed so that another reason (or file) matches: warned again each time.
    third = make_person(orgs["shelter_a"], name="陈静", id_number=ID_OTHER, date_of_birth=dt.date(2010, 1, 1))
    page = warned(client, orgs, duplicates_confirmed=token, id_number=ID_OTHER).text
    assert shown_cases(page)[0] == third.case_number
    # The same candidates but changed identifying data: the answer was about other data.
    warned(client, orgs, duplicates_confirmed=token, aliases="新别名")
    assert people_count() == 3


def test_another_users_confirmation_does_not_count(client, orgs, make_user, make_person):
    from .conftest import login
    make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    colleague = make_user("caseworker", orgs["shelter_a"])
    data = {"name": "林小燕", "date_of_birth": dt.date(2010, 1, 1)}
    token = duplicates.check(colleague, data, None).confirmation
    me = make_user("caseworker", orgs["shelter_a"])
    assert login(client, me).status_code == 302
    client.get("/language/en")
    warned(client, orgs, duplicates_confirmed=token)
    assert duplicates.check(colleague, data, token).confirmed and not duplicates.check(me, data, token).confirmed


def test_cancel_leaves_the_form_and_saves_nothing(client, orgs, caseworker, make_person):
    make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    page = warned(client, orgs).text
    panel = page.split(PANEL, 1)[1].split("</section>", 1)[0]
    assert re.search(r'<a href="/people/">Cancel</a>', panel)
    assert re.search(r'<section[^>]*id="possible-duplicates"[^>]*role="alert"', page)
    assert people_count() == 1


def test_many_candidates_are_capped(client, orgs, caseworker, make_person):
    made = [make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1)).case_number
            for _ in range(duplicates.LIMIT + 2)]
    page = warned(client, orgs).text
    assert shown_cases(page) == sorted(made)[:duplicates.LIMIT]
    assert f"Only the first {duplicates.LIMIT} possible duplicates are shown." in page


# -- audit and languages ---------------------------------------------------------------------------------
def test_the_check_is_audited_with_ids_and_never_the_values(client, orgs, caseworker, make_person):
    existing = make_person(orgs["shelter_a"], name="赵秀英", aliases="小英", id_number=ID_X,
                           date_of_birth=dt.date(1949, 12, 31))
    warned(client, orgs, name="赵秀英", aliases="小英", id_number=ID_X.lower(), date_of_birth="1949-12-31")
    (row,) = duplicate_checks()
    assert row.user_id == caseworker.id and row.object_type == "person" and row.section == "identity"
    assert row.details_dict == {"query_kind": "duplicates", "results": 1, "candidates": [existing.id],
                                "reasons": ["id_number+name_birth_date+alias_birth_date"], "confirmed": False}
    every_row = "".join(str([r.details, r.object_id, r.username]) for r in db.session.scalars(select(AuditEvent)))
    for secret in ("赵秀英", "小英", ID_X, ID_X.lower(), ID_X[:17], "1949-12-31", "19491231"):
        assert secret not in every_row and secret.encode("unicode_escape").decode() not in every_row


def test_the_warning_is_in_chinese_by_default(client, orgs, logged_in, make_person):
    ensure_compiled()
    logged_in("caseworker", orgs["shelter_a"])
    existing = make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    page = html.unescape(warned(client, orgs).text)
    assert shown_cases(page) == [existing.case_number]
    with force_locale("zh_CN"):
        expected = [gettext(s) for s in ("Case number", "Cancel", "Female", "Same name and date of birth",
                                         "This is a different person — register",
                                         "This person may already have a file")]
    assert expected[:3] == ["案件编号", "取消", "女"]  # the catalogue is in use
    for text in expected:
        assert text in page, text
    assert "Case number" not in page and ">Cancel<" not in page


def test_the_edit_form_shows_no_warning(client, orgs, caseworker, make_person):
    """Only registering is checked (issue 6 asks for that); editing a file is not held back."""
    make_person(orgs["shelter_a"], name="林小燕", date_of_birth=dt.date(2010, 1, 1))
    other = make_person(orgs["shelter_a"], name="陈静", date_of_birth=dt.date(2010, 1, 1))
    page = client.get(f"/people/{other.id}/edit")
    response = client.post(f"/people/{other.id}/edit", data={
        "csrf_token": csrf_from(page.text), "version": str(other.version), "name": "林小燕", "sex": "female",
        "date_of_birth": "2010-01-01", "nationality": "CHN", "identity_status": "unidentified",
        "identified_method": "", "tracing_result": "not_started"})
    assert response.status_code == 302
