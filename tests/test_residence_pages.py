"""The residence registration list, a person's application (draft, submit with a police referral,
registration by the police) and who may do what."""
import datetime as dt

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.placements import residence, service
from victimcare.placements.models import ResidenceApplication
from victimcare.referrals import service as referrals
from victimcare.referrals.models import Referral

from .conftest import csrf_from, post_form

TODAY = dt.date.today()


def days_ago(n):
    return TODAY - dt.timedelta(days=n)


def months_ago(n, extra_days=0):
    from victimcare.placements.rules import add_months
    return add_months(TODAY, -n) - dt.timedelta(days=extra_days)


@pytest.fixture(autouse=True)
def english(client):
    client.get("/language/en")


def place(person, user, admitted_on, kind="temporary_assistance", discharged_on=None):
    service.admit(person, {"placement_type": kind, "organisation_id": None, "institution_name": "甲救助站本部",
                           "household_relation": "none", "admitted_on": admitted_on,
                           "discharged_on": discharged_on}, user)
    db.session.commit()


@pytest.fixture
def worker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def due_person(orgs, make_person, worker):
    """In the shelter for four months, identity unknown: the application is due."""
    person = make_person(orgs["shelter_a"], name="无名氏甲", rescue_date=months_ago(5))
    place(person, worker, months_ago(4))
    return person


def application_of(person):
    return db.session.scalar(select(ResidenceApplication).where(ResidenceApplication.person_id == person.id))


def draft_data(**values):
    return {"name": "无名氏甲", "sex": "female", "date_of_birth": "", "birth_year": "2010", "rescue_date": "",
            "institution": "甲救助站", "statement": "多次查找未果", **values}


# -- the list -----------------------------------------------------------------------------------------
def test_the_list_shows_everyone_the_rule_applies_to_in_order(client, orgs, make_person, worker, logged_in):
    soon = make_person(orgs["shelter_a"], name="将到期")
    place(soon, worker, months_ago(3) + dt.timedelta(days=10))           # due in about ten days
    later = make_person(orgs["shelter_b"], name="刚入站")
    place(later, worker, days_ago(5))                                      # due in about three months
    due = make_person(orgs["shelter_a"], name="已到期")
    place(due, worker, months_ago(3, extra_days=5))                        # due five days ago or so
    overdue = make_person(orgs["shelter_a"], name="已逾期")
    place(overdue, worker, months_ago(5))                                  # two months past due
    identified = make_person(orgs["shelter_a"], name="已查明", identity_status="identified",
                             identified_method="dna", identified_on=days_ago(3))
    place(identified, worker, months_ago(5))
    home = make_person(orgs["shelter_a"], name="已回家")
    place(home, worker, months_ago(5), kind="return_to_family")
    elsewhere = make_person(orgs["other_shelter"], name="外市的人")
    place(elsewhere, worker, months_ago(5))

    logged_in("caseworker", orgs["bureau"])
    page = client.get("/residence/")
    assert page.status_code == 200
    text = page.text
    for name in ("将到期", "刚入站", "已到期", "已逾期"):
        assert name in text
    for name in ("已查明", "已回家", "外市的人"):
        assert name not in text
    assert text.index("已逾期") < text.index("已到期") < text.index("将到期") < text.index("刚入站")
    assert 'class="residence-overdue overdue"' in text
    assert "days left" in text and "days past the due date" in text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "list", AuditEvent.section == "residence"))
    only_due = client.get("/residence/?state=due").text
    assert "已到期" in only_due and "已逾期" not in only_due


def test_the_list_of_a_shelter_shows_only_its_people(client, orgs, make_person, worker, logged_in):
    mine = make_person(orgs["shelter_a"], name="本站的人")
    place(mine, worker, months_ago(4))
    theirs = make_person(orgs["shelter_b"], name="乙站的人")
    place(theirs, worker, months_ago(4))
    logged_in("caseworker", orgs["shelter_a"])
    text = client.get("/residence/").text
    assert "本站的人" in text and "乙站的人" not in text


def test_due_count_for_the_home_page(orgs, make_person, worker, make_user):
    place(make_person(orgs["shelter_a"]), worker, months_ago(4))
    place(make_person(orgs["shelter_a"]), worker, months_ago(3, extra_days=1))
    place(make_person(orgs["shelter_a"]), worker, days_ago(10))
    assert residence.residence_due_count(worker) == 2
    assert residence.residence_due_count(make_user("caseworker", orgs["other_shelter"])) == 0
    assert residence.residence_due_count(make_user("clinician", orgs["hospital"])) == 0


def test_roles_without_the_residence_section_cannot_open_the_list(client, orgs, logged_in):
    logged_in("clinician", orgs["hospital"])
    assert client.get("/residence/").status_code == 403
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "denied", AuditEvent.section == "residence"))


