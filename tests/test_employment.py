"""Training and jobs (DOMAIN.md section 7): 16 or older on the start date, the person's wish, dates,
history, locking and permissions."""
import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.employment import rules
from victimcare.employment.models import EmploymentService
from victimcare.extensions import db
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import csrf_from, login, post_form

TODAY = dt.date.today()


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@pytest.fixture
def office(make_org, orgs):
    return make_org("人社局就业服务中心", "employment_office", "320102", orgs["bureau"])


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="就业对象", date_of_birth=years_before(TODAY, 20))


def refer(person, org, caseworker, partner=None):
    referral = referrals.refer(person, org, "请提供职业培训", caseworker)
    if partner is not None:
        referrals.accept(referral, partner)
    db.session.commit()
    return referral


@pytest.fixture
def officer(make_user, office, person, caseworker):
    user = make_user("employment", office)
    refer(person, office, caseworker, user)
    return user


def form_data(**overrides):
    data = {"kind": "vocational_training", "wish_confirmed": "y", "provider": "市技工学校", "place": "elsewhere",
            "start_date": (TODAY - dt.timedelta(days=60)).isoformat(), "end_date": "", "outcome": "ongoing",
            "notes": "缝纫工培训"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def errors_on(response) -> list[str]:
    return re.findall(r'<p class="error" id="([a-z_]+)-error"', response.text)


def as_user(client, user):
    other = client.application.test_client()
    assert login(other, user).status_code == 302
    return other


def entries():
    return db.session.scalars(select(EmploymentService)).all()


def denials(person_id, section="employment"):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "denied", AuditEvent.object_id == person_id, AuditEvent.section == section))


def create(client, person, **overrides):
    response = post_form(client, f"/people/{person.id}/employment/new", form_data(**overrides))
    assert response.status_code == 302, errors_on(response)
    return db.session.scalars(select(EmploymentService).order_by(EmploymentService.created_at.desc())).first()


# -- 16 or older on the start date --------------------------------------------------------------
def test_sixteenth_birthday_with_a_known_birth_date(make_person, orgs):
    person = make_person(orgs["shelter_a"], date_of_birth=dt.date(2010, 7, 20))
    assert rules.age_problem(person, dt.date(2026, 7, 19)) == "too_young"
    assert rules.age_problem(person, dt.date(2026, 7, 20)) is None
    leap = make_person(orgs["shelter_a"], date_of_birth=dt.date(2008, 2, 29))
    assert rules.age_problem(leap, dt.date(2024, 2, 28)) == "too_young"
    assert rules.age_problem(leap, dt.date(2024, 2, 29)) is None


def test_an_estimated_birth_year_must_make_the_person_certainly_sixteen(make_person, orgs):
    person = make_person(orgs["shelter_a"], date_of_birth=None, estimated_age=15)
    born = person.birth_year
    assert rules.age_problem(person, dt.date(born + 15, 12, 31)) == "too_young"
    assert rules.age_problem(person, dt.date(born + 16, 1, 1)) == "not_certain"  # 15 or 16
    assert rules.age_problem(person, dt.date(born + 16, 12, 30)) == "not_certain"
    assert rules.age_problem(person, dt.date(born + 16, 12, 31)) is None  # the last possible birthday
    assert rules.certain_from(born) == dt.date(born + 16, 12, 31)


def test_no_recorded_age_is_refused(make_person, orgs):
    assert rules.age_problem(make_person(orgs["shelter_a"], date_of_birth=None), TODAY) == "age_unknown"


def test_dates_rules():
    day = dt.date(2026, 3, 1)
    assert rules.dates_problem(day, day, "completed") is None
    assert rules.dates_problem(day, day - dt.timedelta(days=1), "ongoing") == "end_before_start"
    assert rules.dates_problem(day, None, "ongoing") is None
    for finished in ("completed", "employed", "discontinued"):
        assert rules.dates_problem(day, None, finished) == "end_required"


def test_the_form_refuses_the_day_before_the_sixteenth_birthday_and_accepts_the_day(
        client, orgs, make_person, caseworker, office, make_user):
    birthday = TODAY - dt.timedelta(days=30)
    young = make_person(orgs["shelter_a"], by=caseworker, date_of_birth=years_before(birthday, 16))
    user = make_user("employment", office)
    refer(young, office, caseworker, user)
    login(client, user)
    day_before = (birthday - dt.timedelta(days=1)).isoformat()
    response = post_form(client, f"/people/{young.id}/employment/new",
                         form_data(start_date=day_before, provider="不应保存的工厂"))
    assert response.status_code == 200 and errors_on(response) == ["start_date"]
    assert "不应保存的工厂" in response.text and entries() == []
    entry = create(client, young, start_date=birthday.isoformat())
    assert entry.start_date == birthday


def test_the_form_explains_an_uncertain_estimated_age(client, orgs, make_person, caseworker, office, make_user):
    estimated = make_person(orgs["shelter_a"], by=caseworker, date_of_birth=None, estimated_age=16)
    user = make_user("employment", office)
    refer(estimated, office, caseworker, user)
    login(client, user)
    response = post_form(client, f"/people/{estimated.id}/employment/new", form_data(start_date=TODAY.isoformat()))
    assert errors_on(response) == ["start_date"]
    assert f"{estimated.birth_year + 16}-12-31" in response.text and entries() == []


