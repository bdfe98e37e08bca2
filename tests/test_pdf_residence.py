"""The residence registration application (落户申请) as a PDF."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.placements import residence, service
from victimcare.placements.rules import add_months
from victimcare.referrals import service as referrals

TODAY = dt.date.today()


@pytest.fixture
def application(orgs, make_person, make_user):
    worker = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], name="无名氏甲", rescue_date=add_months(TODAY, -5),
                         tracing_notes="比对DNA三次未果")
    service.admit(person, {"placement_type": "temporary_assistance", "organisation_id": None,
                           "institution_name": "甲救助站本部", "household_relation": "none",
                           "admitted_on": add_months(TODAY, -4), "discharged_on": None}, worker)
    app = residence.draft(person, {"name": "无名氏甲", "sex": "female", "date_of_birth": None, "birth_year": 2010,
                                   "rescue_date": None, "institution": "甲救助站", "statement": "多次查找未果"}, worker)
    db.session.commit()
    return app


def text_of(response) -> str:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    return "".join("".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.data)).pages)


def test_the_application_is_prefilled_from_the_file_and_audited(client, orgs, application, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    text = text_of(client.get(f"/residence/applications/{application.id}.pdf"))
    for expected in ("落户申请", "无名氏甲", application.due_on.isoformat(), application.stay_started.isoformat(),
                     "比对DNA三次未果", "多次查找未果", "二（三）1（5）", "超过3个月仍未查明身份信息",
                     "（单位盖章）", "经办人（签字）", "公安局（派出所）", "甲救助站"):
        assert expected in text, expected
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "print")).one()
    assert event.object_id == application.person_id and event.section == "residence"
    assert event.details_dict["document"] == "residence_application"


def test_a_submitted_application_is_addressed_to_its_police_station(client, orgs, application, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    from victimcare.people.models import Person
    person = db.session.get(Person, application.person_id)
    residence.submit(application, person, orgs["police"], TODAY, user, application.version)
    db.session.commit()
    text = text_of(client.get(f"/residence/applications/{application.id}.pdf"))
    assert "派出所：" in text and "公安局（派出所）" not in text


def test_a_clinician_is_refused(client, orgs, application, make_user, logged_in):
    from victimcare.people.models import Person
    person = db.session.get(Person, application.person_id)
    clinician = logged_in("clinician", orgs["hospital"])
    # Clinicians never read the residence section: 403 before the application is looked up, referred or not.
    assert client.get(f"/residence/applications/{application.id}.pdf").status_code == 403
    referral = referrals.refer(person, orgs["hospital"], "体检", make_user("caseworker", orgs["shelter_a"]))
    referrals.accept(referral, clinician)
    db.session.commit()
    response = client.get(f"/residence/applications/{application.id}.pdf")
    assert response.status_code == 403 and response.mimetype == "text/html"
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).all()
    assert [(e.details_dict["status"], e.object_id) for e in denied] == [(403, person.id), (403, person.id)]
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "print")).all()


def test_another_shelters_caseworker_gets_404(client, orgs, application, logged_in):
    logged_in("caseworker", orgs["shelter_b"])
    assert client.get(f"/residence/applications/{application.id}.pdf").status_code == 404
    assert client.get("/residence/applications/nonexistent.pdf").status_code == 404
