"""Forms that help (issue 6 point 4): required fields marked from the fields themselves, help text for
the rules with their sources, native date inputs, money with two decimals, the unsaved-changes script,
and the quick search by case number from every page."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.employment.rules import MINIMUM_AGE
from victimcare.extensions import db
from victimcare.placements.rules import RESIDENCE_MONTHS
from victimcare.referrals import service as referrals

from .conftest import csrf_from, login, post_form

LEGEND = "Fields marked with * are required."


# -- reading pages ----------------------------------------------------------------------------------
def control(html: str, field_id: str) -> str:
    """The opening tag of the input, select or textarea with this id."""
    match = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    assert match, f"no control {field_id}"
    return match.group(0)


def label(html: str, field_id: str) -> str:
    match = re.search(rf'<label for="{re.escape(field_id)}">(.*?)</label>', html, re.S)
    assert match, f"no label for {field_id}"
    return match.group(1)


def help_text(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="help" id="{re.escape(field_id)}-help">(.*?)</p>', html, re.S)
    assert match, f"no help text for {field_id}"
    return match.group(1)


def is_marked_required(html: str, field_id: str) -> bool:
    tag, text = control(html, field_id), label(html, field_id)
    marked = 'class="req"' in text
    assert marked == (" required" in tag) == ('aria-required="true"' in tag), (field_id, tag, text)
    return marked


def english(client, user, *, switch=False):
    """Log in (after logging the previous user out, when ``switch``) and read the pages in English."""
    if switch:
        assert client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)}).status_code == 302
    assert login(client, user).status_code == 302
    client.get("/language/en")
    return user


def audit_rows(action: str, user) -> list[AuditEvent]:
    db.session.commit()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                      AuditEvent.user_id == user.id).order_by(AuditEvent.seq)).all()


# -- the world ----------------------------------------------------------------------------------------
@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="表单对象", date_of_birth=dt.date(2008, 3, 1))


def partner(make_org, make_user, orgs, person, caseworker, kind, role):
    """A partner officer whose organisation has the person actively referred to it."""
    org = orgs["hospital"] if kind == "hospital" else make_org(f"测试{kind}", kind, "320100", orgs["bureau"])
    user = make_user(role, org)
    referrals.accept(referrals.refer(person, org, "协助", caseworker), user)
    db.session.commit()
    return user


# -- required fields -------------------------------------------------------------------------------
def test_required_fields_are_marked_from_the_form_and_optional_ones_are_not(client, caseworker):
    english(client, caseworker)
    page = client.get("/people/new").text
    assert LEGEND in page
    for field_id in ("organisation_id", "sex", "identity_status"):  # choices marked by MarkRequired
        assert is_marked_required(page, field_id)
    for field_id in ("name", "aliases", "date_of_birth", "id_number", "rescue_date", "notes"):
        assert not is_marked_required(page, field_id)
    assert '<span class="visually-hidden">(required)</span>' in label(page, "sex")
    assert re.search(r'<form method="post" novalidate', page)  # the server's messages, not the browser's


def test_required_markers_on_partner_forms(client, orgs, make_org, make_user, person, caseworker):
    officer = english(client, partner(make_org, make_user, orgs, person, caseworker, "employment_office",
                                      "employment"))
    page = client.get(f"/people/{person.id}/employment/new").text
    assert LEGEND in page
    for field_id in ("kind", "start_date", "place", "outcome"):
        assert is_marked_required(page, field_id)
    for field_id in ("provider", "end_date", "notes"):
        assert not is_marked_required(page, field_id)
    checkbox = control(page, "wish_confirmed")  # required by the form's own rule: marked too
    assert 'type="checkbox"' in checkbox and 'aria-required="true"' in checkbox
    assert officer


def test_medical_visit_form_marks_dates_types_and_amounts(client, orgs, make_org, make_user, person, caseworker):
    english(client, partner(make_org, make_user, orgs, person, caseworker, "hospital", "clinician"))
    page = client.get(f"/people/{person.id}/medical").text
    for field_id in ("visit_date", "visit_type", "total_cost", "insurance_paid"):
        assert is_marked_required(page, field_id)
    for field_id in ("diagnosis", "notes"):
        assert not is_marked_required(page, field_id)


def test_a_form_without_required_fields_has_no_legend(client, caseworker):
    english(client, caseworker)
    page = client.get("/statistics/")
    assert page.status_code == 200 and LEGEND not in page.text


def test_login_page_marks_both_fields(client):
    client.get("/language/en")
    page = client.get("/login").text
    assert LEGEND in page and is_marked_required(page, "username") and is_marked_required(page, "password")


# -- help text for the rules -------------------------------------------------------------------------
def test_the_sixteen_plus_rule_is_explained_on_the_employment_form(client, orgs, make_org, make_user, person,
                                                                   caseworker):
    partner(make_org, make_user, orgs, person, caseworker, "employment_office", "employment")
    officer = db.session.scalars(select(type(caseworker)).where(type(caseworker).role == "employment")).one()
    assert login(client, officer).status_code == 302
    chinese = client.get(f"/people/{person.id}/employment/new").text
    assert 'lang="zh-CN"' in chinese
    chinese_help = help_text(chinese, "start_date")
    assert str(MINIMUM_AGE) in chinese_help and "四(四)2(2)" in chinese_help
    client.get("/language/en")
    page = client.get(f"/people/{person.id}/employment/new").text
    text = help_text(page, "start_date")
    assert f"for people {MINIMUM_AGE} or older on this date" in text and "Labour Law" in text
    assert "start_date-help" in control(page, "start_date")  # read out with the field
    assert "Jiangsu 2021–2030 二(三)2(2)" in help_text(page, "wish_confirmed")


def test_the_three_month_rule_is_explained_on_the_placement_and_identity_forms(client, caseworker, person):
    assert login(client, caseworker).status_code == 302
    chinese = client.get(f"/people/{person.id}/placements").text
    assert "二(三)1(5)" in help_text(chinese, "admitted_on") and str(RESIDENCE_MONTHS) in help_text(chinese,
                                                                                                 "admitted_on")
    client.get("/language/en")
    page = client.get(f"/people/{person.id}/placements").text
    text = help_text(page, "admitted_on")
    assert f"more than {RESIDENCE_MONTHS} months with her identity still unknown" in text
    assert "residence registration application" in text and "Jiangsu 2021–2030 二(三)1(5)" in text
    assert "household that bought her" in help_text(page, "household_relation")
    identity = client.get(f"/people/{person.id}/edit").text
    assert f"more than {RESIDENCE_MONTHS} months" in help_text(identity, "identity_status")
    assert f"training and jobs from {MINIMUM_AGE}" in help_text(identity, "date_of_birth")


def test_school_self_pay_and_follow_up_rules_have_their_help(client, orgs, make_org, make_user, person, caseworker):
    english(client, partner(make_org, make_user, orgs, person, caseworker, "school_office", "education"))
    assert "Compulsory Education Law" in help_text(client.get(f"/people/{person.id}/schooling/new").text,
                                                   "enrolment_date")
    english(client, partner(make_org, make_user, orgs, person, caseworker, "hospital", "clinician"), switch=True)
    assert "Jiangsu 2021–2030 二(三)1(6)" in help_text(client.get(f"/people/{person.id}/medical").text,
                                                      "insurance_paid")
    english(client, caseworker, switch=True)
    page = client.get(f"/people/{person.id}/followups/return").text
    assert "1, 3, 6, and 12 months after this date" in help_text(page, "return_date")  # FOLLOWUP_SCHEDULE_MONTHS


def test_the_rule_messages_take_their_ages_from_the_rules(client, orgs, make_org, make_user, person, caseworker):
    """Born 2008-03-01: 15 the day before 2024-03-01, and 18 from 2026-03-01."""
    english(client, partner(make_org, make_user, orgs, person, caseworker, "employment_office", "employment"))
    refused = post_form(client, f"/people/{person.id}/employment/new", {
        "kind": "vocational_training", "wish_confirmed": "y", "place": "local", "start_date": "2024-02-29",
        "outcome": "ongoing"})
    assert re.search(rf'id="start_date-error"[^>]*>On the start date the person is under {MINIMUM_AGE}: '
                     rf'training and job services are for people {MINIMUM_AGE} or older\.</p>', refused.text)
    english(client, partner(make_org, make_user, orgs, person, caseworker, "school_office", "education"), switch=True)
    refused = post_form(client, f"/people/{person.id}/schooling/new", {
        "school_name": "实验中学", "grade": "s3", "enrolment_date": "2026-09-01", "transfer_state": "not_needed",
        "record_state": "not_needed"})
    assert re.search(r'id="enrolment_date-error"[^>]*>On this date the person is 18 or older: the school ledger '
                     r'is for children of school age \(6 to 17\)\.</p>', refused.text)


# -- dates ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/people/new", "/people/{id}/placements", "/people/{id}/followups/return"])
def test_every_date_field_is_a_native_date_input_with_its_format(client, caseworker, person, path):
    english(client, caseworker)
    page = client.get(path.format(id=person.id)).text
    hints = re.findall(r'<p class="help" id="([\w-]+)-format">YYYY-MM-DD.</p>', page)
    assert hints
    for field_id in hints:
        tag = control(page, field_id)
        assert 'type="date"' in tag and f"{field_id}-format" in tag
    assert len(re.findall(r'type="date"', page)) == len(hints)


def test_a_date_typed_as_text_is_accepted(client, orgs, caseworker):
    english(client, caseworker)
    response = post_form(client, "/people/new", {
        "organisation_id": str(orgs["shelter_a"].id), "name": "手填日期", "sex": "female",
        "date_of_birth": "2011-2-3", "nationality": "CHN", "identity_status": "unidentified",
        "identified_method": "", "tracing_result": "not_started"})
    assert response.status_code == 302, re.findall(r'id="([\w-]+)-error"[^>]*>([^<]*)', response.text)
    page = client.get(response.headers["Location"]).text
    assert "2011-02-03" in page


# -- money --------------------------------------------------------------------------------------------
def visit(client, person, **amounts):
    data = {"visit_date": (dt.date.today() - dt.timedelta(days=2)).isoformat(), "visit_type": "basic_medical",
            "total_cost": "1280.5", "insurance_paid": "900.25", **amounts}
    return post_form(client, f"/people/{person.id}/medical/visits", data, page_url=f"/people/{person.id}/medical")


def test_amounts_take_two_decimals_and_show_two(client, orgs, make_org, make_user, person, caseworker):
    clinician = english(client, partner(make_org, make_user, orgs, person, caseworker, "hospital", "clinician"))
    page = client.get(f"/people/{person.id}/medical").text
    for field_id in ("total_cost", "insurance_paid"):
        tag = control(page, field_id)
        assert 'inputmode="decimal"' in tag and 'type="text"' in tag
    refused = visit(client, person, total_cost="1280.505")
    assert refused.status_code != 302
    assert re.search(r'id="total_cost-error"[^>]*>At most two decimals \(fen\)\.</p>', refused.text)
    assert 'value="1280.505"' in refused.text  # kept as typed, to be corrected
    assert visit(client, person).status_code == 302
    shown = client.get(f"/people/{person.id}/medical").text
    assert "1280.50" in shown and "900.25" in shown and "380.25" in shown and "1280.5<" not in shown
    assert clinician


def test_the_ledger_export_shows_two_decimals(client, orgs, make_org, make_user, person, caseworker):
    english(client, partner(make_org, make_user, orgs, person, caseworker, "hospital", "clinician"))
    assert visit(client, person, total_cost="20", insurance_paid="7.5").status_code == 302
    english(client, make_user("manager", orgs["bureau"]), switch=True)
    today = dt.date.today()
    response = client.get(f"/ledgers/medical.xlsx?date_from={(today - dt.timedelta(days=30)).isoformat()}"
                          f"&date_to={today.isoformat()}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[2].value == person.case_number)
    assert [c.value for c in row[4:7]] == [20, 7.5, 12.5]
    assert {c.number_format for c in row[4:7]} == {"0.00"}
    page = client.get(f"/ledgers/medical?date_from={(today - dt.timedelta(days=30)).isoformat()}"
                      f"&date_to={today.isoformat()}").text
    assert "20.00" in page and "7.50" in page and "12.50" in page


# -- the unsaved-changes script ------------------------------------------------------------------------
def test_forms_script_is_served_and_included_without_inline_script(client, caseworker):
    with client.get("/static/js/forms.js") as script:
        assert script.status_code == 200 and "javascript" in script.mimetype
        assert "beforeunload" in script.text and "data-submitted" in script.text
    english(client, caseworker)
    page = client.get("/people/new")
    assert re.search(r'<script src="/static/js/forms\.js" defer></script>', page.text)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script (CSP script-src 'self')
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


# -- quick search by case number ----------------------------------------------------------------------
def _without(text: str, *numbers: str) -> str:
    for number in numbers:
        text = text.replace(number, "<number>")
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", text)


def test_a_case_number_in_scope_opens_the_file(client, caseworker, person):
    english(client, caseworker)
    response = client.get(f"/people/find?q= {person.case_number.lower()} ")
    assert response.status_code == 302 and response.headers["Location"] == f"/people/{person.id}"
    [search] = [e for e in audit_rows("search", caseworker) if e.object_id == person.id]
    assert search.details_dict == {"query_kind": "case_number", "results": 1}
    assert client.get("/people/find?q=张").headers["Location"] == "/people/?q=%E5%BC%A0"  # names: the caseload


def test_an_out_of_scope_case_number_looks_like_a_missing_one(client, orgs, make_person, caseworker):
    english(client, caseworker)
    stranger = make_person(orgs["other_shelter"], name="他人")
    missing = stranger.case_number.rsplit("-", 1)[0] + "-99999"
    answers = []
    for number in (stranger.case_number, missing):
        first = client.get(f"/people/find?q={number}")
        assert first.status_code == 302
        results = client.get(first.headers["Location"])
        answers.append((first.headers["Location"].replace(number, "<number>"), results.status_code,
                        _without(results.text, number)))
    assert answers[0] == answers[1]
    assert stranger.case_number not in answers[0][2] and "他人" not in answers[0][2]
    # One denial each (the same work, so no timing difference either); only the audit names the file.
    denied = audit_rows("denied", caseworker)
    assert [e.object_id for e in denied] == [stranger.id, None]
    assert all(e.details_dict["status"] == 404 for e in denied)


def test_a_partner_opens_a_referred_file_and_nothing_else(client, orgs, make_org, make_user, make_person, person,
                                                          caseworker):
    clinician = english(client, partner(make_org, make_user, orgs, person, caseworker, "hospital", "clinician"))
    home = client.get("/").text
    assert re.search(r'<form class="quick-search" method="get" action="/people/find"', home)
    assert 'placeholder="Case number"' in home
    response = client.get(f"/people/find?q={person.case_number}")
    assert response.status_code == 302 and response.headers["Location"] == f"/people/{person.id}"
    unreferred = make_person(orgs["shelter_a"], by=caseworker, name="未转介")
    missing = unreferred.case_number.rsplit("-", 1)[0] + "-99999"
    pages = [client.get(f"/people/find?q={n}") for n in (unreferred.case_number, missing)]
    assert [p.status_code for p in pages] == [404, 404]
    assert _without(pages[0].text, unreferred.case_number) == _without(pages[1].text, missing)
    assert "未转介" not in pages[0].text
    assert [e.object_id for e in audit_rows("denied", clinician)] == [unreferred.id, None]
    assert len([e for e in audit_rows("search", clinician) if e.details_dict["results"] == 0]) == 2


@pytest.mark.parametrize("role, org", [("auditor", "supervision"), ("admin", "bureau")])
def test_roles_that_open_no_files_have_no_quick_search(client, orgs, make_user, role, org):
    english(client, make_user(role, orgs[org]))
    assert 'class="quick-search"' not in client.get("/").text
    assert client.get("/people/find?q=320102-2026-00001").status_code == 403