# -- the application ---------------------------------------------------------------------------------
def test_the_draft_is_prefilled_from_the_file_and_stored_encrypted(client, orgs, due_person, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    page = client.get(f"/people/{due_person.id}/residence")
    assert "Draft the application" in page.text and "Due" in page.text
    form = client.get(f"/people/{due_person.id}/residence/draft")
    assert 'value="无名氏甲"' in form.text and 'value="2010-05-01"' in form.text and "甲救助站本部" in form.text
    response = post_form(client, f"/people/{due_person.id}/residence/draft",
                         draft_data(date_of_birth="2010-05-01", birth_year=""))
    assert response.status_code == 302
    application = application_of(due_person)
    assert application.status == "drafted" and application.name == "无名氏甲"
    assert "无名氏甲" not in application.name_enc and "多次" not in application.statement_enc
    assert application.stay_started == months_ago(4) and application.due_on > application.stay_started
    page = client.get(f"/people/{due_person.id}/residence")
    assert "Application drafted" in page.text and "Record the submission" in page.text


@pytest.mark.parametrize("values, field, message", [
    ({"statement": ""}, "statement", "This field is required."),
    ({"institution": ""}, "institution", "This field is required."),
    ({"birth_year": ""}, "birth_year", "Give a date of birth or an estimated year of birth."),
    ({"date_of_birth": (TODAY + dt.timedelta(days=2)).isoformat()}, "date_of_birth", "This date is in the future."),
])
def test_draft_form_errors_keep_input_and_save_nothing(client, orgs, due_person, logged_in, values, field, message):
    logged_in("caseworker", orgs["shelter_a"])
    response = post_form(client, f"/people/{due_person.id}/residence/draft", draft_data(name="输入保留", **values))
    assert response.status_code == 200 and f'id="{field}-error"' in response.text and message in response.text
    assert 'value="输入保留"' in response.text
    assert application_of(due_person) is None


def test_no_draft_when_the_rule_does_not_apply(client, orgs, make_person, worker, logged_in):
    person = make_person(orgs["shelter_a"], identity_status="identified", identified_method="dna",
                         identified_on=days_ago(1))
    place(person, worker, months_ago(4))
    logged_in("caseworker", orgs["shelter_a"])
    assert "Draft the application" not in client.get(f"/people/{person.id}/residence").text
    response = post_form(client, f"/people/{person.id}/residence/draft", draft_data())
    assert "does not apply" in response.text and application_of(person) is None


def _drafted(person, user):
    application = residence.draft(person, {"name": "无名氏甲", "sex": "female", "date_of_birth": None,
                                           "birth_year": 2010, "rescue_date": None, "institution": "甲救助站",
                                           "statement": "多次查找未果"}, user)
    db.session.commit()
    return application


def test_submission_refers_the_person_to_the_police_station(client, orgs, due_person, worker, logged_in):
    application = _drafted(due_person, worker)
    logged_in("caseworker", orgs["shelter_a"])
    url = f"/residence/applications/{application.id}/submit"
    page_url = f"/people/{due_person.id}/residence"
    response = post_form(client, url, {"version": "1", "police_organisation_id": str(orgs["police"].id),
                                       "submitted_on": (application.due_on - dt.timedelta(days=1)).isoformat()},
                         page_url=page_url)
    assert "can be submitted from that day" in response.text
    assert application_of(due_person).status == "drafted"
    response = post_form(client, url, {"version": "1", "police_organisation_id": str(orgs["police"].id),
                                       "submitted_on": TODAY.isoformat()}, page_url=page_url)
    assert response.status_code == 302
    db.session.expire_all()
    application = application_of(due_person)
    assert (application.status, application.submitted_on, application.police_organisation_id) == \
        ("submitted", TODAY, orgs["police"].id)
    referral = db.session.get(Referral, application.referral_id)
    assert referral.organisation_id == orgs["police"].id and referral.status == "pending"
    assert "Submitted to public security" in client.get(page_url).text


def test_police_record_the_registration_through_their_active_referral(client, orgs, due_person, worker, make_user,
                                                                      logged_in):
    application = _drafted(due_person, worker)
    residence.submit(application, due_person, orgs["police"], TODAY, worker, application.version)
    db.session.commit()
    officer = logged_in("police", orgs["police"])
    page_url = f"/people/{due_person.id}/residence"
    assert client.get(page_url).status_code == 403  # pending: the minimal identity only
    referrals.accept(db.session.get(Referral, application.referral_id), officer)
    db.session.commit()
    page = client.get(page_url)
    assert page.status_code == 200 and "Record the registration" in page.text and "多次查找未果" in page.text
    assert client.get(f"/people/{due_person.id}/placements").status_code == 403  # placements stay closed
    url = f"/residence/applications/{application.id}/register"
    version = str(application_of(due_person).version)
    response = post_form(client, url, {"version": version, "registered_on": TODAY.isoformat(), "hukou_number": ""},
                         page_url=page_url)
    assert "This field is required." in response.text and application_of(due_person).status == "submitted"
    response = post_form(client, url, {"version": version, "registered_on": TODAY.isoformat(),
                                       "hukou_number": "320102000123"}, page_url=page_url)
    assert response.status_code == 302
    db.session.expire_all()
    application = application_of(due_person)
    assert (application.status, application.hukou_number) == ("registered", "320102000123")
    assert "320102000123" not in application.hukou_number_enc
    assert "Hukou registered" in client.get(page_url).text
    # the police cannot draft or withdraw: civil affairs' acts
    assert client.get(f"/people/{due_person.id}/residence/draft").status_code == 403


def test_a_caseworker_and_another_police_station_cannot_record_the_registration(client, orgs, due_person, worker,
                                                                                 make_org, make_user, logged_in):
    application = _drafted(due_person, worker)
    residence.submit(application, due_person, orgs["police"], TODAY, worker, application.version)
    db.session.commit()
    data = {"version": str(application.version), "registered_on": TODAY.isoformat(), "hukou_number": "1"}
    url = f"/residence/applications/{application.id}/register"
    logged_in("caseworker", orgs["shelter_a"])
    page_url = f"/people/{due_person.id}/residence"
    assert post_form(client, url, data, page_url=page_url).status_code == 403
    other_station = make_org("二派出所", "police", "320104", orgs["bureau"])
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    client.get("/language/en")
    officer = logged_in("police", other_station)
    assert client.get(page_url).status_code == 404           # no referral to that station
    referral = referrals.refer(due_person, other_station, "核查", worker)
    referrals.accept(referral, officer)
    db.session.commit()
    assert post_form(client, url, data, page_url=page_url).status_code == 403
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                        AuditEvent.section == "residence")).all()
    assert len(denied) == 3
    assert application_of(due_person).status == "submitted"


