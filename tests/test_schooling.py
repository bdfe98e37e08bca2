"""School re-entry (DOMAIN.md section 6): school age, transfer and record steps, the ledger, permissions."""
import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals
from victimcare.schooling import rules
from victimcare.schooling.models import SchoolEnrolment

from .conftest import csrf_from, login, post_form

TODAY = dt.date.today()


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@pytest.fixture
def office(make_org, orgs):
    return make_org("测试区教育局", "school_office", "320102", orgs["bureau"])


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def child(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="入学儿童",
                       date_of_birth=years_before(TODAY, 10))


def refer(person, org, caseworker, partner=None):
    referral = referrals.refer(person, org, "请安排入学", caseworker)
    if partner is not None:
        referrals.accept(referral, partner)
    db.session.commit()
    return referral


@pytest.fixture
def teacher(make_user, office, child, caseworker):
    user = make_user("education", office)
    refer(child, office, caseworker, user)
    return user


def form_data(**overrides):
    data = {"school_name": "城南小学", "grade": "p4", "enrolment_date": (TODAY - dt.timedelta(days=10)).isoformat(),
            "transfer_state": "done", "transfer_date": (TODAY - dt.timedelta(days=12)).isoformat(),
            "record_state": "pending", "record_date": "", "mentoring": "与班主任结对",
            "counselling_notes": "每周一次心理辅导"}
    data.update(overrides)
    return data


def errors_on(response) -> list[str]:
    return re.findall(r'<p class="error" id="([a-z_]+)-error"', response.text)


def as_user(client, user):
    other = client.application.test_client()
    assert login(other, user).status_code == 302
    return other


def entries():
    return db.session.scalars(select(SchoolEnrolment)).all()


def denials(person_id, section="schooling"):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "denied", AuditEvent.object_id == person_id, AuditEvent.section == section))


def create(client, person, **overrides):
    response = post_form(client, f"/people/{person.id}/schooling/new", form_data(**overrides))
    assert response.status_code == 302, errors_on(response)
    return db.session.scalars(select(SchoolEnrolment).order_by(SchoolEnrolment.created_at.desc())).first()


# -- school age: 6 through 17 on the enrolment date --------------------------------------------
def test_school_age_edges_with_a_known_birth_date(make_person, orgs):
    person = make_person(orgs["shelter_a"], date_of_birth=dt.date(2012, 3, 15))
    assert rules.school_age_problem(person, dt.date(2018, 3, 14)) == "too_young"
    assert rules.school_age_problem(person, dt.date(2018, 3, 15)) is None  # 6th birthday
    assert rules.school_age_problem(person, dt.date(2030, 3, 14)) is None  # last day aged 17
    assert rules.school_age_problem(person, dt.date(2030, 3, 15)) == "too_old"  # 18th birthday


def test_school_age_with_only_an_estimated_birth_year_gives_the_child_the_benefit_of_the_doubt(
        make_person, orgs):
    person = make_person(orgs["shelter_a"], date_of_birth=None, estimated_age=10)
    born = person.birth_year
    assert rules.school_age_problem(person, dt.date(born + 5, 12, 31)) == "too_young"  # 4 or 5
    assert rules.school_age_problem(person, dt.date(born + 6, 1, 1)) is None  # 5 or 6
    assert rules.school_age_problem(person, dt.date(born + 18, 12, 31)) is None  # 17 or 18
    assert rules.school_age_problem(person, dt.date(born + 19, 1, 1)) == "too_old"  # 18 or 19


def test_no_recorded_age_is_refused(make_person, orgs):
    person = make_person(orgs["shelter_a"], date_of_birth=None)
    assert rules.school_age_problem(person, TODAY) == "age_unknown"


def test_steps_need_a_date_exactly_when_done():
    day = dt.date(2026, 9, 1)
    assert rules.step_problem("done", None) == "date_required"
    assert rules.step_problem("done", day) is None
    assert rules.step_problem("pending", day) == "date_without_done"
    assert rules.step_problem("not_needed", None) is None


# -- the form ------------------------------------------------------------------------------------
def test_education_user_records_an_enrolment(client, child, teacher, office):
    login(client, teacher)
    entry = create(client, child)
    assert (entry.grade, entry.transfer_state, entry.record_state, entry.office_id) == ("p4", "done", "pending",
                                                                                       office.id)
    assert entry.school_name == "城南小学" and "城南" not in entry.school_name_enc
    assert "心理" not in entry.counselling_notes_enc and "结对" not in entry.mentoring_enc
    listing = client.get(f"/people/{child.id}/schooling")
    assert "城南小学" in listing.text and "每周一次心理辅导" in listing.text
    assert db.session.scalar(select(PersonRevision.section).where(PersonRevision.entry_id == entry.id)) == "schooling"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "create", AuditEvent.section == "schooling")) == 1


