"""Statistics exports: CSV and XLSX through reports.export, small counts suppressed (with the cells
that would give them away), formulas defused, every export an audit row."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from openpyxl import load_workbook

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.reports import statistics as st

from .conftest import login

PERIOD = "date_from=2024-01-01&date_to=2024-12-31"
FORMULA_ORG = '=HYPERLINK("http://evil","x")'


@pytest.fixture
def data(app, orgs, make_org, make_user, make_person):
    """shelter_a: 3 people rescued in 2024; shelter_b: 7, of whom 2 had training; an empty shelter
    whose name is a formula; a person of another bureau (out of scope)."""
    from victimcare.employment import service as employment
    office = make_org("就业服务中心", "employment_office", "320102", orgs["bureau"])
    officer = make_user("employment", office)
    formula = make_org(FORMULA_ORG, "shelter", "320102", orgs["bureau"])
    for i in range(3):
        make_person(orgs["shelter_a"], rescue_date=dt.date(2024, 2, 1 + i), origin_code="510104")
    for i in range(7):
        person = make_person(orgs["shelter_b"], rescue_date=dt.date(2024, 12, 31 - i), origin_code="440300")
        if i < 2:
            employment.create(person, {"kind": "vocational_training", "wish_confirmed": True, "place": "local",
                                       "start_date": dt.date(2024, 12, 31), "outcome": "ongoing"}, officer)
    make_person(orgs["other_shelter"], rescue_date=dt.date(2024, 3, 1))
    db.session.commit()
    return {"formula": formula}


@pytest.fixture
def manager(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    login(client, user)
    client.get("/language/en")  # headers and labels are asserted in English
    return user


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def _rows_by_name(rows):
    return {r[0]: r for r in rows[1:]}


def test_csv_suppresses_small_counts_and_their_complement(client, data, manager, orgs):
    rows = _csv(client.get(f"/statistics/export.csv?{PERIOD}&breakdown=organisation"))
    header = rows[0]
    rescued = header.index("Rescued in the period")
    by_name = _rows_by_name(rows)
    assert by_name[orgs["shelter_a"].name][rescued] == "<5"          # 3
    assert by_name[orgs["shelter_b"].name][rescued] == "x"           # 7, else 10 - 3 - 0 would reveal the 3
    assert by_name[orgs["bureau"].name][rescued] == "0"              # zero stays zero
    assert by_name["Total"][rescued] == "10"
    training = header.index("Training and employment services")
    assert by_name[orgs["shelter_b"].name][training] == "<5"         # 2 of 7
    assert by_name[orgs["shelter_b"].name][training + 1] == "x"      # its percentage would reveal it
    assert by_name["Total"][training] == "<5"
    # nothing under 5 is printed as a number anywhere in the counts
    for row in rows[1:]:
        for cell in row[2:]:
            assert not (cell.isdigit() and 0 < int(cell) < 5), row


def test_csv_defuses_formula_text(client, data, manager):
    rows = _csv(client.get(f"/statistics/export.csv?{PERIOD}&breakdown=organisation"))
    names = [r[0] for r in rows]
    assert "'" + FORMULA_ORG in names and FORMULA_ORG not in names


def test_csv_region_breakdown_shows_code_and_name(client, data, manager):
    rows = _csv(client.get(f"/statistics/export.csv?{PERIOD}&breakdown=region&region_level=province"))
    by_name = _rows_by_name(rows)
    assert by_name["四川省"][1] == "51" and by_name["四川省"][2] == "<5"
    assert by_name["广东省"][1] == "44" and by_name["广东省"][2] == "x"


def test_xlsx_has_every_table_suppressed(client, data, manager, orgs):
    response = client.get(f"/statistics/export.xlsx?{PERIOD}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert {"Summary", "Organisation", "Region of origin", "Sex", "Age band", "Notes"} <= set(book.sheetnames)
    summary = {r[0]: r for r in book["Summary"].iter_rows(values_only=True)}
    assert summary["Rescued in the period"][1] == 10
    assert summary["Training and employment services"][1:] == ("<5", 10, "x")
    assert summary["Returned home in the period"][1] == 0
    org = {r[0]: r for r in book["Organisation"].iter_rows(values_only=True)}
    assert org[orgs["shelter_a"].name][2] == "<5" and org[orgs["shelter_b"].name][2] == "x"
    assert "'" + FORMULA_ORG in org and FORMULA_ORG not in org
    sex = {r[0]: r for r in book["Sex"].iter_rows(values_only=True)}
    assert sex["Female"][2] == 10 and sex["Male"][2] == 0


def test_export_is_an_audit_row(client, data, manager):
    client.get(f"/statistics/export.csv?{PERIOD}&breakdown=sex")
    client.get(f"/statistics/export.xlsx?{PERIOD}")
    rows = db.session.query(AuditEvent).filter_by(action="export", section="statistics").order_by(AuditEvent.seq).all()
    details = [json.loads(r.details) for r in rows]
    assert details == [
        {"from": "2024-01-01", "to": "2024-12-31", "breakdown": "sex", "region_level": "province", "format": "csv"},
        {"from": "2024-01-01", "to": "2024-12-31", "breakdown": "all", "region_level": "province", "format": "xlsx"},
    ]
    assert all(r.user_id == manager.id for r in rows)


def test_unknown_format_is_404_and_bad_period_400(client, data, manager):
    assert client.get(f"/statistics/export.pdf?{PERIOD}").status_code == 404
    assert client.get("/statistics/export.csv?date_from=2024-05-01&date_to=2024-01-01").status_code == 400
    assert db.session.query(AuditEvent).filter_by(action="export").count() == 0


def test_page_shows_exact_figures_for_the_own_scope(client, data, manager, orgs):
    page = client.get(f"/statistics/?{PERIOD}&breakdown=organisation")
    assert 'id="total-rescued">10<' in page.text
    assert f'data-key="{orgs["shelter_a"].id}"' in page.text
    row = page.text.split(f'data-key="{orgs["shelter_a"].id}"')[1].split("</tr>")[0]
    assert 'data-figure="rescued">3<' in row


# -- the suppression rules themselves -----------------------------------------------------------------
def test_protect_primary_and_complementary():
    assert st.protect([3, 0, 7, 12]) == ["<5", 0, "x", 12]       # the smallest other non-zero cell
    assert st.protect([3, 4, 12]) == ["<5", "<5", 12]            # two hidden: no exact differencing
    assert st.protect([3, 0, 0]) == ["<5", 0, 0]                 # total 3 is itself suppressed
    assert st.protect([5, 0, 9]) == [5, 0, 9]
    assert st.protect([0, 0]) == [0, 0]


def test_share_hidden_when_few_did_or_few_did_not():
    assert st.share_hidden(3, 20)          # 3 received it
    assert st.share_hidden(18, 20)         # only 2 did not
    assert not st.share_hidden(10, 20)
    assert not st.share_hidden(0, 3)       # zero stays zero
    assert st.publish(18, True) == "x" and st.publish(3, True) == "<5"
    assert st.published_percent("<5", 20, 3, 20) == "x"
    assert st.published_percent(10, 20, 10, 20) == 50.0
