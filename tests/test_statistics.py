"""Statistics for the plans' evaluations: every figure against a count made here from the data the
test created (through the modules' services, with known dates), breakdowns, period edges, scope."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter
from decimal import Decimal

import pytest

from victimcare.extensions import db
from victimcare.followups import service as followups
from victimcare.followups.models import CaseStatusChange
from victimcare.people.rules import age_band
from victimcare.placements import service as placements
from victimcare.reports import statistics as st

START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
TODAY = dt.date(2025, 3, 1)  # after the period: "as of" is the period's last day
INSTITUTIONAL = {"temporary_assistance", "transit_rehabilitation", "child_welfare"}
D = dt.date

# One person each: organisation, sex, date of birth, origin code, rescue date, stays, return, medical
# visits, training entries, legal aid (date, status), closed at (naive UTC), identified.
SPECS = [
    dict(key="a", org="shelter_a", sex="female", dob=D(2010, 5, 1), origin="510104", rescue=D(2024, 1, 1),
         stays=[("temporary_assistance", D(2024, 1, 2), None)], medical=[D(2024, 2, 1)], training=[D(2024, 3, 1)]),
    dict(key="b", org="shelter_a", sex="male", dob=D(1990, 1, 1), origin="440300", rescue=D(2024, 12, 31),
         legal=[(D(2024, 12, 31), "accepted")], identified=True),
    dict(key="c", org="shelter_b", sex="female", dob=D(2008, 3, 3), origin="441900", rescue=D(2023, 12, 31),
         stays=[("transit_rehabilitation", D(2023, 12, 31), D(2024, 1, 1))], ret=D(2024, 1, 1)),
    dict(key="d", org="shelter_b", sex="unknown", dob=None, origin=None, rescue=D(2025, 1, 1),
         stays=[("temporary_assistance", D(2025, 1, 1), None)]),
    dict(key="e", org="shelter_a", sex="female", dob=D(2001, 7, 7), origin="510105", rescue=D(2024, 6, 1),
         stays=[("temporary_assistance", D(2024, 6, 1), D(2024, 6, 10))], legal=[(D(2024, 6, 5), "applied")],
         medical=[D(2025, 1, 5)], training=[D(2025, 1, 2)], closed_at=dt.datetime(2024, 8, 1, 3, 0)),
    dict(key="f", org="shelter_a", sex="male", dob=D(2012, 1, 1), origin="320102", rescue=D(2024, 7, 1),
         stays=[("family_foster", D(2024, 7, 1), None)], medical=[D(2024, 7, 2)],
         closed_at=dt.datetime(2024, 12, 31, 16, 0)),  # 00:00 on 1 Jan 2025 in Shanghai: not in 2024
    dict(key="g", org="bureau", sex="female", dob=D(1960, 2, 2), origin="320104", rescue=D(2023, 5, 1),
         stays=[("child_welfare", D(2024, 10, 15), None)], ret=D(2023, 12, 31),
         closed_at=dt.datetime(2023, 12, 31, 16, 30)),  # 2024-01-01 00:30 in Shanghai: in the period
    dict(key="h", org="shelter_b", sex="male", dob=D(2015, 1, 1), origin="320102", rescue=D(2024, 3, 3),
         stays=[("temporary_assistance", D(2024, 3, 3), D(2024, 5, 1)), ("child_welfare", D(2024, 5, 2), None)],
         training=[D(2024, 12, 31)], legal=[(D(2024, 4, 1), "refused")],
         closed_at=dt.datetime(2024, 12, 31, 15, 59)),  # 23:59 on 31 Dec in Shanghai: in the period
    # out of scope: another bureau's shelter, everything inside the period
    dict(key="z", org="other_shelter", sex="female", dob=D(2010, 1, 1), origin="510104", rescue=D(2024, 5, 5),
         stays=[("temporary_assistance", D(2024, 5, 5), None)], medical=[D(2024, 5, 6)],
         training=[D(2024, 5, 7)], legal=[(D(2024, 5, 8), "accepted")], ret=D(2024, 6, 1)),
]


def add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return D(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- the expected figures, counted here from SPECS ---------------------------------------------------
def _in(day, start=START, end=END):
    return day is not None and start <= day <= end


def expected_flags(spec, start=START, end=END, today=TODAY):
    as_of = min(end, today)
    rescued = _in(spec["rescue"], start, end)
    stays = spec.get("stays", [])
    training = any(d <= end for d in spec.get("training", []))
    legal = any(d <= end and s in ("accepted", "in_progress", "concluded") for d, s in spec.get("legal", []))
    placed = any(a <= end for _t, a, _d in stays)
    treated = any(d <= end for d in spec.get("medical", []))
    closed_at = spec.get("closed_at")
    local_close = (closed_at + dt.timedelta(hours=8)).date() if closed_at else None  # Asia/Shanghai
    institutional = sorted((a, d) for t, a, d in stays if t in INSTITUTIONAL and a <= as_of)
    chain_start = chain_end = None  # chain_end None: still there as of as_of
    for a, d in institutional:  # a transfer (next admission on the discharge day or the day after) chains
        d = d if d is not None and d <= as_of else None
        if chain_start is not None and (chain_end is None or a <= chain_end + dt.timedelta(days=1)):
            chain_end = None if d is None or chain_end is None else max(chain_end, d)
        else:
            chain_start, chain_end = a, d
    open_since = chain_start if chain_start is not None and chain_end is None else None
    ret = spec.get("ret")
    first_visit = add_months(ret, 1) if ret else None
    file_open_now = closed_at is None
    flags = {
        "rescued": rescued,
        "in_shelter": any(t in INSTITUTIONAL and a <= end and (d is None or d >= start) for t, a, d in stays),
        "returned": _in(ret, start, end),
        "closed": _in(local_close, start, end),
        "unidentified_3m": (not spec.get("identified") and open_since is not None
                            and add_months(open_since, 3) + dt.timedelta(days=1) <= as_of),
        "overdue_followups": file_open_now and first_visit is not None and first_visit < as_of,
        "training": rescued and training, "legal_aid": rescued and legal, "placed": rescued and placed,
        "aid": rescued and (legal or placed), "treatment": rescued and treated,
        "any_assistance": rescued and (training or legal or placed or treated),
    }
    return flags


def expected_totals(specs, **kw):
    totals = Counter()
    for spec in specs:
        if spec["org"] == "other_shelter":
            continue
        totals.update({k: 1 for k, v in expected_flags(spec, **kw).items() if v})
    return totals


# -- building the data through the services ----------------------------------------------------------
@pytest.fixture
def world(app, orgs, make_org, make_user, make_person):
    users = {
        "caseworker": make_user("caseworker", orgs["bureau"]),
        "other_caseworker": make_user("caseworker", orgs["other_bureau"]),
        "manager": make_user("manager", orgs["bureau"]),
        "other_manager": make_user("manager", orgs["other_bureau"]),
        "clinician": make_user("clinician", orgs["hospital"]),
        "employment": make_user("employment", make_org("就业服务中心", "employment_office", "320102", orgs["bureau"])),
        "legal_aid": make_user("legal_aid", make_org("法律援助中心", "legal_aid", "320102", orgs["bureau"])),
    }
    people = {}
    for spec in SPECS:
        people[spec["key"]] = create(spec, orgs, users, make_person)
    db.session.commit()
    return {"orgs": orgs, "users": users, "people": people}


def create(spec, orgs, users, make_person):
    from victimcare.employment import service as employment
    from victimcare.legal import service as legal
    from victimcare.medical import service as medical
    out_of_scope = spec["org"] == "other_shelter"
    caseworker = users["other_caseworker" if out_of_scope else "caseworker"]
    manager = users["other_manager" if out_of_scope else "manager"]
    fields = {"sex": spec["sex"], "date_of_birth": spec["dob"], "origin_code": spec["origin"],
              "rescue_date": spec["rescue"],
              "identity_status": "identified" if spec.get("identified") else "unidentified"}
    if spec["dob"] is None:
        fields["date_of_birth"] = None
    person = make_person(orgs[spec["org"]], **fields)
    for kind, admitted, discharged in spec.get("stays", []):
        stay = placements.admit(person, {"placement_type": kind, "organisation_id": orgs[spec["org"]].id,
                                         "admitted_on": admitted, "household_relation": "own_family"
                                         if kind == "family_foster" else "none"}, caseworker)
        if discharged:
            db.session.flush()
            placements.discharge(stay, person, {"discharged_on": discharged, "discharge_reason": "x"},
                                 caseworker, stay.version)
    if spec.get("ret"):
        followups.record_return(person, {"kind": "family", "return_date": spec["ret"], "wish_confirmed": True,
                                         "wish_expressed_by": "person", "destination": "家"}, caseworker)
    for day in spec.get("medical", []):
        medical.add_visit(person, {"visit_date": day, "visit_type": "psychological_counselling", "diagnosis": "d",
                                   "total_cost": Decimal("10.00"), "insurance_paid": Decimal("4.00")},
                          users["clinician"])
    for day in spec.get("training", []):
        employment.create(person, {"kind": "vocational_training", "wish_confirmed": True, "place": "local",
                                   "start_date": day, "outcome": "ongoing"}, users["employment"])
    for day, status in spec.get("legal", []):
        legal.create(person, {"application_date": day, "agency_id": users["legal_aid"].organisation_id,
                              "matter": "compensation", "status": status, "green_channel": False},
                     users["legal_aid"])
    if spec.get("closed_at"):
        change = followups.close_file(person, "结案", manager)
        db.session.flush()
        change.created_at = spec["closed_at"]
    db.session.commit()
    return person


# -- the figures -------------------------------------------------------------------------------------
def test_every_total_matches_an_independent_count(world):
    stats = st.compute(world["users"]["manager"], st.Period(START, END), TODAY)
    expected = expected_totals(SPECS)
    for figure in st.FIGURE_LABELS:
        assert stats.totals[figure] == expected[figure], figure
    # the spec was built so that each figure is exercised (not all zero)
    assert all(expected[f] > 0 for f in st.FIGURE_LABELS)


def test_period_edges_first_and_last_day_included(world):
    # a day earlier/later moves exactly the people at the edges
    stats = st.compute(world["users"]["manager"], st.Period(D(2024, 1, 2), D(2024, 12, 30)), TODAY)
    expected = expected_totals(SPECS, start=D(2024, 1, 2), end=D(2024, 12, 30))
    for figure in ("rescued", "in_shelter", "returned", "closed", "training", "legal_aid"):
        assert stats.totals[figure] == expected[figure], figure
    full = expected_totals(SPECS)
    assert full["rescued"] - expected["rescued"] == 2          # a (1 Jan) and b (31 Dec)
    assert full["returned"] - expected["returned"] == 1        # c returned on 1 Jan
    assert full["closed"] - expected["closed"] == 2            # g (00:30 on 1 Jan), h (23:59 on 31 Dec)
    assert full["in_shelter"] - expected["in_shelter"] == 1    # c discharged on 1 Jan


def test_people_outside_scope_are_not_counted(world):
    other = st.compute(world["users"]["other_manager"], st.Period(START, END), TODAY)
    expected = Counter({k: 1 for k, v in expected_flags(SPECS[-1]).items() if v})
    assert +other.totals == expected
    assert other.totals["rescued"] == 1


def test_as_of_today_while_the_period_runs(world):
    # Period still running on 2024-04-02: as of that day a's stay (from 2 Jan) has not exceeded 3 months
    # (due 2024-04-03); the next day it has.
    period = st.Period(START, END)
    before = st.compute(world["users"]["manager"], period, D(2024, 4, 2))
    after = st.compute(world["users"]["manager"], period, D(2024, 4, 3))
    assert before.as_of == D(2024, 4, 2)
    assert after.totals["unidentified_3m"] - before.totals["unidentified_3m"] == 1
    assert after.totals["unidentified_3m"] == expected_totals(SPECS, today=D(2024, 4, 3))["unidentified_3m"]


def _expected_breakdown(key_of):
    result = {}
    for spec in SPECS:
        if spec["org"] == "other_shelter":
            continue
        counts = result.setdefault(key_of(spec), Counter())
        counts.update({k: 1 for k, v in expected_flags(spec).items() if v})
    return {k: +v for k, v in result.items() if +v}


@pytest.mark.parametrize("dimension,level", [("sex", "province"), ("age_band", "province"),
                                             ("organisation", "province"), ("region", "province"),
                                             ("region", "code")])
def test_breakdowns(world, dimension, level):
    orgs = world["orgs"]
    key_of = {
        "sex": lambda s: s["sex"],
        "age_band": lambda s: age_band(END.year - s["dob"].year) if s["dob"] else "unknown",
        "organisation": lambda s: str(orgs[s["org"]].id),
        "region": lambda s: (s["origin"][:2] if level == "province" else s["origin"]) if s["origin"] else "unknown",
    }[dimension]
    stats = st.compute(world["users"]["manager"], st.Period(START, END), TODAY)
    rows = stats.breakdown(dimension, level)
    got = {b.key: +b.counts for b in rows if +b.counts}
    assert got == _expected_breakdown(key_of)
    assert sum((b.counts for b in rows), Counter()) == stats.totals


def test_region_rows_show_code_and_province_name(world):
    stats = st.compute(world["users"]["manager"], st.Period(START, END), TODAY)
    rows = {b.key: b for b in stats.breakdown("region", "province")}
    assert (rows["51"].code, rows["51"].label) == ("51", "四川省")
    assert (rows["44"].code, rows["44"].label) == ("44", "广东省")
    full = {b.key: b for b in stats.breakdown("region", "code")}
    assert (full["510104"].code, full["510104"].label) == ("510104", "四川省 成都市 锦江区")  # the division table
    assert len(st.PROVINCE_NAMES) == 34


def test_organisation_rows_list_every_case_holding_organisation(world):
    orgs = world["orgs"]
    stats = st.compute(world["users"]["manager"], st.Period(START, END), TODAY)
    keys = [b.key for b in stats.breakdown("organisation")]
    assert set(keys) == {str(orgs[k].id) for k in ("bureau", "shelter_a", "shelter_b")}


def test_residence_states_and_steps(app, orgs, make_user, make_person):
    from victimcare.placements import residence
    caseworker = make_user("caseworker", orgs["bureau"])
    manager = make_user("manager", orgs["bureau"])
    today = dt.date.today()
    admitted = {"overdue": today - dt.timedelta(days=200), "due": today - dt.timedelta(days=100),
                "not_due": today - dt.timedelta(days=10), "drafted": today - dt.timedelta(days=150)}
    people = {}
    for state, day in admitted.items():
        person = make_person(orgs["shelter_a"], rescue_date=day)
        placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": orgs["shelter_a"].id,
                                  "admitted_on": day, "household_relation": "none"}, caseworker)
        db.session.commit()
        people[state] = person
    residence.draft(people["drafted"], {"name": "x", "sex": "female", "date_of_birth": D(2010, 5, 1)}, caseworker)
    db.session.commit()
    stats = st.compute(manager, st.this_year(today), today)
    states = stats.residence["states"]
    assert {k: v for k, v in states.items() if v} == {"overdue": 1, "due": 1, "not_due": 1, "drafted": 1}
    assert stats.residence["steps"] == {"drafted": 1, "submitted": 0, "registered": 0}
    last_year = st.compute(manager, st.this_year(today.replace(year=today.year - 1)), today)
    assert last_year.residence["steps"]["drafted"] == 0


def test_overdue_followups_match_the_followup_list_today(world):
    user = world["users"]["manager"]
    today = dt.date.today()
    stats = st.compute(user, st.this_year(today), today)
    listed = {v.person.id for v in followups.due_and_overdue(user, today) if v.state == "overdue"}
    assert stats.totals["overdue_followups"] == len(listed) > 0


def test_caseworker_does_not_get_figures_from_the_medical_section(world):
    stats = st.compute(world["users"]["caseworker"], st.Period(START, END), TODAY)
    assert "treatment" not in stats.figures and "any_assistance" not in stats.figures
    assert "treatment" not in stats.totals
    assert stats.totals["rescued"] == expected_totals(SPECS)["rescued"]


def test_closed_counts_people_once_even_if_closed_twice(world):
    manager = world["users"]["manager"]
    person = world["people"]["h"]
    followups.reopen_file(person, "重开", manager)
    change = followups.close_file(person, "再结案", manager)
    db.session.flush()
    change.created_at = dt.datetime(2024, 12, 1, 0, 0)
    db.session.commit()
    stats = st.compute(manager, st.Period(START, END), TODAY)
    assert stats.totals["closed"] == expected_totals(SPECS)["closed"]
    assert db.session.query(CaseStatusChange).filter_by(person_id=person.id, action="close").count() == 2


# -- the page ----------------------------------------------------------------------------------------
def _figure(html, ident):
    match = re.search(rf'id="{ident}">(\d+)<', html)
    assert match, ident
    return int(match.group(1))


def test_page_shows_the_figures_and_svg_charts(client, world):
    from .conftest import login
    login(client, world["users"]["manager"])
    page = client.get("/statistics/?date_from=2024-01-01&date_to=2024-12-31&breakdown=sex")
    assert page.status_code == 200
    html = page.text
    expected = expected_totals(SPECS, today=dt.date.today())
    for figure in ("rescued", "in_shelter", "returned", "closed", "unidentified_3m", "overdue_followups"):
        assert _figure(html, f"total-{figure}") == expected[figure], figure
    for figure in st.SHARE_FIGURES:
        assert _figure(html, f"share-{figure}") == expected[figure], figure
    assert "<svg" in html and "<rect" in html
    assert "style=" not in html.split('<main id="main">')[1] and "<script" not in html.split('<main id="main">')[1]


def test_page_defaults_to_this_year_and_is_audited(client, world):
    from victimcare.audit import AuditEvent
    from .conftest import login
    login(client, world["users"]["manager"])
    page = client.get("/statistics/")
    assert page.status_code == 200
    year = dt.date.today().year
    assert f'value="{year}-01-01"' in page.text and f'value="{year}-12-31"' in page.text
    row = db.session.query(AuditEvent).filter_by(action="view", section="statistics").one()
    assert f'"from":"{year}-01-01"' in row.details


def test_period_end_before_start_is_an_error(client, world):
    from .conftest import login
    login(client, world["users"]["manager"])
    client.get("/language/en")
    page = client.get("/statistics/?date_from=2024-05-01&date_to=2024-04-30")
    assert page.status_code == 400
    assert "The end of the period is before its start." in page.text
    assert client.get("/statistics/?date_from=2024-99-01").status_code == 400


def test_caseworker_page_has_no_treatment_figure(client, world):
    from .conftest import login
    login(client, world["users"]["caseworker"])
    page = client.get("/statistics/?date_from=2024-01-01&date_to=2024-12-31")
    assert page.status_code == 200
    assert 'id="share-training"' in page.text and 'id="share-treatment"' not in page.text


@pytest.mark.parametrize("role,org", [("clinician", "hospital"), ("police", "police"), ("auditor", "supervision"),
                                      ("admin", "bureau"), ("manager", "hospital")])
@pytest.mark.parametrize("url", ["/statistics/", "/statistics/export.csv", "/statistics/export.xlsx"])
def test_roles_without_access_get_403_audited(client, orgs, logged_in, role, org, url):
    from victimcare.audit import AuditEvent
    user = logged_in(role, orgs[org])
    assert client.get(url).status_code == 403
    denied = db.session.query(AuditEvent).filter_by(action="denied", section="statistics", user_id=user.id).one()
    assert '"status":403' in denied.details
    assert db.session.query(AuditEvent).filter_by(action="export").count() == 0