def test_enrolment_on_the_sixth_birthday_and_not_the_day_before(client, orgs, make_person, caseworker, office,
                                                               make_user):
    birthday = TODAY - dt.timedelta(days=20)
    young = make_person(orgs["shelter_a"], by=caseworker, date_of_birth=years_before(birthday, 6))
    user = make_user("education", office)
    refer(young, office, caseworker, user)
    login(client, user)
    day_before = (years_before(birthday, 0) - dt.timedelta(days=1)).isoformat()
    response = post_form(client, f"/people/{young.id}/schooling/new",
                         form_data(enrolment_date=day_before, grade="p1", school_name="未保存小学"))
    assert response.status_code == 200 and errors_on(response) == ["enrolment_date"]
    assert "未保存小学" in response.text and entries() == []
    create(client, young, enrolment_date=birthday.isoformat(), grade="p1")
    assert len(entries()) == 1


def test_an_adult_is_refused_with_a_clear_message(client, orgs, make_person, caseworker, office, make_user):
    adult = make_person(orgs["shelter_a"], by=caseworker, date_of_birth=years_before(TODAY, 18))
    user = make_user("education", office)
    refer(adult, office, caseworker, user)
    login(client, user)
    response = post_form(client, f"/people/{adult.id}/schooling/new", form_data(enrolment_date=TODAY.isoformat()))
    assert errors_on(response) == ["enrolment_date"] and entries() == []
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    create(client, adult, enrolment_date=yesterday, grade="s3")  # the last day aged 17


@pytest.mark.parametrize("overrides, fields", [
    ({"school_name": ""}, ["school_name"]),
    ({"grade": ""}, ["grade"]),
    ({"grade": "college"}, ["grade"]),
    ({"enrolment_date": ""}, ["enrolment_date"]),
    ({"enrolment_date": (TODAY + dt.timedelta(days=1)).isoformat()}, ["enrolment_date"]),
    ({"transfer_date": ""}, ["transfer_date"]),
    ({"transfer_state": "pending"}, ["transfer_date"]),
    ({"record_state": "done"}, ["record_date"]),
    ({"record_state": "not_needed", "record_date": TODAY.isoformat()}, ["record_date"]),
    ({"record_state": "done", "record_date": (TODAY + dt.timedelta(days=1)).isoformat()}, ["record_date"]),
    ({"transfer_state": "maybe"}, ["transfer_state"]),
    ({"school_name": "校" * 201}, ["school_name"]),
])
def test_form_errors_keep_input_and_save_nothing(client, child, teacher, overrides, fields):
    login(client, teacher)
    response = post_form(client, f"/people/{child.id}/schooling/new", form_data(**overrides))
    assert response.status_code == 200
    assert errors_on(response) == fields
    assert "每周一次心理辅导" in response.text and entries() == []


def test_edit_keeps_history_and_a_stale_edit_is_a_conflict(client, child, teacher):
    login(client, teacher)
    entry = create(client, child)
    url = f"/schooling/{entry.id}/edit"
    token = csrf_from(client.get(url).text)
    done = form_data(record_state="done", record_date=TODAY.isoformat(), version="1")
    assert client.post(url, data={"csrf_token": token, **done}).status_code == 302
    stale = form_data(school_name="另一所学校", version="1")
    response = client.post(url, data={"csrf_token": token, **stale})
    assert response.status_code == 409 and "另一所学校" in response.text
    db.session.expire_all()
    entry = db.session.get(SchoolEnrolment, entry.id)
    assert (entry.record_state, entry.school_name, entry.version) == ("done", "城南小学", 2)
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.entry_id == entry.id)).all()
    assert len(revisions) == 2


# -- the ledger (入学安置台账) ---------------------------------------------------------------------
def test_ledger_lists_the_offices_children_without_names(client, child, teacher, orgs, make_person, caseworker,
                                                         make_org, make_user):
    login(client, teacher)
    create(client, child)
    unreferred = make_person(orgs["shelter_a"], by=caseworker, name="未转介儿童",
                             date_of_birth=years_before(TODAY, 9))
    from victimcare.schooling import service
    other_office = make_org("另一区教育局", "school_office", "320104", orgs["bureau"])
    other_teacher = make_user("education", other_office)
    refer(unreferred, other_office, caseworker, other_teacher)
    other_entry = service.create(unreferred, form_data(enrolment_date=TODAY, transfer_date=TODAY, record_date=None,
                                                       school_name="别处小学"), other_teacher)
    db.session.commit()
    page = client.get("/schooling/ledger")
    assert page.status_code == 200
    assert child.case_number in page.text and "城南小学" in page.text
    assert unreferred.case_number not in page.text and "别处小学" not in page.text
    assert "入学儿童" not in page.text  # no names in the ledger
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "list", AuditEvent.section == "schooling")) == 1
    assert other_entry.id


