"""Referrals: a partner reaches a person only while referred, and only its own section; every
referral records consent or the legal basis in the disclosure log."""
import datetime as dt

import pytest
from sqlalchemy import select

from victimcare import access
from victimcare.audit import AuditEvent
from victimcare.disclosures.models import Disclosure
from victimcare.disclosures.service import DisclosureRefused
from victimcare.extensions import db
from victimcare.referrals import service
from victimcare.referrals.models import Referral

from .conftest import login, post_form


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="转介对象", id_number=None)


@pytest.fixture
def other_hospital(make_org, orgs):
    return make_org("另一家医院", "hospital", "320104", orgs["bureau"])


def refer(person, org, by, accept_as=None):
    referral = service.refer(person, org, "请诊治", by)
    if accept_as is not None:
        service.accept(referral, accept_as)
    db.session.commit()
    return referral


CONSENT = {"basis": "consent", "consent_given_by": "person", "consent_given_on": "2026-01-05"}


def denials(object_id):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                       AuditEvent.object_id == object_id)).all()


def test_caseworker_refers_through_the_form(client, orgs, caseworker, person):
    login(client, caseworker)
    url = f"/people/{person.id}/referrals"
    response = post_form(client, url, {"organisation_id": str(orgs["hospital"].id), "purpose": "心理评估",
                                       **CONSENT})
    assert response.status_code == 302
    referral = db.session.scalar(select(Referral).where(Referral.person_id == person.id))
    assert (referral.status, referral.section, referral.organisation_id) == ("pending", "medical", orgs["hospital"].id)
    assert referral.purpose == "心理评估" and "心理评估" not in referral.purpose_enc
    page = client.get(url)
    assert "心理评估" in page.text
    disclosure = db.session.scalar(select(Disclosure).where(Disclosure.person_id == person.id))
    assert (disclosure.kind, disclosure.recipient_organisation_id, disclosure.sections, disclosure.entry_id) == \
        ("referral", orgs["hospital"].id, "medical", referral.id)
    assert (disclosure.basis, disclosure.consent_given_by, disclosure.consent_given_on) == \
        ("consent", "person", dt.date(2026, 1, 5))
    log = client.get(f"/people/{person.id}/disclosures")
    assert log.status_code == 200
    assert orgs["hospital"].name in log.text and "2026-01-05" in log.text and "心理评估" in log.text


@pytest.mark.parametrize("basis, field", [
    ({}, "basis"),
    ({"basis": "consent", "consent_given_on": "2026-01-05"}, "consent_given_by"),
    ({"basis": "consent", "consent_given_by": "guardian"}, "consent_given_on"),
    ({"basis": "consent", "consent_given_by": "guardian", "consent_given_on": "2999-01-01"}, "consent_given_on"),
    ({"basis": "legal_basis", "legal_basis": "   "}, "legal_basis"),
])
def test_referral_without_consent_or_legal_basis_is_refused(client, orgs, caseworker, person, basis, field):
    login(client, caseworker)
    url = f"/people/{person.id}/referrals"
    response = post_form(client, url, {"organisation_id": str(orgs["hospital"].id), "purpose": "无依据转介",
                                       **basis})
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.text and "无依据转介" in response.text
    assert db.session.scalar(select(Referral.id)) is None
    assert db.session.scalar(select(Disclosure.id)) is None


def test_referral_on_a_legal_basis_is_logged_with_it(client, orgs, caseworker, person):
    login(client, caseworker)
    url = f"/people/{person.id}/referrals"
    response = post_form(client, url, {"organisation_id": str(orgs["police"].id), "purpose": "身份核查",
                                       "basis": "legal_basis", "legal_basis": "公安机关调取证据通知书 第12号",
                                       "consent_given_by": "person"})
    assert response.status_code == 302
    disclosure = db.session.scalar(select(Disclosure))
    assert (disclosure.basis, disclosure.consent_given_by, disclosure.legal_basis, disclosure.sections) == \
        ("legal_basis", None, "公安机关调取证据通知书 第12号", "dna")
    assert "第12号" not in disclosure.legal_basis_enc
    assert "第12号" in client.get(f"/people/{person.id}/disclosures").text


