"""A caseworker's day in a real browser (issue 6, point 1): everything through the UI (typing,
choosing, clicking), checking what the user sees and what the database holds.

1. register a rescued child, place her, refer her to a hospital; the clinician logs a visit with
   costs; the manager prints the PDF summary;
2. the three-month residence rule: due on the residence page, drafted and submitted by the
   caseworker, registered by the police;
3. the language switch: every page these journeys pass is checked in Chinese, in English after the
   header's language link, and in Chinese again, on the same page (``language_round_trip``).
"""
from __future__ import annotations

import datetime as dt
import io
import os
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.extensions import db

from .conftest import release_database
from .support import (ARTIFACTS, assert_language, assert_success, language_round_trip, log_out, open_tab,
                      person_id_from_url, submit, where)

pytestmark = pytest.mark.e2e

TODAY = dt.date.today()


def _register(page, *, name, sex, date_of_birth=None, estimated_age=None, rescue_date, rescue_place, notes):
    """The registration form, through the header's link. The place of origin is left empty (its
    widget may be a text box or the province/city/county picker)."""
    page.locator('header nav a[href="/people/new"]').click()
    page.wait_for_load_state()
    language_round_trip(page, "register")
    page.locator("#name").fill(name)
    page.locator("#sex").select_option(sex)
    if date_of_birth:
        page.locator("#date_of_birth").fill(date_of_birth.isoformat())
    if estimated_age is not None:
        page.locator("#estimated_age").fill(str(estimated_age))
    page.locator("#rescue_date").fill(rescue_date.isoformat())
    page.locator("#rescue_place").fill(rescue_place)
    page.locator("#identity_status").select_option("unidentified")
    page.locator("#notes").fill(notes)
    submit(page, "main form")
    assert "/people/new" not in page.url, page.locator("main").inner_text()[:800]
    assert_success(page)
    return person_id_from_url(page)


def accept_referral_and_open(page, case_number, who):
    """A partner's referrals page: accept the referral of that case, then open the file."""
    page.locator('header nav a[href="/referrals/"]').click()
    page.wait_for_load_state()
    language_round_trip(page, f"referrals-{who}")
    row = page.locator("main table.list tr", has_text=case_number)
    row.locator("form button[type=submit]").click()
    page.wait_for_load_state()
    assert_success(page)
    page.locator("main table.list a", has_text=case_number).click()
    page.wait_for_load_state()
    language_round_trip(page, f"person-view-{who}")


def _admit(page, organisation_id, admitted_on, reason):
    open_tab(page, "/placements")
    language_round_trip(page, None)
    form = "main section.card form"
    page.locator(f"{form} #placement_type").select_option("temporary_assistance")
    page.locator(f"{form} #organisation_id").select_option(str(organisation_id))
    page.locator(f"{form} #household_relation").select_option("none")
    page.locator(f"{form} #admitted_on").fill(admitted_on.isoformat())
    page.locator(f"{form} #reason").fill(reason)
    submit(page, form)
    assert_success(page)
    assert admitted_on.isoformat() in page.locator("main table.list").inner_text()


