"""Concurrent users. Two users open the same form of every editable section, the first saves, then
the second: the second gets a conflict page (409) with their own input kept and the first user's
change named, and nothing is overwritten (the database holds the first save, the history one change).
Then several processes write the audit chain at once (test_audit_chain_holds_with_processes_writing_at_once)."""
from __future__ import annotations

import dataclasses
import html
import multiprocessing
from decimal import Decimal
from typing import Callable

import pytest
from sqlalchemy import func, select

from victimcare import audit
from victimcare.extensions import db
from victimcare.people.models import Person, PersonRevision

from .resilience_support import TODAY, World, browser, days_ago, form_on

@dataclasses.dataclass
class Case:
    users: tuple
    url: str                       # the page with the form
    field: str                     # the field both users change
    values: tuple                  # what the first and the second user type
    read: Callable                 # the stored value of the field
    history: Callable              # how many changes the history holds
    post: str | None = None        # where the form posts, if not to the page itself
    fill: dict = dataclasses.field(default_factory=dict)  # other fields both users fill in
    resave: bool = True            # saving again from the conflict page is possible (an edit)
    shows_theirs: bool = True      # the conflict page shows the first user's value itself
    shows: str | None = None       # ... or this, the first user's change as the page shows it
    kept: bool = True              # the step is still possible, so its form (with the input) is shown


def _revisions(**where) -> Callable:
    def count():
        query = select(func.count()).select_from(PersonRevision)
        for name, value in where.items():
            column = getattr(PersonRevision, name)
            query = query.where(column.is_(None) if value is None else column == value)
        return db.session.scalar(query)
    return count


def _get(model, entry_id, attr):
    return lambda: getattr(db.session.get(model, entry_id), attr)


# -- one row per editable section -----------------------------------------------------------------
def identity(w):
    p = w.person
    return Case(w.caseworkers, f"/people/{p.id}/edit", "notes", ("甲的备注", "乙的备注"),
                _get(Person, p.id, "notes"), _revisions(person_id=p.id, entry_id=None))


def dna(w):
    users, _r = w.partners("police", w.orgs["police"])
    p = w.person
    return Case(users, f"/people/{p.id}/dna", "dna_reference", ("DNA-JIA-01", "DNA-YI-02"),
                _get(Person, p.id, "dna_reference"), _revisions(person_id=p.id, entry_id=None),
                fill={"dna_sample_taken": "y"})


def placement_edit(w):
    from victimcare.placements.models import Placement
    stay = w.stay()
    return Case(w.caseworkers, f"/placements/{stay.id}/edit", "reason", ("甲的安置原因", "乙的安置原因"),
                _get(Placement, stay.id, "reason"), _revisions(entry_id=stay.id))


def placement_transfer(w):
    """Both see the same current stay and record a transfer: the second must not discharge the
    stay the first just opened (the form carries the stay it was read with)."""
    from victimcare.placements.models import Placement
    w.stay()
    p = w.person

    def newest_reason():
        stays = db.session.scalars(select(Placement).where(Placement.person_id == p.id)
                                   .order_by(Placement.created_at.desc())).all()
        return stays[0].reason if len(stays) == 2 else f"{len(stays)} stays"
    return Case(w.caseworkers, f"/people/{p.id}/placements", "reason", ("甲的转移原因", "乙的转移原因"),
                newest_reason,  # one save, one new stay (its revisions: the discharge and the admission)
                lambda: db.session.scalar(select(func.count()).select_from(Placement)
                                          .where(Placement.person_id == p.id)),
                fill={"transfer": "y", "placement_type": "transit_rehabilitation",
                      "admitted_on": days_ago(1).isoformat(), "institution_name": "乙康复中心",
                      "household_relation": "none", "organisation_id": ""}, resave=False)


def placement_discharge(w):
    from victimcare.placements.models import Placement
    stay = w.stay()
    return Case(w.caseworkers, f"/placements/{stay.id}/discharge", "discharge_reason", ("甲的离站原因", "乙的离站原因"),
                _get(Placement, stay.id, "discharge_reason"), _revisions(entry_id=stay.id),
                fill={"discharged_on": TODAY.isoformat()}, resave=False)


def residence_edit(w):
    from victimcare.placements.models import ResidenceApplication
    application = w.application()
    return Case(w.caseworkers, f"/residence/applications/{application.id}/edit", "statement",
                ("甲的情况说明", "乙的情况说明"), _get(ResidenceApplication, application.id, "statement"),
                _revisions(entry_id=application.id))