def test_service_refuses_an_explicitly_empty_basis_and_writes_nothing(orgs, caseworker, person):
    with pytest.raises(DisclosureRefused):
        service.refer(person, orgs["hospital"], "请诊治", caseworker, basis=None)
    db.session.commit()
    assert db.session.scalar(select(Referral.id)) is None
    assert db.session.scalar(select(Disclosure.id)) is None


def test_internal_callers_get_the_documented_default_legal_basis(orgs, caseworker, person):
    referral = refer(person, orgs["police"], caseworker)
    disclosure = db.session.scalar(select(Disclosure))
    assert (disclosure.kind, disclosure.entry_id, disclosure.basis) == ("referral", referral.id, "legal_basis")
    assert disclosure.legal_basis == service.DEFAULT_LEGAL_BASIS["dna"] and "二(三)1(5)" in disclosure.legal_basis


def test_referral_form_errors_keep_input_and_save_nothing(client, orgs, caseworker, person):
    login(client, caseworker)
    url = f"/people/{person.id}/referrals"
    response = post_form(client, url, {"organisation_id": str(orgs["hospital"].id), "purpose": "", **CONSENT})
    assert response.status_code == 200
    assert db.session.scalar(select(Referral.id)) is None
    # Not a partner organisation: a shelter cannot be chosen.
    response = post_form(client, url, {"organisation_id": str(orgs["shelter_b"].id), "purpose": "试图转介",
                                       **CONSENT})
    assert response.status_code == 200 and "试图转介" in response.text
    assert db.session.scalar(select(Referral.id)) is None


def test_a_second_live_referral_to_the_same_partner_is_refused(orgs, caseworker, person):
    refer(person, orgs["hospital"], caseworker)
    with pytest.raises(service.ReferralError):
        service.refer(person, orgs["hospital"], "again", caseworker)