# -- the form ------------------------------------------------------------------------------------
def test_employment_user_records_a_service(client, person, officer, office):
    login(client, officer)
    entry = create(client, person)
    assert (entry.kind, entry.place, entry.outcome, entry.wish_confirmed, entry.office_id) == (
        "vocational_training", "elsewhere", "ongoing", True, office.id)
    assert entry.provider == "市技工学校" and "技工" not in entry.provider_enc and "缝纫" not in entry.notes_enc
    listing = client.get(f"/people/{person.id}/employment")
    assert "市技工学校" in listing.text and "缝纫工培训" in listing.text
    assert db.session.scalar(select(PersonRevision.section).where(PersonRevision.entry_id == entry.id)) == "employment"
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.section == "employment")).all()
    assert "create" in actions and "view" in actions


@pytest.mark.parametrize("overrides, fields", [
    ({"kind": ""}, ["kind"]),
    ({"kind": "internship"}, ["kind"]),
    ({"wish_confirmed": None}, ["wish_confirmed"]),
    ({"place": "abroad"}, ["place"]),
    ({"start_date": ""}, ["start_date"]),
    ({"start_date": (TODAY + dt.timedelta(days=1)).isoformat()}, ["start_date"]),
    ({"end_date": (TODAY - dt.timedelta(days=61)).isoformat()}, ["end_date"]),
    ({"outcome": "completed"}, ["end_date"]),
    ({"outcome": "employed"}, ["end_date"]),
    ({"outcome": "finished"}, ["outcome"]),
    ({"provider": "厂" * 201}, ["provider"]),
])
def test_form_errors_keep_input_and_save_nothing(client, person, officer, overrides, fields):
    login(client, officer)
    response = post_form(client, f"/people/{person.id}/employment/new", form_data(**overrides))
    assert response.status_code == 200
    assert errors_on(response) == fields
    assert "缝纫工培训" in response.text and entries() == []


def test_end_date_on_the_start_date_is_accepted(client, person, officer):
    login(client, officer)
    start = (TODAY - dt.timedelta(days=5)).isoformat()
    entry = create(client, person, kind="career_guidance", start_date=start, end_date=start, outcome="completed")
    assert entry.end_date == entry.start_date


def test_edit_keeps_history_and_a_stale_edit_is_a_conflict(client, person, officer):
    login(client, officer)
    entry = create(client, person)
    url = f"/employment/{entry.id}/edit"
    token = csrf_from(client.get(url).text)
    employed = form_data(outcome="employed", end_date=TODAY.isoformat(), version="1")
    assert client.post(url, data={"csrf_token": token, **employed}).status_code == 302
    stale = form_data(provider="另一家工厂", version="1")
    response = client.post(url, data={"csrf_token": token, **stale})
    assert response.status_code == 409 and "另一家工厂" in response.text
    db.session.expire_all()
    entry = db.session.get(EmploymentService, entry.id)
    assert (entry.outcome, entry.provider, entry.version) == ("employed", "市技工学校", 2)
    assert len(db.session.scalars(select(PersonRevision).where(PersonRevision.entry_id == entry.id)).all()) == 2


# -- who may -------------------------------------------------------------------------------------
def test_employment_office_of_another_area_gets_404_audited(client, person, officer, make_org, make_user, orgs):
    login(client, officer)
    entry = create(client, person)
    other = make_org("另一就业服务中心", "employment_office", "320104", orgs["bureau"])
    client = as_user(client, make_user("employment", other))
    assert client.get(f"/people/{person.id}/employment").status_code == 404
    assert client.get(f"/employment/{entry.id}/edit").status_code == 404
    assert denials(person.id) == 2


def test_after_the_referral_closed_no_access(client, person, officer, caseworker, office):
    login(client, officer)
    create(client, person)
    referral = db.session.scalar(select(referrals.Referral).where(referrals.Referral.organisation_id == office.id))
    referrals.close(referral, "已就业", caseworker)
    db.session.commit()
    assert client.get(f"/people/{person.id}/employment/new").status_code == 404
    assert denials(person.id) == 1


def test_education_user_cannot_write_employment(client, person, caseworker, make_org, make_user, orgs):
    school = make_org("测试区教育局", "school_office", "320102", orgs["bureau"])
    teacher = make_user("education", school)
    refer(person, school, caseworker, teacher)
    login(client, teacher)
    assert client.get(f"/people/{person.id}/employment/new").status_code == 403
    assert denials(person.id) == 1


def test_caseworker_and_manager_read_only(client, person, officer, caseworker, make_user, orgs):
    login(client, officer)
    entry = create(client, person)
    for reader in (caseworker, make_user("manager", orgs["bureau"])):
        client = as_user(client, reader)
        listing = client.get(f"/people/{person.id}/employment")
        assert listing.status_code == 200 and "市技工学校" in listing.text
        before = denials(person.id)
        assert client.get(f"/people/{person.id}/employment/new").status_code == 403
        response = post_form(client, f"/employment/{entry.id}/edit", form_data(version="1", provider="改"),
                             page_url=f"/people/{person.id}/employment")
        assert response.status_code == 403 and denials(person.id) == before + 2
    db.session.expire_all()
    assert db.session.get(EmploymentService, entry.id).version == 1


def test_summary_card(app, person, officer):
    from flask import render_template
    from victimcare.employment import service
    from victimcare.sections import REGISTRY
    section = REGISTRY["employment"]
    service.create(person, {"kind": "job_referral", "wish_confirmed": True, "place": "local",
                            "start_date": dt.date(2026, 2, 3), "outcome": "ongoing"}, officer)
    db.session.commit()
    with app.test_request_context():
        html = render_template(section.summary_template, data=section.load(person))
    assert "2026-02-03" in html
