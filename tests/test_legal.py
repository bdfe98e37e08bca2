"""Legal aid (DOMAIN.md section 5): status path, outcome rules, forms, history, locking, permissions."""
import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.legal import rules
from victimcare.legal.models import LegalAid
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import csrf_from, login, post_form

TODAY = dt.date.today()
APPLIED = (TODAY - dt.timedelta(days=30)).isoformat()


@pytest.fixture
def centre(make_org, orgs):
    return make_org("测试法律援助中心", "legal_aid", "320102", orgs["bureau"])


@pytest.fixture
def other_centre(make_org, orgs):
    return make_org("另一法律援助中心", "legal_aid", "320104", orgs["bureau"])


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="法援对象")


def refer(person, org, caseworker, partner=None):
    referral = referrals.refer(person, org, "请提供法律援助", caseworker)
    if partner is not None:
        referrals.accept(referral, partner)
    db.session.commit()
    return referral


@pytest.fixture
def lawyer(make_user, centre, person, caseworker):
    user = make_user("legal_aid", centre)
    refer(person, centre, caseworker, user)
    return user


def form_data(**overrides):
    data = {"application_date": APPLIED, "agency_id": "", "lawyer_name": "王律师", "green_channel": "y",
            "matter": "victim_representation", "details": "代理刑事附带民事诉讼", "status": "applied",
            "outcome": "", "outcome_date": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def errors_on(response) -> list[str]:
    """The fields marked with an error message on the page (independent of the language)."""
    return re.findall(r'<p class="error" id="([a-z_]+)-error"', response.text)


def as_user(client, user):
    """A fresh browser logged in as ``user``."""
    other = client.application.test_client()
    assert login(other, user).status_code == 302
    return other


def entries():
    return db.session.scalars(select(LegalAid)).all()


def denials(person_id, section="legal"):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "denied", AuditEvent.object_id == person_id, AuditEvent.section == section))


def new_url(person):
    return f"/people/{person.id}/legal/new"


def create(client, person, centre, **overrides):
    response = post_form(client, new_url(person), form_data(agency_id=str(centre.id), **overrides))
    assert response.status_code == 302, response.text
    return db.session.scalars(select(LegalAid).order_by(LegalAid.created_at.desc())).first()


# -- rules ---------------------------------------------------------------------
def test_status_path_goes_forward_only():
    assert set(rules.allowed_next(None)) == set(rules.ORDER) | {"refused", "withdrawn"}
    assert "refused" in rules.allowed_next("applied")
    assert "refused" not in rules.allowed_next("accepted")
    assert "applied" not in rules.allowed_next("accepted")
    assert rules.allowed_next("in_progress") == ("in_progress", "concluded", "withdrawn")
    assert "concluded" in rules.allowed_next("applied")  # recorded late: steps may be skipped
    for final in rules.FINAL:
        assert rules.allowed_next(final) == (final,)


def test_outcome_rules_on_their_edges():
    day = dt.date(2026, 3, 1)
    assert rules.outcome_problems("concluded", None, None, day) == {
        "outcome": "outcome_required", "outcome_date": "outcome_date_required"}
    assert rules.outcome_problems("concluded", "胜诉", day, day) == {}  # same day as the application
    assert rules.outcome_problems("concluded", "胜诉", day - dt.timedelta(days=1), day) == {
        "outcome_date": "before_application"}
    assert rules.outcome_problems("in_progress", "胜诉", None, day) == {"status": "outcome_too_early"}
    assert rules.outcome_problems("refused", None, None, day) == {}
    assert rules.outcome_problems("withdrawn", "本人撤回", day, day) == {}


# -- the form ------------------------------------------------------------------
def test_legal_aid_user_records_an_application(client, person, centre, lawyer):
    login(client, lawyer)
    page = client.get(new_url(person))
    assert page.status_code == 200
    assert re.search(rf'<option (selected value="{centre.id}"|value="{centre.id}" selected)', page.text)
    entry = create(client, person, centre)
    assert (entry.status, entry.matter, entry.green_channel, entry.office_id) == (
        "applied", "victim_representation", True, centre.id)
    assert entry.lawyer_name == "王律师" and "王律师" not in entry.lawyer_name_enc
    assert "代理" not in entry.details_enc
    listing = client.get(f"/people/{person.id}/legal")
    assert "王律师" in listing.text and APPLIED in listing.text
    revision = db.session.scalar(select(PersonRevision).where(PersonRevision.entry_id == entry.id))
    assert revision.section == "legal" and "王律师" not in revision.changes_enc
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == person.id,
                                                                 AuditEvent.section == "legal")).all()
    assert "create" in actions and "view" in actions


