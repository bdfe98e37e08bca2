"""PDF case summaries: sections by role, footer, page numbers, de-identification, escaping, refusals."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.disclosures.models import Disclosure
from victimcare.extensions import db
from victimcare.medical import service as medical
from victimcare.placements import service as placements
from victimcare.referrals import service as referrals

from .conftest import csrf_from

TODAY = dt.date.today()
NAME, ALIAS, ID_NUMBER = "王秀英", "小红", "320102199001011234"
SECRETS = (NAME, ALIAS, ID_NUMBER, "南京市某路8号", "13800138000", "宁公刑字2024第001号")


def errors_of(response) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]*)', response.get_data(as_text=True))


def pages_text(response) -> list[str]:
    assert response.status_code == 200, errors_of(response)
    assert response.mimetype == "application/pdf"
    return [p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages]


def compact(text: str) -> str:
    return "".join(text.split())


@pytest.fixture
def worker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, make_user, worker):
    """A file with an identity, a stay and a medical visit from the hospital it is referred to."""
    p = make_person(orgs["shelter_a"], name=NAME, aliases=ALIAS, id_number=ID_NUMBER,
                    origin_address="南京市某路8号", contact="13800138000", police_case_number="宁公刑字2024第001号",
                    rescue_date=TODAY - dt.timedelta(days=40), tracing_notes="多次走访未果")
    placements.admit(p, {"placement_type": "temporary_assistance", "organisation_id": None,
                         "institution_name": "甲救助站本部", "household_relation": "none",
                         "admitted_on": TODAY - dt.timedelta(days=30), "discharged_on": None}, worker)
    clinician = make_user("clinician", orgs["hospital"])
    referral = referrals.refer(p, orgs["hospital"], "体检", worker)
    referrals.accept(referral, clinician)
    medical.add_visit(p, {"visit_date": TODAY - dt.timedelta(days=20), "visit_type": "outpatient",
                          "diagnosis": "轻度贫血", "notes": "复查", "total_cost": Decimal("300.00"),
                          "insurance_paid": Decimal("100.00")}, clinician)
    db.session.commit()
    return p


def print_pdf(client, person, **values):
    data = {"purpose": "个案会议讨论", "variant": "full", "recipient_name": "", "basis": "", "consent_given_by": "",
            "consent_given_on": "", "legal_basis": "", **values}  # what a browser sends
    return client.post(f"/people/{person.id}/print",
                       data={"csrf_token": csrf_from(client.get(f"/people/{person.id}/print").text), **data})


def prints(person):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "print",
                                                       AuditEvent.object_id == person.id)).all()


def test_caseworker_summary_has_her_sections_and_no_medical(client, orgs, person, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    response = print_pdf(client, person)
    pages = pages_text(response)
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = compact("".join(pages))
    assert person.case_number in text and NAME in text and ID_NUMBER in text
    assert "甲救助站本部" in text         # placement
    assert "轻度贫血" not in text         # medical is not hers to read
    events = prints(person)
    assert len(events) == 1
    details = events[0].details_dict
    assert details["variant"] == "full" and "medical" not in details["sections"]
    assert "placement" in details["sections"] and details["pages"] >= 2
    assert details["purpose_length"] == len("个案会议讨论") and "个案会议讨论" not in events[0].details
    assert events[0].user_id == user.id


def test_manager_summary_has_the_medical_section(client, orgs, person, logged_in):
    logged_in("manager", orgs["bureau"])
    text = compact("".join(pages_text(print_pdf(client, person))))
    assert "轻度贫血" in text and NAME in text
    assert "medical" in prints(person)[0].details_dict["sections"]


def test_clinician_with_an_active_referral_gets_only_minimal_identity_and_medical(client, orgs, person):
    from victimcare.auth.models import User

    from .conftest import login
    clinician = db.session.scalar(select(User).where(User.role == "clinician"))
    login(client, clinician)
    text = compact("".join(pages_text(print_pdf(client, person, variant="full"))))
    assert person.case_number in text and NAME in text and "轻度贫血" in text
    assert ID_NUMBER not in text and "甲救助站本部" not in text and "南京市某路8号" not in text
    assert prints(person)[0].details_dict["sections"] == ["summary", "medical"]


def test_footer_names_the_printer_and_purpose_on_every_page_with_page_numbers(client, orgs, person, logged_in):
    logged_in("manager", orgs["bureau"], username="footerboss")
    from victimcare.auth.models import User
    user = db.session.scalar(select(User).where(User.username == "footerboss"))
    pages = pages_text(print_pdf(client, person, purpose="转介评估会"))
    assert len(pages) >= 3
    stamp = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d")
    for number, text in enumerate(pages, start=1):
        flat = compact(text)
        assert user.display_name in flat and "转介评估会" in flat and stamp in flat
        assert f"第{number}页/共{len(pages)}页" in flat


def test_deidentified_variant_leaves_out_every_identifier(client, orgs, person, logged_in):
    logged_in("manager", orgs["bureau"])
    response = print_pdf(client, person, variant="deidentified")
    text = compact("".join(pages_text(response)))
    for secret in SECRETS + ("张*", "多次走访未果"):
        assert secret not in text
    for part in (NAME[:1] + "*", NAME[1:]):  # not even partly masked
        assert part not in text
    assert "（已隐去）" in text and person.case_number in text and "轻度贫血" in text
    cover = compact(PdfReader(io.BytesIO(response.data)).pages[0].extract_text())
    assert person.case_number in cover and NAME not in cover
    assert PdfReader(io.BytesIO(response.data)).metadata.title == person.case_number
    assert prints(person)[0].details_dict["variant"] == "deidentified"


def test_markup_typed_into_a_name_is_printed_as_text(client, orgs, make_person, logged_in):
    person = make_person(orgs["shelter_a"], name='<script>alert(1)</script><b>李</b>')
    logged_in("caseworker", orgs["shelter_a"])
    text = compact("".join(pages_text(print_pdf(client, person))))
    assert "<script>alert(1)</script><b>李</b>" in text


def test_another_shelters_caseworker_gets_404_and_it_is_audited(client, orgs, person, logged_in):
    logged_in("caseworker", orgs["shelter_b"])
    assert client.get(f"/people/{person.id}/print").status_code == 404
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                         AuditEvent.object_id == person.id)).all()
    assert denied and denied[-1].details_dict["status"] == 404
    assert not prints(person)


def test_the_form_refuses_a_missing_purpose_and_keeps_the_input(client, orgs, person, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = print_pdf(client, person, purpose="  ", variant="deidentified", recipient_name="某某医院")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert errors_of(response)
    assert re.search(r'<input checked[^>]*value="deidentified"', response.text)
    assert "某某医院" in response.text
    assert not prints(person)


def test_identified_print_for_another_agency_needs_consent_or_legal_basis(client, orgs, person, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = print_pdf(client, person, for_agency="y", recipient_name="某区法律援助中心")
    assert response.status_code == 400 and response.mimetype == "text/html" and errors_of(response)
    assert not prints(person) and not db.session.scalars(select(Disclosure).where(Disclosure.kind == "identified_print")).all()

    response = print_pdf(client, person, for_agency="y", recipient_name="某区法律援助中心", basis="consent",
                         consent_given_by="person", consent_given_on=TODAY.isoformat())
    assert NAME in compact("".join(pages_text(response)))
    disclosure = db.session.scalars(select(Disclosure).where(Disclosure.kind == "identified_print")).one()
    assert disclosure.kind == "identified_print" and disclosure.recipient_name == "某区法律援助中心"
    assert "identity" in disclosure.sections.split(",")
    assert prints(person)[0].details_dict["for_agency"] is True


def test_deidentified_print_for_another_agency_is_not_a_disclosure(client, orgs, person, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = print_pdf(client, person, variant="deidentified", for_agency="y", recipient_name="某大学")
    assert NAME not in compact("".join(pages_text(response)))
    assert not db.session.scalars(select(Disclosure).where(Disclosure.kind == "identified_print")).all()


def test_a_partner_cannot_hand_an_identified_print_to_another_agency(client, orgs, person):
    from victimcare.auth.models import User

    from .conftest import login
    login(client, db.session.scalar(select(User).where(User.role == "clinician")))
    response = print_pdf(client, person, for_agency="y", recipient_name="外单位", basis="legal_basis",
                         legal_basis="公安机关调取证据通知书")
    assert response.status_code == 400 and errors_of(response)
    assert not prints(person) and not db.session.scalars(select(Disclosure).where(Disclosure.kind == "identified_print")).all()