def residence_submit(w):
    from victimcare.placements.models import ResidenceApplication
    application = w.application()
    other_station = w.make_org("另一派出所", "police", "320102", w.orgs["bureau"])
    return Case(w.caseworkers, f"/people/{w.person.id}/residence", "police_organisation_id",
                (str(w.orgs["police"].id), str(other_station.id)),
                lambda: str(db.session.get(ResidenceApplication, application.id).police_organisation_id),
                _revisions(entry_id=application.id), post=f"/residence/applications/{application.id}/submit",
                fill={"submitted_on": TODAY.isoformat()}, resave=False, shows_theirs=False, kept=False,
                shows=f"{TODAY:%Y-%m-%d} · {w.orgs['police'].name}")


def residence_registration(w):
    """The police station records the hukou registration of a submitted application."""
    from victimcare.placements import residence
    from victimcare.placements.models import ResidenceApplication
    from victimcare.referrals import service as referrals
    from victimcare.referrals.models import Referral
    application = w.application()
    residence.submit(application, w.person, w.orgs["police"], TODAY, w.caseworkers[0], application.version)
    db.session.commit()
    officers = w.pair("police", w.orgs["police"])
    referrals.accept(db.session.get(Referral, application.referral_id), officers[0])
    db.session.commit()
    return Case(officers, f"/people/{w.person.id}/residence", "hukou_number", ("320102000001", "320102000002"),
                _get(ResidenceApplication, application.id, "hukou_number"), _revisions(entry_id=application.id),
                post=f"/residence/applications/{application.id}/register",
                fill={"registered_on": TODAY.isoformat()}, resave=False, kept=False)


def medical_visit(w):
    from victimcare.medical import service
    from victimcare.medical.models import MedicalVisit
    users, _r = w.partners("clinician", w.orgs["hospital"])
    visit = service.add_visit(w.person, {"visit_date": days_ago(3), "visit_type": "basic_medical",
                                         "diagnosis": "营养不良", "notes": "补液", "total_cost": Decimal("100.00"),
                                         "insurance_paid": Decimal("60.00")}, users[0])
    db.session.commit()
    return Case(users, f"/medical/visits/{visit.id}/edit", "diagnosis", ("甲的诊断", "乙的诊断"),
                _get(MedicalVisit, visit.id, "diagnosis"), _revisions(entry_id=visit.id))


def medical_assessment(w):
    from victimcare.medical import service
    from victimcare.medical.models import DisabilityAssessment
    users, _r = w.partners("clinician", w.orgs["hospital"])
    entry = service.add_assessment(w.person, {"category": "physical", "grade": 3, "institution": "市残联",
                                              "assessed_on": days_ago(5), "notes": ""}, users[0])
    db.session.commit()
    return Case(users, f"/medical/assessments/{entry.id}/edit", "institution", ("甲评定机构", "乙评定机构"),
                _get(DisabilityAssessment, entry.id, "institution"), _revisions(entry_id=entry.id))


def legal(w):
    from victimcare.legal import service
    from victimcare.legal.models import LegalAid
    centre = w.make_org("冲突法援中心", "legal_aid", "320102", w.orgs["bureau"])
    users, _r = w.partners("legal_aid", centre)
    entry = service.create(w.person, {"application_date": days_ago(30), "agency_id": centre.id,
                                      "lawyer_name": "王律师", "green_channel": True,
                                      "matter": "victim_representation", "details": "代理", "status": "applied"},
                           users[0])
    db.session.commit()
    return Case(users, f"/legal/{entry.id}/edit", "lawyer_name", ("甲律师", "乙律师"),
                _get(LegalAid, entry.id, "lawyer_name"), _revisions(entry_id=entry.id))


def schooling(w):
    from victimcare.schooling import service
    from victimcare.schooling.models import SchoolEnrolment
    office = w.make_org("冲突教育局", "school_office", "320102", w.orgs["bureau"])
    users, _r = w.partners("education", office)
    entry = service.create(w.person, {"school_name": "城南中学", "grade": "j3", "enrolment_date": days_ago(10),
                                      "transfer_state": "done", "transfer_date": days_ago(12),
                                      "record_state": "pending", "mentoring": "结对", "counselling_notes": "辅导"},
                           users[0])
    db.session.commit()
    return Case(users, f"/schooling/{entry.id}/edit", "school_name", ("甲中学", "乙中学"),
                _get(SchoolEnrolment, entry.id, "school_name"), _revisions(entry_id=entry.id))