def test_concluded_needs_outcome_and_date_and_keeps_input(client, person, centre, lawyer):
    login(client, lawyer)
    response = post_form(client, new_url(person), form_data(agency_id=str(centre.id), status="concluded",
                                                            lawyer_name="李律师甲"))
    assert response.status_code == 200
    assert errors_on(response) == ["outcome", "outcome_date"]
    assert "李律师甲" in response.text and entries() == []
    entry = create(client, person, centre, status="concluded", outcome="获赔三万元", outcome_date=TODAY.isoformat())
    assert entry.outcome == "获赔三万元" and entry.outcome_date == TODAY


@pytest.mark.parametrize("overrides, field", [
    ({"application_date": ""}, "application_date"),
    ({"application_date": (TODAY + dt.timedelta(days=1)).isoformat()}, "application_date"),
    ({"application_date": "2026-02-30"}, "application_date"),
    ({"matter": ""}, "matter"),
    ({"matter": "divorce"}, "matter"),
    ({"agency_id": "999999"}, "agency_id"),
    ({"status": "in_progress", "outcome": "提前写的结果"}, "status"),
    ({"status": "accepted", "outcome_date": APPLIED}, "status"),
    ({"status": "concluded", "outcome": "结果", "outcome_date": (TODAY - dt.timedelta(days=31)).isoformat()},
     "outcome_date"),
    ({"status": "concluded", "outcome": "结果", "outcome_date": (TODAY + dt.timedelta(days=1)).isoformat()},
     "outcome_date"),
    ({"lawyer_name": "律" * 101}, "lawyer_name"),
])
def test_form_errors_save_nothing(client, person, centre, lawyer, overrides, field):
    login(client, lawyer)
    data = form_data(agency_id=str(centre.id), details="保留的案情说明")
    data.update(overrides)
    response = post_form(client, new_url(person), data)
    assert response.status_code == 200
    assert errors_on(response) == [field]
    assert "保留的案情说明" in response.text
    assert entries() == []


def test_a_shelter_is_not_a_legal_aid_agency(client, person, centre, lawyer, orgs):
    login(client, lawyer)
    response = post_form(client, new_url(person), form_data(agency_id=str(orgs["shelter_a"].id)))
    assert response.status_code == 200 and errors_on(response) == ["agency_id"] and entries() == []


# -- editing -------------------------------------------------------------------
def edit(client, entry, **overrides):
    url = f"/legal/{entry.id}/edit"
    page = client.get(url)
    data = form_data(agency_id=str(entry.agency_id), version=str(entry.version), **overrides)
    return client.post(url, data={"csrf_token": csrf_from(page.text), **data})


def test_edit_keeps_history_and_follows_the_path(client, person, centre, lawyer):
    login(client, lawyer)
    entry = create(client, person, centre, status="in_progress")
    response = edit(client, entry, status="applied")
    assert response.status_code == 200 and errors_on(response) == ["status"]
    db.session.refresh(entry)
    assert entry.status == "in_progress"
    response = edit(client, entry, status="concluded", outcome="调解结案", outcome_date=TODAY.isoformat())
    assert response.status_code == 302
    db.session.refresh(entry)
    assert (entry.status, entry.outcome, entry.version) == ("concluded", "调解结案", 2)
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.entry_id == entry.id)).all()
    assert len(revisions) == 2
    assert '"status": ["in_progress", "concluded"]' in max(revisions, key=lambda r: r.changed_at).changes
    history = client.get(f"/people/{person.id}/history")
    assert "调解结案" in history.text


def test_a_stale_edit_is_a_conflict_and_keeps_input(client, person, centre, lawyer):
    login(client, lawyer)
    entry = create(client, person, centre)
    url = f"/legal/{entry.id}/edit"
    token = csrf_from(client.get(url).text)
    first = form_data(agency_id=str(centre.id), version="1", lawyer_name="第一位律师")
    assert client.post(url, data={"csrf_token": token, **first}).status_code == 302
    second = form_data(agency_id=str(centre.id), version="1", lawyer_name="第二位律师")
    response = client.post(url, data={"csrf_token": token, **second})
    assert response.status_code == 409
    assert "第二位律师" in response.text and 'value="2"' in response.text
    db.session.expire_all()
    assert db.session.get(LegalAid, entry.id).lawyer_name == "第一位律师"


