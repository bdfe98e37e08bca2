"""The disclosure log: every disclosure records consent or a legal basis; each file shows its log
(to whom, what, when, on what basis) to those who may read it, and to no one else."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.disclosures import service
from victimcare.disclosures.models import Disclosure
from victimcare.extensions import db
from victimcare.people.models import PersonRevision
from victimcare.web import format_date
from victimcare.placements import residence
from victimcare.placements import service as placements
from victimcare.placements.rules import add_months
from victimcare.referrals import service as referrals

from .conftest import login, post_form

TODAY = dt.date.today()


@pytest.fixture
def worker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, worker):
    return make_person(orgs["shelter_a"], by=worker, name="披露对象")


def _audit(action, object_id):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                       AuditEvent.object_id == object_id)).all()


def test_the_log_shows_to_whom_what_when_and_on_what_basis(client, orgs, worker, person):
    referrals.refer(person, orgs["hospital"], "请诊治", worker, basis="consent", consent_given_by="guardian",
                    consent_given_on=dt.date(2026, 2, 3))
    service.record_disclosure(person, kind="identified_print", user=worker, basis="legal_basis",
                              legal_basis="公安机关调取证据通知书（2026）第7号", recipient_name="某县公安局刑警大队",
                              sections=["identity", "dna"], purpose="侦查取证")
    db.session.commit()
    login(client, worker)
    page = client.get(f"/people/{person.id}/disclosures")
    assert page.status_code == 200
    text = page.text
    recorded = db.session.scalars(select(Disclosure.created_at)).all()
    with client.application.test_request_context():
        days = {format_date(t) for t in recorded}  # the office's day (after 16:00 UTC, tomorrow in Beijing)
    for expected in (orgs["hospital"].name, "请诊治", "2026-02-03", "某县公安局刑警大队", "第7号", "侦查取证",
                     *days, worker.username):
        assert expected in text, expected
    assert _audit("view", person.id)[-1].section == "disclosures"
    overview = client.get(f"/people/{person.id}")  # the summary card on the file page
    assert "某县公安局刑警大队" in overview.text and f"/people/{person.id}/disclosures" in overview.text


def test_managers_read_the_log_of_their_subtree(client, orgs, worker, person, make_user):
    referrals.refer(person, orgs["hospital"], "请诊治", worker)
    db.session.commit()
    login(client, make_user("manager", orgs["bureau"]))
    page = client.get(f"/people/{person.id}/disclosures")
    assert page.status_code == 200 and orgs["hospital"].name in page.text
    assert "二(三)1(6)" in page.text  # the documented default basis of an internal referral


@pytest.mark.parametrize("org_key, role", [("shelter_b", "caseworker"), ("other_shelter", "caseworker"),
                                           ("other_bureau", "manager")])
def test_other_organisations_get_404_and_it_is_audited(client, orgs, worker, person, make_user, org_key, role):
    referrals.refer(person, orgs["hospital"], "请诊治", worker)
    db.session.commit()
    login(client, make_user(role, orgs[org_key]))
    page = client.get(f"/people/{person.id}/disclosures")
    assert page.status_code == 404 and orgs["hospital"].name not in page.text
    denied = _audit("denied", person.id)
    assert denied and denied[-1].details_dict["status"] == 404 and denied[-1].section == "disclosures"


def test_a_partner_with_an_active_referral_does_not_see_the_log(client, orgs, worker, person, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    referrals.accept(referrals.refer(person, orgs["hospital"], "请诊治", worker), clinician)
    db.session.commit()
    login(client, clinician)
    assert client.get(f"/people/{person.id}/disclosures").status_code == 403
    assert _audit("denied", person.id)[-1].details_dict["status"] == 403
    assert f"/people/{person.id}/disclosures" not in client.get(f"/people/{person.id}").text


@pytest.mark.parametrize("basis", [
    {"basis": None},
    {"basis": "consent", "consent_given_by": "person"},
    {"basis": "consent", "consent_given_by": "neighbour", "consent_given_on": dt.date(2026, 1, 1)},
    {"basis": "consent", "consent_given_by": "person", "consent_given_on": TODAY + dt.timedelta(days=1)},
    {"basis": "legal_basis", "legal_basis": "  "},
    {"basis": "something_else", "legal_basis": "x"},
])
def test_a_disclosure_without_consent_or_legal_basis_is_refused(orgs, worker, person, basis):
    with pytest.raises(service.DisclosureRefused):
        service.record_disclosure(person, kind="identified_export", user=worker, recipient_name="某单位", **basis)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Disclosure)) == 0


def test_consent_on_the_day_itself_is_enough(orgs, worker, person):
    disclosure = service.record_disclosure(person, kind="identified_export", user=worker, basis="consent",
                                           consent_given_by="person", consent_given_on=TODAY,
                                           recipient_name="某单位")
    db.session.commit()
    assert disclosure.basis == "consent" and disclosure.legal_basis is None
    revision = db.session.scalar(select(PersonRevision).where(PersonRevision.section == "disclosures"))
    assert revision is not None and revision.entry_id == disclosure.id


def test_the_residence_submission_still_works_and_logs_its_legal_basis(client, orgs, make_person, worker):
    """placements/residence.py refers to the police without naming a basis: the residence
    registration provision (Jiangsu 2021-2030 二(三)1(5)) is recorded for it."""
    due = make_person(orgs["shelter_a"], by=worker, name="无名氏乙", rescue_date=add_months(TODAY, -5))
    placements.admit(due, {"placement_type": "temporary_assistance", "organisation_id": None,
                           "institution_name": "甲救助站本部", "household_relation": "none",
                           "admitted_on": add_months(TODAY, -4)}, worker)
    db.session.commit()
    application = residence.draft(due, {"name": "无名氏乙", "sex": "female", "date_of_birth": None,
                                        "birth_year": 2010, "rescue_date": None, "institution": "甲救助站",
                                        "statement": "多次查找未果"}, worker)
    db.session.commit()
    login(client, worker)
    response = post_form(client, f"/residence/applications/{application.id}/submit",
                         {"version": "1", "police_organisation_id": str(orgs["police"].id),
                          "submitted_on": TODAY.isoformat()}, page_url=f"/people/{due.id}/residence")
    assert response.status_code == 302
    db.session.expire_all()
    disclosure = db.session.scalar(select(Disclosure).where(Disclosure.person_id == due.id))
    assert (disclosure.kind, disclosure.recipient_organisation_id, disclosure.sections, disclosure.basis) == \
        ("referral", orgs["police"].id, "dna", "legal_basis")
    assert "二(三)1(5)" in disclosure.legal_basis and "落户申请" in disclosure.legal_basis
    assert "二(三)1(5)" in client.get(f"/people/{due.id}/disclosures").text