# -- journey 1 ----------------------------------------------------------------------------------------
def test_child_registered_placed_referred_treated_and_printed(page, login, orgs, make_user):
    from victimcare.medical.models import MedicalVisit
    from victimcare.people.models import Person
    from victimcare.placements.models import Placement
    from victimcare.referrals.models import Referral

    caseworker = make_user("caseworker", orgs["shelter_a"])
    clinician = make_user("clinician", orgs["hospital"])
    manager = make_user("manager", orgs["bureau"])
    shelter_id, hospital_id = orgs["shelter_a"].id, orgs["hospital"].id
    release_database()

    # The caseworker registers the child, places her in the shelter, refers her to the hospital.
    page.goto("/login")
    language_round_trip(page, "login")
    login(page, caseworker)
    language_round_trip(page, "home-caseworker")
    person_id = _register(page, name="林小梅", sex="female", date_of_birth=dt.date(2014, 3, 8),
                          rescue_date=TODAY - dt.timedelta(days=12), rescue_place="云南省边境某村",
                          notes="解救时身体虚弱，需要体检。")
    case_number = page.locator("header.file-header h1").inner_text().split("·")[0].strip()
    assert case_number in assert_success(page)
    language_round_trip(page, "person-view")

    _admit(page, shelter_id, TODAY - dt.timedelta(days=10), "解救后临时安置")
    language_round_trip(page, "placements")

    open_tab(page, "/referrals")
    language_round_trip(page, "referrals")
    form = "main section.card form"
    page.locator(f"{form} #organisation_id").select_option(str(hospital_id))
    page.locator(f"{form} #purpose").fill("请为孩子进行全面体检和心理评估。")
    page.locator(f"{form} #basis").select_option("consent")
    page.locator(f"{form} #consent_given_by").select_option("guardian")
    page.locator(f"{form} #consent_given_on").fill(TODAY.isoformat())
    submit(page, form)
    assert "转介" in assert_success(page)
    assert "指定医院" in page.locator("main table.list").inner_text()
    log_out(page)

    # The clinician accepts the referral and records a visit with its costs.
    login(page, clinician)
    accept_referral_and_open(page, case_number, "hospital")
    open_tab(page, "/medical")
    language_round_trip(page, None)
    form = "#new-visit form"
    page.locator(f"{form} #visit_date").fill(TODAY.isoformat())
    page.locator(f"{form} #visit_type").select_option("basic_medical")
    page.locator(f"{form} #diagnosis").fill("营养不良，轻度贫血")
    page.locator(f"{form} #notes").fill("补充营养，两周后复查。")
    page.locator(f"{form} #total_cost").fill("1280.50")
    page.locator(f"{form} #insurance_paid").fill("800")
    submit(page, form)
    assert_success(page)
    visits = page.locator("main table.list").first.inner_text()
    assert "1280.50" in visits and "800.00" in visits and "480.50" in visits, visits
    language_round_trip(page, "medical")
    log_out(page)

    # The manager (two-factor) finds the file and prints the summary.
    login(page, manager)
    language_round_trip(page, "home-manager")
    page.locator("#quick-q").fill(case_number)
    page.locator("header form.quick-search button[type=submit]").click()
    page.wait_for_load_state()
    if "/people/?" in page.url:  # a list of matches (an exact case number may open the file at once)
        language_round_trip(page, "caseload-search")
        page.locator("main table a", has_text=case_number).first.click()
        page.wait_for_load_state()
    assert person_id_from_url(page) == person_id
    language_round_trip(page, "person-view-manager")
    page.locator('header.file-header nav a[href$="/print"]').click()
    page.wait_for_load_state()
    language_round_trip(page, "print")
    page.locator("#purpose").fill("个案会商")
    page.locator('input[name="variant"][value="full"]').check()
    with page.expect_download() as download_info:
        page.locator("main form button[type=submit]").click()
    download = download_info.value
    assert download.suggested_filename == f"{case_number}.pdf"
    pdf_path = os.path.join(ARTIFACTS, f"summary-{case_number}.pdf")
    download.save_as(pdf_path)
    with open(pdf_path, "rb") as f:
        content = f.read()
    assert content.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert case_number in text
    assert "林小梅" in text and "医疗" in text, text[:500]
    assert "480.50" in text, text

    # What the database holds.
    person = db.session.get(Person, person_id)
    assert (person.case_number, person.name, person.organisation_id) == (case_number, "林小梅", shelter_id)
    assert person.identity_status == "unidentified" and person.date_of_birth == dt.date(2014, 3, 8)
    stays = db.session.scalars(select(Placement).where(Placement.person_id == person_id)).all()
    assert [(s.organisation_id, s.admitted_on, s.discharged_on) for s in stays] == \
        [(shelter_id, TODAY - dt.timedelta(days=10), None)]
    referral = db.session.scalar(select(Referral).where(Referral.person_id == person_id))
    assert (referral.organisation_id, referral.status, referral.section) == (hospital_id, "active", "medical")
    visit = db.session.scalar(select(MedicalVisit).where(MedicalVisit.person_id == person_id))
    assert (visit.total_cost, visit.insurance_paid, visit.self_pay) == \
        (Decimal("1280.50"), Decimal("800.00"), Decimal("480.50"))
    assert visit.organisation_id == hospital_id and visit.diagnosis == "营养不良，轻度贫血"
    _assert_printed(person_id, manager.id)
    release_database()


def _assert_printed(person_id, user_id):
    from victimcare.audit import AuditEvent
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == person_id,
                                                       AuditEvent.action == "print")).all()
    assert [r.user_id for r in rows] == [user_id]