def test_a_closed_file_takes_no_new_application(client, person, centre, lawyer):
    person.status = "closed"
    db.session.commit()
    login(client, lawyer)
    assert client.get(f"/people/{person.id}/legal").status_code == 200
    assert client.get(new_url(person)).status_code == 409


# -- who may -------------------------------------------------------------------
def test_legal_aid_user_of_another_centre_gets_404_audited(client, person, centre, lawyer, other_centre,
                                                           make_user):
    login(client, lawyer)
    entry = create(client, person, centre)
    client = as_user(client, make_user("legal_aid", other_centre))
    before = denials(person.id)
    assert client.get(f"/people/{person.id}/legal").status_code == 404
    assert client.get(new_url(person)).status_code == 404
    assert client.get(f"/legal/{entry.id}/edit").status_code == 404
    assert denials(person.id) == before + 3


def test_another_referred_centre_reads_but_does_not_edit_this_centres_entry(client, person, centre, lawyer,
                                                                           other_centre, caseworker, make_user):
    login(client, lawyer)
    entry = create(client, person, centre)
    second = make_user("legal_aid", other_centre)
    refer(person, other_centre, caseworker, second)
    client = as_user(client, second)
    assert "王律师" in client.get(f"/people/{person.id}/legal").text
    before = denials(person.id)
    assert client.get(f"/legal/{entry.id}/edit").status_code == 403
    assert denials(person.id) == before + 1


def test_pending_and_closed_referrals_give_no_legal_section(client, person, centre, caseworker, make_user):
    user = make_user("legal_aid", centre)
    referral = refer(person, centre, caseworker)
    login(client, user)
    assert client.get(f"/people/{person.id}/legal").status_code == 403  # pending: minimal identity only
    referrals.accept(referral, user)
    db.session.commit()
    assert client.get(f"/people/{person.id}/legal").status_code == 200
    referrals.close(referral, "援助结束", caseworker)
    db.session.commit()
    before = denials(person.id)
    assert client.get(f"/people/{person.id}/legal").status_code == 404
    assert post_form(client, new_url(person), form_data(agency_id=str(centre.id)),
                     page_url="/referrals/").status_code == 404
    assert denials(person.id) == before + 2 and entries() == []


def test_employment_user_cannot_write_the_legal_section(client, person, caseworker, make_user, make_org, orgs):
    office = make_org("人社局就业服务中心", "employment_office", "320102", orgs["bureau"])
    officer = make_user("employment", office)
    refer(person, office, caseworker, officer)
    login(client, officer)
    before = denials(person.id)
    assert client.get(new_url(person)).status_code == 403
    assert client.get(f"/people/{person.id}/legal").status_code == 403
    assert denials(person.id) == before + 2


def test_caseworker_and_manager_read_only(client, person, centre, lawyer, caseworker, make_user, orgs):
    login(client, lawyer)
    entry = create(client, person, centre)
    manager = make_user("manager", orgs["bureau"])
    for reader in (caseworker, manager):
        client = as_user(client, reader)
        listing = client.get(f"/people/{person.id}/legal")
        assert listing.status_code == 200 and "王律师" in listing.text
        assert f"/legal/{entry.id}/edit" not in listing.text
        before = denials(person.id)
        assert client.get(new_url(person)).status_code == 403
        assert client.get(f"/legal/{entry.id}/edit").status_code == 403
        assert denials(person.id) == before + 2
    assert len(entries()) == 1


def test_summary_card_is_registered_for_the_file_page(app, person, centre, lawyer):
    from flask import render_template
    from victimcare.legal import service
    from victimcare.sections import REGISTRY
    section = REGISTRY["legal"]
    assert section.endpoint == "legal.for_person"
    entry = service.create(person, {"application_date": dt.date(2026, 1, 5), "agency_id": centre.id,
                                    "matter": "compensation", "status": "accepted", "green_channel": True},
                           lawyer)
    db.session.commit()
    with app.test_request_context():
        html = render_template(section.summary_template, data=section.load(person))
    assert "2026-01-05" in html and centre.name in html and entry.status == "accepted"


def test_manager_of_another_bureau_does_not_see_it(client, person, centre, lawyer, make_user, orgs):
    manager = make_user("manager", orgs["other_bureau"])
    login(client, manager)
    assert client.get(f"/people/{person.id}/legal").status_code == 404
    assert denials(person.id) == 1