def test_ledger_for_managers_in_scope_only(client, child, teacher, make_user, orgs):
    login(client, teacher)
    create(client, child)
    page = as_user(client, make_user("manager", orgs["bureau"])).get("/schooling/ledger")
    assert page.status_code == 200 and child.case_number in page.text and "入学儿童" not in page.text
    page = as_user(client, make_user("manager", orgs["other_bureau"])).get("/schooling/ledger")
    assert page.status_code == 200 and child.case_number not in page.text


def test_ledger_after_the_referral_closed_and_for_other_roles(client, child, teacher, caseworker, make_user, orgs,
                                                              office):
    login(client, teacher)
    create(client, child)
    referral = db.session.scalar(select(referrals.Referral).where(referrals.Referral.organisation_id == office.id))
    referrals.close(referral, "已入学", caseworker)
    db.session.commit()
    assert child.case_number not in client.get("/schooling/ledger").text
    clinician = make_user("clinician", orgs["hospital"])
    response = as_user(client, clinician).get("/schooling/ledger")
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "denied", AuditEvent.section == "schooling", AuditEvent.user_id == clinician.id)) == 1


# -- who may -------------------------------------------------------------------------------------
def test_education_user_after_the_referral_closed_gets_404_audited(client, child, teacher, caseworker, office):
    login(client, teacher)
    entry = create(client, child)
    referral = db.session.scalar(select(referrals.Referral).where(referrals.Referral.organisation_id == office.id))
    referrals.close(referral, "已入学", caseworker)
    db.session.commit()
    before = denials(child.id)
    assert client.get(f"/people/{child.id}/schooling").status_code == 404
    assert client.get(f"/schooling/{entry.id}/edit").status_code == 404
    assert post_form(client, f"/people/{child.id}/schooling/new", form_data(),
                     page_url="/referrals/").status_code == 404
    assert denials(child.id) == before + 3 and len(entries()) == 1


def test_education_office_of_another_district_gets_404(client, child, teacher, make_org, make_user, orgs):
    other = make_org("另一区教育局", "school_office", "320104", orgs["bureau"])
    client = as_user(client, make_user("education", other))
    assert client.get(f"/people/{child.id}/schooling").status_code == 404
    assert denials(child.id) == 1


def test_caseworker_cannot_write_schooling(client, child, teacher, caseworker):
    login(client, teacher)
    entry = create(client, child)
    client = as_user(client, caseworker)
    assert client.get(f"/people/{child.id}/schooling").status_code == 200
    before = denials(child.id)
    assert client.get(f"/people/{child.id}/schooling/new").status_code == 403
    assert client.get(f"/schooling/{entry.id}/edit").status_code == 403
    assert denials(child.id) == before + 2


def test_manager_reads_only(client, child, teacher, make_user, orgs):
    login(client, teacher)
    entry = create(client, child)
    client = as_user(client, make_user("manager", orgs["bureau"]))
    listing = client.get(f"/people/{child.id}/schooling")
    assert listing.status_code == 200 and "城南小学" in listing.text and f"/schooling/{entry.id}/edit" not in listing.text
    assert client.get(f"/people/{child.id}/schooling/new").status_code == 403
    before = denials(child.id)
    response = post_form(client, f"/schooling/{entry.id}/edit", form_data(version="1", school_name="改名"),
                         page_url=f"/people/{child.id}/schooling")
    assert response.status_code == 403 and denials(child.id) == before + 1
    db.session.expire_all()
    assert db.session.get(SchoolEnrolment, entry.id).version == 1


def test_summary_card(app, child, teacher):
    from flask import render_template
    from victimcare.schooling import service
    from victimcare.sections import REGISTRY
    section = REGISTRY["schooling"]
    service.create(child, form_data(enrolment_date=TODAY, transfer_date=TODAY, record_state="not_needed",
                                    record_date=None), teacher)
    db.session.commit()
    with app.test_request_context():
        html = render_template(section.summary_template, data=section.load(child))
    assert "城南小学" in html and TODAY.isoformat() in html
