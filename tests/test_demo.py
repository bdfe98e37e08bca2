"""`flask demo`: idempotent, one user per role, every section of the file shown in varied states,
and nothing identifying stored in plaintext."""
import datetime as dt
import glob
import os
import stat

import pytest
from sqlalchemy import String, Text, func, select

from victimcare import access, audit
from victimcare.auth.models import Organisation, User
from victimcare.employment.models import EmploymentService
from victimcare.extensions import db
from victimcare.followups import service as followups
from victimcare.followups.models import CaseStatusChange, FollowupVisit, PersonReturn
from victimcare.followups.rules import visit_state
from victimcare.legal.models import LegalAid
from victimcare.medical.models import DisabilityAssessment, MedicalVisit, TraffickingReport
from victimcare.people.models import Person, PersonAlias, PersonRevision
from victimcare.people.rules import id_birth_date, id_number_problem
from victimcare.placements import residence
from victimcare.placements.models import Placement, ResidenceApplication
from victimcare.placements.service import stays_of
from victimcare.referrals.models import Referral
from victimcare.schooling.models import SchoolEnrolment


@pytest.fixture
def demo(app, tmp_path, monkeypatch):
    """Run `flask demo` with a throw-away instance folder (it writes demo-credentials.txt there)."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))

    def run():
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        return result
    return run


COUNTED = (Organisation, User, Person, PersonAlias, PersonRevision, Placement, ResidenceApplication, Referral,
           MedicalVisit, DisabilityAssessment, TraffickingReport, LegalAid, SchoolEnrolment, EmploymentService,
           PersonReturn, FollowupVisit, CaseStatusChange)


def counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED)


def user(username):
    return db.session.scalar(select(User).where(User.username == username))


def test_demo_is_idempotent_with_one_user_per_role(app, demo, tmp_path):
    first = demo()
    after_first = counts()
    assert after_first[2] > 0
    credentials = tmp_path / "demo-credentials.txt"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    lines = [line for line in credentials.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert sorted(line.split("\t")[0] for line in lines) == sorted(access.ROLES)
    for line in lines:
        username, password = line.split("\t")
        assert password in first.output

    second = demo()
    assert counts() == after_first  # nothing added to any section either
    assert "already present" in second.output
    assert credentials.read_text(encoding="utf-8").count("\t") == len(access.ROLES)  # nothing appended

    users = db.session.scalars(select(User)).all()
    assert sorted(u.username for u in users) == sorted(access.ROLES)
    assert all(u.username == u.role for u in users)


def test_demo_people_are_valid_and_in_the_demo_caseworkers_reach(app, demo):
    demo()
    caseworker = db.session.scalar(select(User).where(User.username == "caseworker"))
    manager = db.session.scalar(select(User).where(User.username == "manager"))
    people = db.session.scalars(select(Person)).all()
    for person in people:
        assert access.can(manager, "read", person)
        if person.id_number:
            assert id_number_problem(person.id_number) is None
            assert id_birth_date(person.id_number) == person.date_of_birth
        assert person.date_of_birth or person.birth_year
    assert any(access.can(caseworker, "read", p) for p in people)


def _secrets():
    """Plaintext that must never be stored: names, aliases, ID numbers, police case numbers."""
    values = set()
    for person in db.session.scalars(select(Person)):
        values.update(v for v in (person.name, person.id_number, person.police_case_number) if v)
    values.update(a.name for a in db.session.scalars(select(PersonAlias)))
    assert len(values) > 30
    return values


def test_no_plaintext_in_text_columns(app, demo):
    demo()
    secrets = _secrets()
    found = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            for value in row:
                if value and any(s in value for s in secrets):
                    found.append((table.name, value[:40]))
    assert found == []


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def test_no_plaintext_in_sqlite_file(app, demo):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("file bytes are checked on SQLite; the column scan covers PostgreSQL")
    demo()
    secrets = _secrets()
    db.session.remove()
    path = db.engine.url.database
    files = [p for p in glob.glob(path + "*") if p == path or p[len(path):] in ("-wal", "-journal")]
    assert path in files
    raw = b"".join(_read(p) for p in files)
    # The check itself works: a non-secret plaintext value of the demo is found in the bytes.
    assert "示范市民政局".encode() in raw
    leaked = sorted(s for s in secrets if s.encode("utf-8") in raw)
    assert leaked == []


def test_demo_shows_every_section_in_varied_states(app, demo):
    demo()
    today = dt.date.today()
    manager, police, clinician = user("manager"), user("police"), user("clinician")
    people = db.session.scalars(select(Person)).all()
    shelters = {o.id for o in db.session.scalars(select(Organisation).where(Organisation.kind == "shelter"))}

    # placements: everyone admitted to a shelter on or after the rescue date; some transferred
    for person in people:
        stays = stays_of(person)
        first = min(stays, key=lambda s: s.admitted_on)
        assert first.organisation_id in shelters and first.admitted_on >= person.rescue_date
    transferred = [p for p in people if {s.organisation_id for s in stays_of(p)} >= shelters]
    assert len(transferred) >= 2 and len(shelters) == 2

    # the residence rule: every state on the manager's list
    rows = residence.residence_rows(manager, today)
    states = residence.counts(rows)
    assert all(states[state] >= 1 for state in ("not_due", "due", "overdue", "drafted", "submitted", "registered")), \
        states
    assert all(r.status.days_left > 0 for r in rows if r.status.state == "not_due")
    submitted = [r for r in rows if r.status.state == "submitted"]
    for row in submitted:
        application = db.session.get(ResidenceApplication, row.application_id)
        referral = db.session.get(Referral, application.referral_id)
        assert referral.organisation_id == police.organisation_id
    [registered] = [db.session.get(ResidenceApplication, r.application_id) for r in rows
                    if r.status.state == "registered"]
    assert registered.registered_by_id == police.id and registered.hukou_number

    # referrals to the hospital in every state; medical visits with costs; an assessment; a report
    hospital = db.session.scalars(select(Referral.status).where(
        Referral.organisation_id == clinician.organisation_id)).all()
    assert {"pending", "active", "declined"} <= set(hospital)
    declined = db.session.scalar(select(Referral).where(Referral.status == "declined"))
    assert declined.decline_reason
    visits = db.session.scalars(select(MedicalVisit)).all()
    assert visits and all(v.insurance_paid < v.total_cost and v.self_pay == v.total_cost - v.insurance_paid
                          for v in visits)
    assert {v.visit_type for v in visits} >= {"basic_medical", "psychological_counselling"}
    assert db.session.scalar(select(func.count()).select_from(DisabilityAssessment)) >= 1
    [report] = db.session.scalars(select(TraffickingReport)).all()
    assert (report.reporter_organisation_id, report.police_organisation_id) == \
        (clinician.organisation_id, police.organisation_id)

    # legal aid, schooling, training and jobs, each through an active (or since closed) referral
    legal = db.session.scalars(select(LegalAid)).all()
    assert legal and "concluded" in {e.status for e in legal}
    assert db.session.scalar(select(func.count()).select_from(SchoolEnrolment)) >= 3
    assert db.session.scalar(select(func.count()).select_from(EmploymentService)) >= 3
    for model in (LegalAid, SchoolEnrolment, EmploymentService):
        for entry in db.session.scalars(select(model)):
            assert db.session.scalar(select(Referral.id).where(Referral.person_id == entry.person_id,
                                                               Referral.organisation_id == entry.office_id))

    # returns of every kind; follow-up visits done, due, overdue and upcoming
    assert {r.kind for r in db.session.scalars(select(PersonReturn))} == {"family", "handover", "repatriation"}
    visit_states = {visit_state(v.due_date, v.done_on, today) for v in db.session.scalars(select(FollowupVisit))}
    assert visit_states == {"done", "due", "overdue", "upcoming"}
    due = followups.due_and_overdue(manager, today)
    assert {d.state for d in due} == {"due", "overdue"}

    # a few files closed by the manager, with a reason
    closed = [p for p in people if p.status == "closed"]
    assert 2 <= len(closed) <= 5
    for person in closed:
        [change] = followups.status_history(person)
        assert change.created_by_id == manager.id and change.reason

    # all of it in the history and a verifiable audit trail
    sections = set(db.session.scalars(select(audit.AuditEvent.section).where(
        audit.AuditEvent.action.in_(("create", "update")))))
    assert {"identity", "placement", "residence", "referrals", "dna", "medical", "reports", "legal", "schooling",
            "employment", "followups", "case"} <= sections
    result = audit.verify()
    assert result.ok, result.reason
