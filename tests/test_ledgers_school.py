"""The school enrolment ledger (入学安置台账) printed and exported: the same rows and access as the page
/schooling/ledger, case numbers without names, formulas defused, every print/export audited."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.referrals import service as referrals
from victimcare.reports import ledgers
from victimcare.schooling import service as schooling

from .conftest import login

TODAY = dt.date.today()
FORMULA_SCHOOL = "=cmd|' /C calc'!A0"


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def enrol(person, teacher, school, grade="p4", **extra):
    data = {"school_name": school, "grade": grade, "enrolment_date": TODAY - dt.timedelta(days=10),
            "transfer_state": "done", "transfer_date": TODAY - dt.timedelta(days=12), "record_state": "pending",
            "record_date": None, "mentoring": "结对", "counselling_notes": "辅导", **extra}
    entry = schooling.create(person, data, teacher)
    db.session.commit()
    return entry


@pytest.fixture
def world(orgs, make_org, make_user, make_person):
    """Two education offices under the bureau, a child enrolled by each; a child of another bureau."""
    caseworker = make_user("caseworker", orgs["shelter_a"])
    office_a = make_org("甲区教育局", "school_office", "320102", orgs["bureau"])
    office_b = make_org("乙区教育局", "school_office", "320104", orgs["bureau"])
    teachers = {o.id: make_user("education", o) for o in (office_a, office_b)}
    children = []
    for name, org, office, school in (("甲童", orgs["shelter_a"], office_a, "城南小学"),
                                      ("乙童", orgs["shelter_b"], office_b, FORMULA_SCHOOL),
                                      ("丙童", orgs["other_shelter"], office_a, "外市小学")):
        child = make_person(org, name=name, date_of_birth=years_before(TODAY, 10))
        referral = referrals.refer(child, office, "入学", caseworker)
        referrals.accept(referral, teachers[office.id])
        db.session.commit()
        enrol(child, teachers[office.id], school)
        children.append(child)
    return {"a": office_a, "b": office_b, "teachers": teachers, "children": children, "caseworker": caseworker}


def as_user(client, user):
    assert login(client, user).status_code == 302
    client.get("/language/en")
    return user


def events(action, user):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                       AuditEvent.user_id == user.id)).all()


def _rows(response):
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    book = load_workbook(io.BytesIO(response.data))
    return [[c.value for c in row] for row in book.worksheets[0].iter_rows()], book.worksheets[0]


def test_page_offers_print_and_export(client, world, orgs, make_user):
    as_user(client, make_user("manager", orgs["bureau"]))
    page = client.get("/schooling/ledger")
    assert 'href="/ledgers/school.pdf"' in page.text and 'href="/ledgers/school.xlsx"' in page.text


def test_manager_xlsx_has_the_pages_rows_without_names_and_defuses_formulas(client, world, orgs, make_user):
    manager = as_user(client, make_user("manager", orgs["bureau"]))
    page = client.get("/schooling/ledger")
    rows, sheet = _rows(client.get("/ledgers/school.xlsx"))
    assert rows[0][:3] == ["Education office", "Case number", "Sex"]
    p1, p2, outsider = world["children"]
    cases = [r[1] for r in rows[1:]]
    assert sorted(cases) == sorted([p1.case_number, p2.case_number])
    assert all(case in page.text for case in cases) and outsider.case_number not in page.text
    by_case = {r[1]: r for r in rows[1:]}
    assert by_case[p1.case_number][4] == "城南小学" and by_case[p1.case_number][5] == "Primary 4"
    assert by_case[p1.case_number][6] == (TODAY - dt.timedelta(days=10)).isoformat()
    assert by_case[p1.case_number][3] == "6-13"  # the age band the page shows, not the birth date
    formula_row = cases.index(p2.case_number) + 2
    cell = sheet.cell(row=formula_row, column=5)
    assert cell.value == "'" + FORMULA_SCHOOL and cell.data_type == "s"
    flat = repr(rows)
    assert "甲童" not in flat and "乙童" not in flat
    [export] = events("export", manager)
    assert (export.object_type, export.object_id, export.section) == ("ledger", "school", "schooling")
    assert json.loads(export.details) == {"ledger": "school", "date_from": None, "date_to": None,
                                          "hospital_id": None, "rows": 2, "format": "xlsx"}
    assert "城南小学" not in export.details


def test_education_office_exports_only_its_actively_referred_children(client, world):
    teacher = as_user(client, world["teachers"][world["a"].id])
    p1, p2, outsider = world["children"]
    rows, _sheet = _rows(client.get("/ledgers/school.xlsx"))
    assert sorted(r[1] for r in rows[1:]) == sorted([p1.case_number, outsider.case_number])
    referral = db.session.scalar(select(referrals.Referral).where(referrals.Referral.person_id == p1.id))
    referrals.close(referral, "已入学", world["caseworker"])
    db.session.commit()
    rows, _sheet = _rows(client.get("/ledgers/school.xlsx"))
    assert [r[1] for r in rows[1:]] == [outsider.case_number]  # as the page: a closed referral drops it
    assert p1.case_number not in client.get("/schooling/ledger").text
    assert len(events("export", teacher)) == 2


def test_pdf_shows_the_rows_and_the_footer(client, world, orgs, make_user):
    manager = as_user(client, make_user("manager", orgs["bureau"]))
    response = client.get("/ledgers/school.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    p1, p2, outsider = world["children"]
    assert p1.case_number in text and p2.case_number in text and outsider.case_number not in text
    assert "城南小学" in text and "甲童" not in text
    assert "Printed by Manager on" in re.sub(r"\s+", " ", text)
    assert re.search(r"第\s*1\s*页\s*/\s*共\s*1\s*页", text)
    [printed] = events("print", manager)
    assert json.loads(printed.details)["rows"] == 2 and json.loads(printed.details)["ledger"] == "school"


def test_all_pages_of_the_ledger_are_exported(client, world, orgs, make_user, make_person, app):
    app.config["PAGE_SIZE"] = 2
    teacher = world["teachers"][world["a"].id]
    for i in range(3):
        child = make_person(orgs["shelter_a"], name=f"童{i}", date_of_birth=years_before(TODAY, 9))
        referral = referrals.refer(child, world["a"], "入学", world["caseworker"])
        referrals.accept(referral, teacher)
        db.session.commit()
        enrol(child, teacher, f"学校{i}")
    as_user(client, make_user("manager", orgs["bureau"]))
    rows, _sheet = _rows(client.get("/ledgers/school.xlsx"))
    assert len(rows) - 1 == 5 == len(ledgers.school_rows(make_user("manager", orgs["bureau"])))


@pytest.mark.parametrize("role, org", [("clinician", "hospital"), ("auditor", "supervision"), ("police", "police"),
                                       ("admin", "bureau")])
@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_roles_without_the_page_are_refused_and_audited(client, world, orgs, make_user, role, org, fmt):
    user = as_user(client, make_user(role, orgs[org]))
    assert client.get("/schooling/ledger").status_code == 403
    assert client.get(f"/ledgers/school.{fmt}").status_code == 403
    denied = events("denied", user)
    assert len(denied) == 2 and all(d.section == "schooling" for d in denied)
    assert events("export", user) == [] and events("print", user) == []


def test_manager_of_another_bureau_gets_only_their_own_children(client, world, orgs, make_user):
    as_user(client, make_user("manager", orgs["other_bureau"]))
    rows, _sheet = _rows(client.get("/ledgers/school.xlsx"))
    assert [r[1] for r in rows[1:]] == [world["children"][2].case_number]