def test_police_without_a_referral_get_404_and_it_is_audited(client, orgs, due_person, logged_in):
    logged_in("police", orgs["police"])
    assert client.get(f"/people/{due_person.id}/residence").status_code == 404
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "denied",
                                                      AuditEvent.section == "residence")) is not None


def test_another_shelters_caseworker_gets_404(client, orgs, due_person, worker, logged_in):
    application = _drafted(due_person, worker)
    logged_in("caseworker", orgs["other_shelter"])
    assert client.get(f"/people/{due_person.id}/residence").status_code == 404
    assert client.get(f"/residence/applications/{application.id}/edit").status_code == 404
    assert client.get(f"/people/{due_person.id}/residence/draft").status_code == 404


def test_a_clinician_gets_404_without_and_403_with_a_referral(client, orgs, due_person, worker, logged_in):
    clinician = logged_in("clinician", orgs["hospital"])
    # Clinicians never use the residence section: refused before the person is looked up.
    assert client.get(f"/people/{due_person.id}/residence").status_code == 403
    referrals.accept(referrals.refer(due_person, orgs["hospital"], "治疗", worker), clinician)
    db.session.commit()
    assert client.get(f"/people/{due_person.id}/residence").status_code == 403


def test_edit_and_withdraw_a_draft(client, orgs, due_person, worker, logged_in):
    application = _drafted(due_person, worker)
    logged_in("caseworker", orgs["shelter_a"])
    url = f"/residence/applications/{application.id}/edit"
    token = csrf_from(client.get(url).text)
    assert client.post(url, data={"csrf_token": token, "version": "1",
                                  **draft_data(statement="补充说明")}).status_code == 302
    stale = client.post(url, data={"csrf_token": token, "version": "1", **draft_data(statement="我的版本")})
    assert stale.status_code == 409 and "我的版本" in stale.text
    db.session.expire_all()
    assert application_of(due_person).statement == "补充说明"
    page = client.get(f"/people/{due_person.id}/residence")
    client.post(f"/residence/applications/{application.id}/withdraw",
                data={"csrf_token": csrf_from(page.text), "version": str(application_of(due_person).version)})
    db.session.expire_all()
    assert application_of(due_person).status == "withdrawn"
    assert "Draft the application" in client.get(f"/people/{due_person.id}/residence").text


def test_identity_established_ends_the_rule_on_the_page(client, orgs, due_person, worker, logged_in):
    _drafted(due_person, worker)
    due_person.identity_status = "identified"
    db.session.commit()
    logged_in("caseworker", orgs["shelter_a"])
    assert "Identity established: rule ended" in client.get(f"/people/{due_person.id}/residence").text
    assert "无名氏甲" not in client.get("/residence/").text


def test_the_police_list_shows_only_people_actively_referred_to_the_station(client, orgs, make_person, worker,
                                                                              logged_in):
    active = make_person(orgs["shelter_a"], name="已接受转介")
    pending = make_person(orgs["shelter_a"], name="待接受转介")
    for person in (active, pending):
        place(person, worker, months_ago(4))
    officer = logged_in("police", orgs["police"])
    referrals.accept(referrals.refer(active, orgs["police"], "落户", worker), officer)
    referrals.refer(pending, orgs["police"], "落户", worker)
    db.session.commit()
    text = client.get("/residence/").text
    assert "已接受转介" in text and "待接受转介" not in text