def employment(w):
    from victimcare.employment import service
    from victimcare.employment.models import EmploymentService
    office = w.make_org("冲突就业中心", "employment_office", "320102", w.orgs["bureau"])
    users, _r = w.partners("employment", office)
    entry = service.create(w.person, {"kind": "vocational_training", "wish_confirmed": True, "provider": "技工学校",
                                      "place": "elsewhere", "start_date": days_ago(20), "outcome": "ongoing",
                                      "notes": "缝纫"}, users[0])
    db.session.commit()
    return Case(users, f"/employment/{entry.id}/edit", "provider", ("甲培训机构", "乙培训机构"),
                _get(EmploymentService, entry.id, "provider"), _revisions(entry_id=entry.id))


def return_edit(w):
    from victimcare.followups.models import PersonReturn
    ret = w.returned()
    return Case(w.caseworkers, f"/people/{w.person.id}/followups/return", "notes", ("甲的返乡备注", "乙的返乡备注"),
                _get(PersonReturn, ret.id, "notes"), _revisions(entry_id=ret.id))


def return_first_record(w):
    """Both open the empty form; the first records the return, the second must not record another."""
    from victimcare.followups import service
    p = w.person
    return Case(w.caseworkers, f"/people/{p.id}/followups/return", "notes", ("甲记录的返乡", "乙记录的返乡"),
                lambda: service.return_of(p).notes, _revisions(person_id=p.id, section="followups"),
                fill={"kind": "family", "return_date": days_ago(5).isoformat(), "wish_confirmed": "y",
                      "wish_expressed_by": "person", "destination": "原籍村"})


def followup_visit(w):
    from victimcare.followups.models import FollowupVisit
    visit = w.returned().visits[0]
    return Case(w.caseworkers, f"/followups/visits/{visit.id}", "living_conditions", ("甲看到的情况", "乙看到的情况"),
                _get(FollowupVisit, visit.id, "living_conditions"), _revisions(entry_id=visit.id),
                fill={"done_on": TODAY.isoformat(), "method": "phone"})


def referral_decline(w):
    from victimcare.referrals.models import Referral
    centre = w.make_org("待答复法援中心", "legal_aid", "320102", w.orgs["bureau"])
    users, referral = w.partners("legal_aid", centre, accept=False)
    return Case(users, f"/referrals/{referral.id}/decline", "reason", ("甲的拒绝理由", "乙的拒绝理由"),
                _get(Referral, referral.id, "decline_reason"), _revisions(entry_id=referral.id),
                resave=False, shows_theirs=False)


def referral_close(w):
    from victimcare.referrals.models import Referral
    _users, referral = w.partners("clinician", w.orgs["hospital"])
    return Case(w.caseworkers, f"/referrals/{referral.id}/close", "reason", ("甲的结束理由", "乙的结束理由"),
                _get(Referral, referral.id, "close_reason"), _revisions(entry_id=referral.id),
                resave=False, shows_theirs=False)


def case_close(w):
    from victimcare.followups.models import CaseStatusChange
    managers = w.pair("manager", w.orgs["bureau"])
    p = w.person
    return Case(managers, f"/people/{p.id}/close", "reason", ("甲的结案理由", "乙的结案理由"),
                lambda: db.session.scalar(select(CaseStatusChange).where(CaseStatusChange.person_id == p.id)).reason,
                _revisions(person_id=p.id, section="case"), resave=False)


def report_step(w):
    from victimcare.medical import service
    from victimcare.medical.models import ReportUpdate
    station = w.orgs["police"]
    reporter = w.make_user("clinician", w.orgs["hospital"])
    report = service.file_report({"observed_on": TODAY, "place": "医院急诊", "victim_description": "少女",
                                  "circumstances": "身上多处伤痕", "reporter_contact": "电话"}, station, reporter)
    db.session.commit()

    def note():
        update = db.session.scalar(select(ReportUpdate).where(ReportUpdate.report_id == report.id))
        return update.note if update else None
    return Case(w.pair("police", station), f"/reports/{report.id}", "note", ("甲的处理记录", "乙的处理记录"), note,
                lambda: db.session.scalar(select(func.count()).select_from(ReportUpdate)
                                          .where(ReportUpdate.report_id == report.id)),
                fill={"status": "acknowledged"}, resave=False, shows_theirs=False)


SECTIONS = {f.__name__: f for f in (
    identity, dna, placement_edit, placement_transfer, placement_discharge, residence_edit, residence_submit,
    residence_registration, medical_visit, medical_assessment, legal, schooling, employment, return_edit,
    return_first_record, followup_visit, referral_decline, referral_close, case_close, report_step)}


