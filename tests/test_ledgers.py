"""The medical self-pay ledger (DOMAIN.md 4: 个人自付部分由同级财政承担): exact Decimal totals per hospital and
overall, inclusive period boundaries, scope (managers: their people at any hospital; clinicians: their own
hospital's visits), the XLSX and PDF showing the same numbers, every print/export audited, refusals audited."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.medical import service as medical
from victimcare.reports import ledgers

from .conftest import login

MARCH = "date_from=2024-03-01&date_to=2024-03-31"
FORMULA_HOSPITAL = '=HYPERLINK("http://evil","x")'


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
def world(orgs, make_org, make_user, make_person):
    """Visits at three hospitals, some in March 2024 (on both edges), some just outside it, one of a
    person of another bureau. Amounts chosen so that float sums would drift (0.10 + 0.20 ...)."""
    hospital_a, hospital_b = orgs["hospital"], make_org("乙医院", "hospital", "320104", orgs["bureau"])
    far_hospital = make_org("外市医院", "hospital", "330102", orgs["other_bureau"])
    clinicians = {h.id: make_user("clinician", h) for h in (hospital_a, hospital_b, far_hospital)}
    p1 = make_person(orgs["shelter_a"], name="甲某某")
    p2 = make_person(orgs["shelter_b"], name="乙某某")
    outsider = make_person(orgs["other_shelter"], name="丙某某")
    visits = []

    def visit(person, hospital, day, total, insurance, kind="basic_medical"):
        data = {"visit_date": dt.date.fromisoformat(day), "visit_type": kind, "diagnosis": "诊断", "notes": "",
                "total_cost": D(total), "insurance_paid": D(insurance)}
        v = medical.add_visit(person, data, clinicians[hospital.id])
        visits.append(v)
        return v

    visit(p1, hospital_a, "2024-03-01", "0.10", "0.00")                          # first day of the period
    visit(p1, hospital_a, "2024-03-31", "0.20", "0.00", "psychiatric_treatment")  # last day
    visit(p2, hospital_a, "2024-03-15", "1280.55", "900.25", "psychological_counselling")
    visit(p1, hospital_a, "2024-02-29", "50.00", "10.00")                        # the day before
    visit(p2, hospital_a, "2024-04-01", "70.00", "20.00")                        # the day after
    visit(p2, hospital_b, "2024-03-10", "999999.99", "333333.33")
    visit(outsider, hospital_a, "2024-03-20", "444.44", "44.44")                 # not the manager's person
    visit(p1, far_hospital, "2024-03-05", "12.34", "0.01")                        # the manager's person elsewhere
    db.session.commit()
    return {"a": hospital_a, "b": hospital_b, "far": far_hospital, "clinicians": clinicians, "visits": visits,
            "p1": p1, "p2": p2, "outsider": outsider}


def expected(visits, start="2024-03-01", end="2024-03-31", hospital=None, people=None):
    """Independently: the Decimal sums of the visits created above that the ledger should hold."""
    start, end = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    chosen = [v for v in visits if start <= v.visit_date <= end
              and (hospital is None or v.organisation_id == hospital.id)
              and (people is None or v.person_id in {p.id for p in people})]
    return chosen, {k: sum((getattr(v, k) for v in chosen), Decimal("0.00"))
                    for k in ("total_cost", "insurance_paid", "self_pay")}


def money(value: Decimal) -> str:
    return "{:,.2f}".format(value)


def as_user(client, user):
    assert login(client, user).status_code == 302
    client.get("/language/en")
    return user


@pytest.fixture
def manager(client, orgs, make_user):
    return as_user(client, make_user("manager", orgs["bureau"]))


def events(action, user=None):
    query = select(AuditEvent).where(AuditEvent.action == action)
    if user is not None:
        query = query.where(AuditEvent.user_id == user.id)
    return db.session.scalars(query.order_by(AuditEvent.seq)).all()


# -- the ledger itself -------------------------------------------------------------------------------
def test_manager_totals_are_the_exact_sums_of_their_peoples_visits(app, world, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    period = ledgers.Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
    ledger = ledgers.medical_ledger(user, period)
    chosen, totals = expected(world["visits"], people=[world["p1"], world["p2"]])
    assert ledger.count == len(chosen) == 5
    assert ledger.totals == totals
    assert ledger.totals["total_cost"] == D("1001293.18")  # 0.10 + 0.20 + 1280.55 + 999999.99 + 12.34
    assert all(isinstance(v, Decimal) and v == v.quantize(D("0.01")) for v in ledger.totals.values())
    by_hospital = {g.hospital_id: g for g in ledger.groups}
    assert set(by_hospital) == {world["a"].id, world["b"].id, world["far"].id}
    for key, group in by_hospital.items():
        hospital = next(h for h in (world["a"], world["b"], world["far"]) if h.id == key)
        assert group.totals == expected(world["visits"], hospital=hospital, people=[world["p1"], world["p2"]])[1]
    assert by_hospital[world["a"].id].totals["total_cost"] == D("1280.85")  # not 1280.8500000000001
    cases = {r.case_number for g in ledger.groups for r in g.rows}
    assert world["outsider"].case_number not in cases


@pytest.mark.parametrize("start, end, dates", [
    ("2024-03-01", "2024-03-01", ["2024-03-01"]),
    ("2024-03-31", "2024-03-31", ["2024-03-31"]),
    ("2024-03-02", "2024-03-30", ["2024-03-15"]),
    ("2024-02-29", "2024-04-01", ["2024-02-29", "2024-03-01", "2024-03-15", "2024-03-31", "2024-04-01"]),
])
def test_both_days_of_the_period_are_included(app, world, orgs, make_user, start, end, dates):
    user = make_user("manager", orgs["bureau"])
    ledger = ledgers.medical_ledger(user, ledgers.Period(dt.date.fromisoformat(start), dt.date.fromisoformat(end)),
                                    world["a"])
    assert [r.visit_date.isoformat() for g in ledger.groups for r in g.rows] == dates
    assert ledger.totals == expected(world["visits"], start, end, world["a"], [world["p1"], world["p2"]])[1]


def test_page_for_a_manager_with_subtotals_and_no_names(client, world, manager):
    page = client.get(f"/ledgers/medical?{MARCH}")
    assert page.status_code == 200
    _chosen, totals = expected(world["visits"], people=[world["p1"], world["p2"]])
    grand = re.search(r'id="grand-total".*?</tr>', page.text, re.S).group(0)
    for key in ("total_cost", "insurance_paid", "self_pay"):
        assert money(totals[key]) in grand
    sub_b = re.search(rf'id="subtotal-{world["b"].id}".*?</tr>', page.text, re.S).group(0)
    assert "999,999.99" in sub_b and "333,333.33" in sub_b and "666,666.66" in sub_b
    assert world["p1"].case_number in page.text and world["p2"].case_number in page.text
    assert world["outsider"].case_number not in page.text and "444.44" not in page.text
    assert "50.00" not in page.text and "70.00" not in page.text      # outside the period
    assert "甲某某" not in page.text and "乙某某" not in page.text       # no names
    [view] = events("view", manager)
    assert view.object_id == "medical" and view.section == "medical"
    assert json.loads(view.details) == {"ledger": "medical", "date_from": "2024-03-01", "date_to": "2024-03-31",
                                        "hospital_id": None, "rows": 5}


def test_one_hospital_only(client, world, manager):
    page = client.get(f"/ledgers/medical?{MARCH}&hospital={world['b'].id}")
    assert page.status_code == 200
    assert "999,999.99" in page.text and "1,280.55" not in page.text and "12.34" not in page.text
    assert world["p2"].case_number in page.text and world["p1"].case_number not in page.text


def test_default_period_is_this_month(client, world, manager, orgs):
    today = dt.date.today()
    data = {"visit_date": today, "visit_type": "basic_medical", "diagnosis": "", "notes": "",
            "total_cost": D("7.77"), "insurance_paid": D("0.00")}
    medical.add_visit(world["p1"], data, world["clinicians"][world["a"].id])
    db.session.commit()
    page = client.get("/ledgers/medical")
    assert page.status_code == 200 and "7.77" in page.text and "1,280.55" not in page.text
    assert f'value="{today.replace(day=1).isoformat()}"' in page.text


@pytest.mark.parametrize("query", ["date_from=2024-03-31&date_to=2024-03-01", "date_from=2024-02-30",
                                   "date_from=2000-01-01&date_to=2024-12-31"])
def test_a_bad_period_is_an_error_not_a_ledger(client, world, manager, query):
    page = client.get(f"/ledgers/medical?{query}")
    assert page.status_code == 400 and 'class="error"' in page.text
    assert client.get(f"/ledgers/medical.xlsx?{query}").status_code == 400
    assert client.get(f"/ledgers/medical.pdf?{query}").status_code == 400
    assert events("export") == [] and events("print") == []


# -- clinicians: their own hospital's visits --------------------------------------------------------
def test_clinician_sees_every_visit_their_hospital_recorded_and_nothing_else(client, world):
    clinician = as_user(client, world["clinicians"][world["a"].id])
    page = client.get(f"/ledgers/medical?{MARCH}")
    assert page.status_code == 200
    _chosen, totals = expected(world["visits"], hospital=world["a"])
    grand = re.search(r'id="grand-total".*?</tr>', page.text, re.S).group(0)
    assert money(totals["self_pay"]) in grand and money(totals["total_cost"]) in grand
    # the person of another bureau treated here is on this hospital's ledger; other hospitals' visits are not
    assert world["outsider"].case_number in page.text and "444.44" in page.text
    assert "999,999.99" not in page.text and "12.34" not in page.text
    assert client.get(f"/ledgers/medical?{MARCH}&hospital={world['a'].id}").status_code == 200
    assert clinician.id


@pytest.mark.parametrize("fmt", ["", ".xlsx", ".pdf"])
def test_clinician_asking_for_another_hospital_is_refused_and_audited(client, world, fmt):
    clinician = as_user(client, world["clinicians"][world["b"].id])
    response = client.get(f"/ledgers/medical{fmt}?{MARCH}&hospital={world['a'].id}")
    assert response.status_code == 403
    [denied] = events("denied", clinician)
    assert denied.object_id == "medical" and json.loads(denied.details)["status"] == 403
    assert events("export", clinician) == [] and events("print", clinician) == []


def test_manager_of_another_bureau_sees_none_of_these_visits(client, world, orgs, make_user):
    user = as_user(client, make_user("manager", orgs["other_bureau"]))
    page = client.get(f"/ledgers/medical?{MARCH}")
    assert page.status_code == 200
    assert world["outsider"].case_number in page.text and "444.44" in page.text   # their own person
    assert world["p1"].case_number not in page.text and "1,280.55" not in page.text
    assert client.get(f"/ledgers/medical?{MARCH}&hospital={world['b'].id}").status_code == 403
    assert len(events("denied", user)) == 1


@pytest.mark.parametrize("role, org", [("caseworker", "shelter_a"), ("auditor", "supervision"),
                                       ("police", "police"), ("admin", "bureau")])
@pytest.mark.parametrize("fmt", ["", ".xlsx", ".pdf"])
def test_other_roles_are_refused_and_audited(client, world, orgs, make_user, role, org, fmt):
    user = as_user(client, make_user(role, orgs[org]))
    assert client.get(f"/ledgers/medical{fmt}?{MARCH}").status_code == 403
    [denied] = events("denied", user)
    assert (denied.section, denied.details_dict["rule"]) == ("medical", "medical_ledger")
    assert events("export", user) == [] and events("print", user) == []


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(f"/ledgers/medical.xlsx?{MARCH}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- XLSX -------------------------------------------------------------------------------------------
def _sheet(response, title):
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Cache-Control"] == "no-store"
    return load_workbook(io.BytesIO(response.data))[title]


def test_xlsx_has_the_same_numbers_as_numbers(client, world, manager):
    response = client.get(f"/ledgers/medical.xlsx?{MARCH}")
    assert 'filename="medical-ledger-2024-03-01-2024-03-31.xlsx"' in response.headers["Content-Disposition"]
    sheet = _sheet(response, "Ledger")
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Hospital", "Visit date", "Case number", "Type of care", "Total cost",
                       "Paid by basic medical insurance", "Self-pay borne by finance"]
    chosen, totals = expected(world["visits"], people=[world["p1"], world["p2"]])
    visit_rows = [r for r in rows[1:] if r[1]]
    assert len(visit_rows) == len(chosen)
    assert sum((Decimal(str(r[6])) for r in visit_rows), Decimal("0.00")) == totals["self_pay"]
    grand = rows[-1]
    assert grand[0] == "Grand total" and grand[3] == "Grand total (5 visits)"
    assert [Decimal(str(v)).quantize(D("0.01")) for v in grand[4:]] == \
        [totals["total_cost"], totals["insurance_paid"], totals["self_pay"]]
    assert all(isinstance(v, (int, float)) for r in rows[1:] for v in r[4:])
    subtotal_b = next(r for r in rows[1:] if r[0] == world["b"].name and not r[1])
    assert [Decimal(str(v)).quantize(D("0.01")) for v in subtotal_b[4:]] == \
        [D("999999.99"), D("333333.33"), D("666666.66")]
    assert sheet.cell(row=2, column=5).number_format == "0.00"
    assert world["outsider"].case_number not in {r[2] for r in rows}
    about = {r[0].value: r[1].value for r in load_workbook(io.BytesIO(response.data))["About"].iter_rows(min_row=2)}
    assert about["Hospital"] == "All hospitals" and about["Visits"] == 5 and about["Exported by"] == "Manager"
    [export] = events("export", manager)
    assert (export.object_id, export.section) == ("medical", "medical")
    assert json.loads(export.details) == {"ledger": "medical", "date_from": "2024-03-01", "date_to": "2024-03-31",
                                          "hospital_id": None, "rows": 5, "format": "xlsx"}


def test_xlsx_defuses_a_formula_looking_hospital_name(client, orgs, make_org, make_user, make_person, manager):
    hospital = make_org(FORMULA_HOSPITAL, "hospital", "320102", orgs["bureau"])
    person = make_person(orgs["shelter_a"])
    data = {"visit_date": dt.date(2024, 3, 3), "visit_type": "basic_medical", "diagnosis": "", "notes": "",
            "total_cost": D("10.00"), "insurance_paid": D("2.50")}
    medical.add_visit(person, data, make_user("clinician", hospital))
    db.session.commit()
    response = client.get(f"/ledgers/medical.xlsx?{MARCH}&hospital={hospital.id}")
    sheet = _sheet(response, "Ledger")
    cell = sheet.cell(row=2, column=1)
    assert cell.value == "'" + FORMULA_HOSPITAL and cell.data_type == "s"
    assert sheet.cell(row=2, column=7).value == 7.5
    [export] = events("export", manager)
    assert json.loads(export.details)["hospital_id"] == hospital.id
    assert FORMULA_HOSPITAL not in export.details  # the audit row holds ids, not names


# -- PDF --------------------------------------------------------------------------------------------
def test_pdf_shows_period_hospital_totals_and_the_footer(client, world, manager):
    response = client.get(f"/ledgers/medical.pdf?{MARCH}&hospital={world['a'].id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(response.data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    _chosen, totals = expected(world["visits"], hospital=world["a"], people=[world["p1"], world["p2"]])
    assert "Medical self-pay ledger" in text
    assert "2024-03-01" in text and "2024-03-31" in text and world["a"].name in text
    for key in ("total_cost", "insurance_paid", "self_pay"):
        assert money(totals[key]) in text
    assert "Grand total (3 visits)" in text
    flat = re.sub(r"\s+", " ", text)
    assert "Printed by Manager on" in flat
    assert re.search(r"第\s*1\s*页\s*/\s*共\s*1\s*页", text)
    assert world["outsider"].case_number not in text and "甲某某" not in text
    [printed] = events("print", manager)
    assert json.loads(printed.details) == {"ledger": "medical", "date_from": "2024-03-01", "date_to": "2024-03-31",
                                           "hospital_id": world["a"].id, "rows": 3}


def test_long_pdf_numbers_every_page(client, orgs, make_user, make_person, manager):
    person = make_person(orgs["shelter_a"])
    clinician = make_user("clinician", orgs["hospital"])
    for day in range(1, 31):
        for _ in range(3):
            medical.add_visit(person, {"visit_date": dt.date(2024, 3, day), "visit_type": "basic_medical",
                                       "diagnosis": "", "notes": "", "total_cost": D("1.01"),
                                       "insurance_paid": D("0.00")}, clinician)
    db.session.commit()
    reader = PdfReader(io.BytesIO(client.get(f"/ledgers/medical.pdf?{MARCH}").data))
    pages = len(reader.pages)
    assert pages > 1
    last = reader.pages[-1].extract_text()
    assert re.search(rf"第\s*{pages}\s*页\s*/\s*共\s*{pages}\s*页", last)
    assert "90.90" in last and "Printed by Manager" in re.sub(r"\s+", " ", last)