# -- journey 2 ----------------------------------------------------------------------------------------
def test_residence_application_due_drafted_submitted_registered(page, login, orgs, make_user):
    from victimcare.placements.models import ResidenceApplication
    from victimcare.placements.rules import residence_due_date
    from victimcare.referrals.models import Referral

    caseworker = make_user("caseworker", orgs["shelter_a"])
    police = make_user("police", orgs["police"])
    shelter_id, police_id = orgs["shelter_a"].id, orgs["police"].id
    release_database()
    # Admitted three months and ten days ago: the application is due, not yet overdue (30 days).
    admitted = TODAY - dt.timedelta(days=100)
    due = residence_due_date(admitted)
    assert due <= TODAY < due + dt.timedelta(days=30)

    login(page, caseworker)
    # The admission date is typed in the placement form: the UI takes a past date, no seeding needed.
    person_id = _register(page, name="阿花", sex="female", estimated_age=28,
                          rescue_date=admitted - dt.timedelta(days=1), rescue_place="福建省某镇",
                          notes="自述不记得家乡地址。")
    case_number = page.locator("header.file-header h1").inner_text().split("·")[0].strip()
    _admit(page, shelter_id, admitted, "身份不明，长期安置")

    page.locator('header nav a[href="/residence/"]').click()
    page.wait_for_load_state()
    language_round_trip(page, "residence-list")
    row = page.locator("main table.list tr", has_text=case_number)
    assert row.count() == 1
    assert "应申请" in row.inner_text() and due.isoformat() in row.inner_text(), row.inner_text()
    row.locator("a", has_text=case_number).click()
    page.wait_for_load_state()
    language_round_trip(page, "residence-person")
    page.locator(f'main a[href="/people/{person_id}/residence/draft"]').click()
    page.wait_for_load_state()
    language_round_trip(page, "residence-draft")
    if not page.locator("#institution").input_value():
        page.locator("#institution").fill("甲救助站")
    page.locator("#statement").fill("2026年被解救后送至本站，DNA比对无结果，本人无法提供家乡信息。")
    submit(page, "main form")
    assert "起草" in assert_success(page)
    assert "已起草" in page.locator("main").inner_text()

    form = 'main form[action$="/submit"]'
    page.locator(f"{form} #police_organisation_id").select_option(str(police_id))
    page.locator(f"{form} #submitted_on").fill(TODAY.isoformat())
    submit(page, form)
    assert "提交" in assert_success(page)
    assert "已提交" in page.locator("main").inner_text()
    language_round_trip(page, "residence-submitted")
    log_out(page)

    # The police station accepts the referral the submission made, and records the registration.
    login(page, police)
    accept_referral_and_open(page, case_number, "police")
    open_tab(page, "/residence")
    language_round_trip(page, "residence-police")
    form = 'main form[action$="/register"]'
    page.locator(f"{form} #registered_on").fill(TODAY.isoformat())
    page.locator(f"{form} #hukou_number").fill("320102000123")
    submit(page, form)
    assert_success(page)
    assert "已落户" in page.locator("main").inner_text()
    language_round_trip(page, "residence-registered")

    application = db.session.scalar(select(ResidenceApplication)
                                    .where(ResidenceApplication.person_id == person_id))
    assert (application.status, application.stay_started, application.due_on) == ("registered", admitted, due)
    assert (application.submitted_on, application.registered_on) == (TODAY, TODAY)
    assert application.police_organisation_id == police_id and application.hukou_number == "320102000123"
    assert application.registered_by_id == police.id
    referral = db.session.scalar(select(Referral).where(Referral.person_id == person_id))
    assert (referral.organisation_id, referral.status) == (police_id, "active")
    release_database()


# -- journey 3 ----------------------------------------------------------------------------------------
def test_language_choice_is_kept_across_log_in_and_pages(page, login, orgs, make_user):
    """Journeys 1 and 2 switch language on every page they pass (language_round_trip). Here: the
    choice made on the log-in page holds after logging in and from page to page, until switched back."""
    caseworker = make_user("caseworker", orgs["shelter_a"])
    page.goto("/login")
    assert_language(page, "zh")
    page.locator("header .lang a").click()
    page.wait_for_load_state()
    assert where(page) == "/login"
    assert_language(page, "en")
    login(page, caseworker)
    assert_language(page, "en")
    for link in ("/people/", "/people/new", "/residence/", "/referrals/"):
        page.locator(f'header nav a[href="{link}"]').click()
        page.wait_for_load_state()
        assert where(page) == link
        assert_language(page, "en")
    page.locator("header .lang a").click()
    page.wait_for_load_state()
    assert where(page) == "/referrals/"
    assert_language(page, "zh")
    page.locator('header nav a[href="/residence/"]').click()
    page.wait_for_load_state()
    assert_language(page, "zh")