@pytest.fixture
def world(app, orgs, make_org, make_user, make_person):
    return World(orgs, make_org, make_user, make_person)


def keeps(page: str, field: str, value: str) -> bool:
    """The page's form holds ``value`` in ``field`` (typed text, or the chosen option)."""
    return form_on(page, field)[field] == value


@pytest.mark.parametrize("section", SECTIONS)
def test_the_second_save_of_a_section_is_a_conflict_and_overwrites_nothing(app, world, section):
    case = SECTIONS[section](world)
    first, second = (browser(app, user) for user in case.users)
    forms = []
    for client, value in zip((first, second), case.values):
        page = client.get(case.url)
        assert page.status_code == 200, page.text
        forms.append({**form_on(page.text, case.field), **case.fill, case.field: value})
    before = case.history()

    saved = first.post(case.post or case.url, data=forms[0])
    assert saved.status_code == 302, saved.text
    refused = second.post(case.post or case.url, data=forms[1])

    assert refused.status_code == 409, refused.text
    page = html.unescape(refused.text)
    assert "Traceback" not in page
    assert "Someone else" in page
    if case.kept:
        assert keeps(refused.text, case.field, case.values[1])      # the second user's input is kept
    first_user = case.users[0]
    assert first_user.display_name in page or first_user.username in page  # the other change is named
    if case.shows_theirs or case.shows:
        assert (case.shows or case.values[0]) in page              # ... and shown
    db.session.rollback()
    db.session.expire_all()
    assert case.read() == case.values[0]                               # the first save stands
    assert case.history() == before + 1                                # one change, not two
    assert audit.verify().ok

    if case.resave:  # the conflict page carries the current version: saving again is deliberate
        again = second.post(case.post or case.url, data=form_on(refused.text, case.field))
        assert again.status_code == 302, again.text
        db.session.expire_all()
        assert case.read() == case.values[1]


# -- several processes writing the audit chain at once ----------------------------------------------
WORKERS, ROUNDS = 4, 12