def test_pending_referral_shows_only_the_minimal_identity(client, orgs, caseworker, person, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    refer(person, orgs["hospital"], caseworker)
    assert access.can(clinician, "read", person, "summary")
    assert not access.can(clinician, "read", person, "medical")
    assert not access.can(clinician, "read", person, "identity")
    login(client, clinician)
    work = client.get("/referrals/")
    assert person.case_number in work.text and "转介对象" in work.text and "请诊治" in work.text
    page = client.get(f"/people/{person.id}")
    assert page.status_code == 200
    assert "转介对象" in page.text
    assert "Resident ID number" not in page.text and "居民身份证" not in page.text


def test_accepting_opens_the_partners_own_section_only(client, orgs, caseworker, person, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    referral = refer(person, orgs["hospital"], caseworker)
    login(client, clinician)
    response = post_form(client, f"/referrals/{referral.id}/accept", {}, page_url="/referrals/")
    assert response.status_code == 302
    db.session.refresh(referral)
    assert referral.status == "active"
    assert access.can(clinician, "write", person, "medical")
    for section in ("identity", "legal", "dna", "placement", "schooling", "employment", "followups"):
        assert not access.can(clinician, "read", person, section), section
    assert client.get(f"/people/{person.id}/edit").status_code == 403
    assert client.get(f"/people/{person.id}/dna").status_code == 403


def test_clinician_of_another_hospital_is_refused_and_audited(client, orgs, caseworker, person, make_user,
                                                             other_hospital):
    refer(person, orgs["hospital"], caseworker, accept_as=make_user("clinician", orgs["hospital"]))
    stranger = make_user("clinician", other_hospital)
    assert not access.can(stranger, "read", person, "medical")
    login(client, stranger)
    assert client.get(f"/people/{person.id}").status_code == 404
    assert denials(person.id)


def test_closing_the_referral_ends_access_at_once(client, orgs, caseworker, person, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    referral = refer(person, orgs["hospital"], caseworker, accept_as=clinician)
    other = client.application.test_client()
    assert login(other, clinician).status_code == 302
    assert other.get(f"/people/{person.id}").status_code == 200
    login(client, caseworker)
    response = post_form(client, f"/referrals/{referral.id}/close", {"reason": "治疗结束"})
    assert response.status_code == 302
    db.session.refresh(referral)
    assert referral.status == "closed" and referral.close_reason == "治疗结束"
    assert other.get(f"/people/{person.id}").status_code == 404
    assert person.case_number not in other.get("/referrals/").text
    assert denials(person.id)


def test_partner_declines_with_a_reason(client, orgs, caseworker, person, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    referral = refer(person, orgs["hospital"], caseworker)
    login(client, clinician)
    url = f"/referrals/{referral.id}/decline"
    assert post_form(client, url, {"reason": ""}).status_code == 200  # reason required
    db.session.refresh(referral)
    assert referral.status == "pending"
    assert post_form(client, url, {"reason": "无床位"}).status_code == 302
    db.session.refresh(referral)
    assert (referral.status, referral.decline_reason) == ("declined", "无床位")
    assert client.get(f"/people/{person.id}").status_code == 404
    own = client.application.test_client()
    login(own, caseworker)
    assert "无床位" in own.get(f"/people/{person.id}/referrals").text


def test_only_the_addressed_partner_can_answer(client, orgs, caseworker, person, make_user, other_hospital):
    referral = refer(person, orgs["hospital"], caseworker)
    # Another hospital's clinician answers referrals, not this one (404); caseworkers and managers do
    # not answer referrals at all (403 for any id).
    for user, status in ((make_user("clinician", other_hospital), 404), (caseworker, 403),
                         (make_user("manager", orgs["bureau"]), 403)):
        fresh = client.application.test_client()
        login(fresh, user)
        response = post_form(fresh, f"/referrals/{referral.id}/accept", {}, page_url="/")
        assert response.status_code == status
        db.session.refresh(referral)
        assert referral.status == "pending"
    assert len(denials(referral.id)) == 1


def test_caseworker_of_another_shelter_cannot_refer_or_close(client, orgs, caseworker, person, make_user):
    referral = refer(person, orgs["hospital"], caseworker)
    outsider = make_user("caseworker", orgs["other_shelter"])
    login(client, outsider)
    assert client.get(f"/people/{person.id}/referrals").status_code == 404
    assert client.get(f"/referrals/{referral.id}/close").status_code == 404
    db.session.refresh(referral)
    assert referral.status == "pending"


def test_manager_reads_but_cannot_refer(client, orgs, caseworker, person, make_user):
    login(client, make_user("manager", orgs["bureau"]))
    assert client.get(f"/people/{person.id}/referrals").status_code == 200
    response = post_form(client, f"/people/{person.id}/referrals",
                         {"organisation_id": str(orgs["hospital"].id), "purpose": "x", **CONSENT})
    assert response.status_code == 403
    assert db.session.scalar(select(Referral.id)) is None


def test_caseworker_sees_referrals_awaiting_a_partner(client, orgs, caseworker, person, make_user):
    refer(person, orgs["hospital"], caseworker)
    login(client, caseworker)
    assert person.case_number in client.get("/referrals/").text
    outsider = client.application.test_client()
    login(outsider, make_user("caseworker", orgs["other_shelter"]))
    assert person.case_number not in outsider.get("/referrals/").text


def test_police_reach_a_referred_person_for_identity_and_dna(client, orgs, caseworker, person, make_user):
    police = make_user("police", orgs["police"])
    refer(person, orgs["police"], caseworker, accept_as=police)
    assert access.can(police, "read", person, "identity")
    assert access.can(police, "write", person, "dna")
    assert not access.can(police, "write", person, "identity")
    login(client, police)
    assert client.get(f"/people/{person.id}/dna").status_code == 200
    listing = client.get("/people/")
    assert f'href="/people/{person.id}"' in listing.text