def test_audit_chain_holds_with_processes_writing_at_once(app, test_config, instance_path, orgs, make_user,
                                                          make_person):
    """Spawned processes, each with its own app and connections, append to the chain and save the same
    file at once (SQLite: BEGIN IMMEDIATE queues them; PostgreSQL: the chain head's row lock). The
    chain verifies, no row is lost or doubled, no save is lost, and every case number is unique."""
    from .resilience_support import writer_process

    user = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], by=user, name="并发对象")
    rows_before = db.session.scalar(select(func.count()).select_from(audit.AuditEvent))
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(WORKERS), context.Queue()
    args = (test_config, instance_path, start, results, person.id, user.id, orgs["shelter_a"].id, ROUNDS)
    db.session.remove()  # the test holds no lock while the workers run
    workers = [context.Process(target=writer_process, args=args) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    results = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert all(not isinstance(r, str) for r in results), results  # a worker's failure, as text

    assert all(r["updates"] == ROUNDS for r in results)
    assert max(r["started"] for r in results) < min(r["finished"] for r in results)  # they did overlap
    verified = audit.verify()
    assert verified.ok, verified.reason
    rows = db.session.scalar(select(func.count()).select_from(audit.AuditEvent))
    assert rows == rows_before + sum(r["audit_rows"] for r in results)
    assert verified.checked == rows
    stored = db.session.get(Person, person.id)
    assert stored.version == 1 + WORKERS * ROUNDS                      # every save counted once
    revisions = _revisions(person_id=person.id, section="identity")()
    assert revisions == WORKERS * ROUNDS
    numbers = [n for r in results for n in r["case_numbers"]]
    assert len(numbers) == len(set(numbers)) == WORKERS * len(range(0, ROUNDS, 4))
    seqs = db.session.scalars(select(audit.AuditEvent.seq).order_by(audit.AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))


# -- the race the version check cannot see: a save committed while the second save is under way --------
def _save_in_another_transaction(app, work):
    """Run ``work()`` in its own thread, app context, session and connection, and commit it."""
    import threading
    failures = []

    def run():
        with app.app_context():
            try:
                work()
                db.session.commit()
            except Exception as exc:  # reported in the test's thread
                failures.append(exc)
            finally:
                db.session.remove()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and not failures, failures


@pytest.mark.skipif("config.getoption('--db') != 'postgresql'",
                    reason="SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no such race")
def test_two_partners_accepting_a_referral_at_the_same_moment(app, world, monkeypatch):
    """The accept button has no form to keep: the second partner is told someone answered first."""
    from victimcare.referrals import service
    from victimcare.referrals.models import Referral

    centre = world.make_org("同时接收中心", "legal_aid", "320102", world.orgs["bureau"])
    users, referral = world.partners("legal_aid", centre, accept=False)
    referral_id, url = referral.id, f"/referrals/{referral.id}/accept"
    first, second = (browser(app, user) for user in users)
    tokens = [csrf_from_page(client, "/referrals/") for client in (first, second)]
    real, raced = service.accept, []

    def with_a_race(*args, **kwargs):
        if not raced:
            raced.append(True)
            _save_in_another_transaction(
                app, lambda: first.post(url, data={"csrf_token": tokens[0]}).status_code == 302 or 1 / 0)
        return real(*args, **kwargs)
    monkeypatch.setattr(service, "accept", with_a_race)
    db.session.commit()
    response = second.post(url, data={"csrf_token": tokens[1]}, follow_redirects=True)
    assert raced and response.status_code == 200
    assert "Someone else saved this entry" in html.unescape(response.text)
    db.session.expire_all()
    stored = db.session.get(Referral, referral_id)
    assert stored.status == "active" and stored.responded_by_id == users[0].id
    assert _revisions(entry_id=referral_id)() == 2  # created, accepted once
    assert audit.verify().ok


def csrf_from_page(client, url):
    from .conftest import csrf_from
    return csrf_from(client.get(url).text)


# section: the service function its view calls (the race is run just before it)
RACES = {"identity": "victimcare.people.service:update_identity",
         "dna": "victimcare.people.service:update_dna",
         "placement_edit": "victimcare.placements.service:update",
         "residence_edit": "victimcare.placements.residence:update",
         "medical_visit": "victimcare.medical.service:update_visit",
         "legal": "victimcare.legal.service:update",
         "followup_visit": "victimcare.followups.service:record_visit",
         "referral_close": "victimcare.referrals.service:close",
         "referral_decline": "victimcare.referrals.service:decline",
         # past the service's "already returned?" check: the second INSERT meets the unique person_id
         "return_first_record": "victimcare.followups.service:visit_schedule"}


@pytest.mark.skipif("config.getoption('--db') != 'postgresql'",
                    reason="SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no such race")
@pytest.mark.parametrize("section", RACES)
def test_a_save_committed_during_the_second_save_is_still_a_conflict(app, world, section, monkeypatch):
    """The second user's request has loaded the entry (same version as the form) when the first
    user's save commits: the version check passed, so only the UPDATE's version condition
    (StaleDataError) stops the overwrite. The answer must be the same conflict page."""
    import importlib

    from victimcare.auth.models import User

    case = SECTIONS[section](world)
    first, second = (browser(app, user) for user in case.users)
    forms = [{**form_on(client.get(case.url).text, case.field), **case.fill, case.field: value}
             for client, value in zip((first, second), case.values)]
    first_user_id, url = case.users[0].id, case.url
    module_name, function = RACES[section].split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, function)
    raced = []

    def first_user_saves():
        response = first.post(url, data=forms[0])
        assert response.status_code == 302, response.text

    def with_a_race(*args, **kwargs):
        if not raced:  # the second user's request is under way: the first user's save commits now
            raced.append(True)
            _save_in_another_transaction(app, first_user_saves)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, function, with_a_race)

    refused = second.post(url, data=forms[1])
    assert raced and refused.status_code == 409, refused.text
    page = html.unescape(refused.text)
    assert keeps(refused.text, case.field, case.values[1])
    assert db.session.get(User, first_user_id).display_name in page
    db.session.rollback()
    db.session.expire_all()
    assert case.read() == case.values[0]
    assert audit.verify().ok


def test_two_officers_opening_a_new_report_at_the_same_moment_both_see_it(app, world, monkeypatch):
    """Opening an unread report marks it read (a write on a versioned row, in a page view). Two
    officers of the station opening it at once: both get the report, neither a 500."""
    from victimcare.medical import service

    case = report_step(world)
    first, second = (browser(app, user) for user in case.users)
    real, raced = service.mark_read, []

    def with_a_race(report, user):
        if not raced:  # the second officer has loaded the report; the first opens it now
            raced.append(True)
            _save_in_another_transaction(app, lambda: _opens(first, case.url))
        return real(report, user)
    monkeypatch.setattr(service, "mark_read", with_a_race)
    db.session.commit()  # the test holds no transaction while the two requests run

    _opens(second, case.url)
    assert raced
    assert audit.verify().ok


def _opens(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
