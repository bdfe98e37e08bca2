"""The world of the access matrix (tests/test_access_matrix.py): organisations, one user per role, and
people in every relation to those users, each with a real object of every kind a route takes an id of.

Everything is written through the modules' own service functions, as the users who do it in real
life. The relations (for a partner organisation's user):
- own:     a person of the caseworker's shelter, referred to no partner of this world;
- other:   a person of another bureau's shelter;
- active:  referred to every partner organisation, each referral accepted;
- pending: referred to every partner organisation, none answered yet;
- closed:  referred, accepted, worked on, then every referral closed.
Entries that only their own office may change also exist once more on the active person, written by a
second office of the same kind ("active_foreign")."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import update

from victimcare.auth.service import create_organisation, create_user
from victimcare.employment import service as employment
from victimcare.extensions import db
from victimcare.followups import service as followups
from victimcare.legal import service as legal
from victimcare.medical import service as medical
from victimcare.people.service import register_person
from victimcare.placements import residence
from victimcare.placements import service as placements
from victimcare.referrals import service as referrals
from victimcare.referrals.models import Referral
from victimcare.reports import summary

from .conftest import PASSWORD, TOTP_ROLES, give_totp

RELATIONS = ("own", "other", "active", "pending", "closed")
PARTNER_KINDS = ("hospital", "police", "school_office", "legal_aid", "employment_office")
# Where each role works.
HOME = {"caseworker": "shelter", "manager": "bureau", "clinician": "hospital", "police": "police",
        "education": "school_office", "employment": "employment_office", "legal_aid": "legal_aid",
        "auditor": "supervision", "admin": "bureau"}
# The partner role working in each kind of partner organisation.
PARTNER_ROLE = {"hospital": "clinician", "police": "police", "school_office": "education",
                "legal_aid": "legal_aid", "employment_office": "employment"}


@dataclass
class World:
    orgs: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)          # role -> user; also "bystander", "<kind>_b"
    people: dict = field(default_factory=dict)         # relation -> person
    objects: dict = field(default_factory=dict)        # (kind, relation) -> object
    referrals: dict = field(default_factory=dict)      # (relation, organisation key) -> referral
    reports: dict = field(default_factory=dict)        # name -> trafficking report
    jobs: dict = field(default_factory=dict)           # owner key -> print job
    referral_status: dict = field(default_factory=dict)  # referral id -> its status in the world
    referral_person: dict = field(default_factory=dict)  # referral id -> (person id, organisation id)
    people_by_id: dict = field(default_factory=dict)
    orgs_by_id: dict = field(default_factory=dict)

    def restore_referrals(self) -> None:
        """Put every referral of the world back in its status (a cell may have accepted one)."""
        for referral_id, status in self.referral_status.items():
            db.session.execute(update(Referral).where(Referral.id == referral_id).values(status=status))
        db.session.commit()


def _organisations(world: World) -> None:
    o = world.orgs
    o["bureau"] = create_organisation("矩阵市民政局", "bureau", "320100", None)
    o["shelter"] = create_organisation("矩阵救助站", "shelter", "320102", o["bureau"])
    o["hospital"] = create_organisation("矩阵医院", "hospital", "320102", o["bureau"])
    o["police"] = create_organisation("矩阵派出所", "police", "320102", o["bureau"])
    o["school_office"] = create_organisation("矩阵教育局", "school_office", "320100", o["bureau"])
    o["legal_aid"] = create_organisation("矩阵法律援助中心", "legal_aid", "320100", o["bureau"])
    o["employment_office"] = create_organisation("矩阵就业服务处", "employment_office", "320100", o["bureau"])
    o["supervision"] = create_organisation("矩阵审计室", "supervision", "320100", o["bureau"])
    for kind in PARTNER_KINDS:  # a second office of each kind: the "foreign" entries
        o[f"{kind}_b"] = create_organisation(f"矩阵第二{kind}", kind, "320104", o["bureau"])
    o["other_bureau"] = create_organisation("他市民政局", "bureau", "330100", None)
    o["other_shelter"] = create_organisation("他市救助站", "shelter", "330102", o["other_bureau"])
    o["other_police"] = create_organisation("他市派出所", "police", "330102", o["other_bureau"])
    db.session.flush()


def _users(world: World) -> None:
    from victimcare.access import ROLES
    for role in ROLES:
        world.users[role] = create_user(f"m_{role}", role, role, world.orgs[HOME[role]], PASSWORD)
        if role in TOTP_ROLES:
            give_totp(world.users[role])
    world.users["bystander"] = create_user("m_bystander", "bystander", "caseworker", world.orgs["other_shelter"],
                                           PASSWORD)
    for kind, role in PARTNER_ROLE.items():
        world.users[f"{kind}_b"] = create_user(f"m_{kind}_b", f"{role} b", role, world.orgs[f"{kind}_b"], PASSWORD)
    db.session.flush()


def _person(world: World, relation: str, today: dt.date):
    """Sixteen and a half: of school age and old enough for training and jobs; unidentified, in a shelter
    for five months (the residence rule applies)."""
    org = world.orgs["other_shelter" if relation == "other" else "shelter"]
    caseworker = world.users["bystander" if relation == "other" else "caseworker"]
    person = register_person({"name": f"矩阵{relation}", "sex": "female",
                              "date_of_birth": today.replace(year=today.year - 17) + dt.timedelta(days=183),
                              "identity_status": "unidentified", "tracing_result": "searching",
                              "rescue_date": today - dt.timedelta(days=160)}, org, caseworker)
    placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": org.id,
                              "institution_name": None, "household_relation": "none",
                              "admitted_on": today - dt.timedelta(days=150), "reason": "解救后临时安置"}, caseworker)
    db.session.flush()
    world.people[relation] = person
    world.objects[("stay", relation)] = placements.stays_of(person)[0]
    return person, caseworker


def _refer(world: World, person, relation: str, caseworker, org_keys) -> None:
    for key in org_keys:
        referral = referrals.refer(person, world.orgs[key], "矩阵转介", caseworker)
        if relation in ("active", "closed"):
            referrals.accept(referral, world.users[PARTNER_ROLE[key]])
        world.referrals[(relation, key)] = referral
    db.session.flush()


def _entries(world: World, person, relation: str, today: dt.date, suffix: str = "") -> None:
    """One entry of each partner section, written by the office (of ``suffix``) that does it."""
    by = {kind: world.users[PARTNER_ROLE[kind] if not suffix else f"{kind}{suffix}"] for kind in PARTNER_KINDS}
    key = relation + ("_foreign" if suffix else "")
    world.objects[("medical_visit", key)] = medical.add_visit(person, {
        "visit_date": today - dt.timedelta(days=100), "visit_type": "basic_medical", "diagnosis": "体检",
        "notes": None, "total_cost": Decimal("100.00"), "insurance_paid": Decimal("50.00")}, by["hospital"])
    world.objects[("assessment", key)] = medical.add_assessment(person, {
        "category": "intellectual", "grade": 3, "institution": "评定机构",
        "assessed_on": today - dt.timedelta(days=90), "notes": None}, by["hospital"])
    world.objects[("legal", key)] = legal.create(person, {
        "application_date": today - dt.timedelta(days=80), "agency_id": by["legal_aid"].organisation_id,
        "lawyer_name": "钱律师", "green_channel": True, "matter": "custody", "details": "矩阵",
        "status": "applied", "outcome": None, "outcome_date": None}, by["legal_aid"])
    world.objects[("schooling", key)] = _school(person, by["school_office"], today)
    world.objects[("employment", key)] = employment.create(person, {
        "kind": "vocational_training", "wish_confirmed": True, "provider": "培训中心", "place": "local",
        "start_date": today - dt.timedelta(days=30), "end_date": None, "outcome": "ongoing", "notes": None},
        by["employment_office"])
    db.session.flush()


def _school(person, user, today):
    from victimcare.schooling import service as schooling
    return schooling.create(person, {
        "school_name": "矩阵中学", "grade": "j3", "enrolment_date": today - dt.timedelta(days=60),
        "transfer_state": "not_needed", "transfer_date": None, "record_state": "not_needed", "record_date": None,
        "mentoring": None, "counselling_notes": None}, user)


def _residence_and_return(world: World, person, relation: str, caseworker, today: dt.date) -> None:
    """A residence application submitted to the world's police station (through the live referral to
    it) or, for people not referred there, to another city's; a return with its follow-up visits."""
    stays = placements.stays_of(person)
    values = residence.prefill(person, residence.state_of(person, stays=stays), stays)
    application = residence.draft(person, values, caseworker)
    db.session.flush()
    police = world.orgs["police" if relation in ("active", "pending", "closed") else "other_police"]
    referral = residence.submit(application, person, police, today, caseworker, application.version)
    if police is world.orgs["other_police"]:
        world.referrals[(relation, "other_police")] = referral
    world.objects[("application", relation)] = application
    ret = followups.record_return(person, {"kind": "family", "return_date": today - dt.timedelta(days=10),
                                           "wish_confirmed": True, "wish_expressed_by": "person",
                                           "destination": "原籍家庭", "notes": None}, caseworker)
    db.session.flush()
    world.objects[("followup_visit", relation)] = ret.visits[0]


def _attachment(world: World, person, relation: str, caseworker) -> None:
    """A photo (so that both the download and the image route answer)."""
    import io

    from PIL import Image

    from victimcare.attachments import content
    from victimcare.attachments import service as attachments
    png = io.BytesIO()
    Image.new("RGB", (2, 2), "white").save(png, "PNG")
    checked = content.check(png.getvalue(), max_pixels=100)
    world.objects[("attachment", relation)] = attachments.add(person, "photo", None, "photo.png", checked, caseworker)


def _reports(world: World, today: dt.date) -> None:
    data = {"observed_on": today - dt.timedelta(days=3), "observed_time": dt.time(21, 40), "place": "急诊科",
            "victim_description": "年轻女性", "circumstances": "神情紧张", "reporter_contact": "值班电话"}
    u, o = world.users, world.orgs
    world.reports["hospital"] = medical.file_report(data, o["police"], u["clinician"])
    world.reports["school_office"] = medical.file_report(data, o["other_police"], u["education"])
    world.reports["shelter"] = medical.file_report(data, o["other_police"], u["caseworker"])
    world.reports["elsewhere"] = medical.file_report(data, o["other_police"], u["bystander"])


def _jobs(world: World) -> None:
    for key in ("caseworker", "manager", "police", "bystander"):
        world.jobs[key] = summary.create_job(world.users[key], [], variant="deidentified", purpose="矩阵")


def build_world() -> World:
    world, today = World(), dt.date.today()
    _organisations(world)
    _users(world)
    partner_keys = list(PARTNER_KINDS)
    for relation in RELATIONS:
        person, caseworker = _person(world, relation, today)
        if relation in ("active", "pending", "closed"):
            _refer(world, person, relation, caseworker, partner_keys)
        _entries(world, person, relation, today)
        _residence_and_return(world, person, relation, caseworker, today)
        _attachment(world, person, relation, caseworker)
        if relation == "active":
            _entries(world, person, relation, today, suffix="_b")
        if relation == "closed":
            for key in partner_keys:
                referrals.close(world.referrals[(relation, key)], "矩阵结束", caseworker)
    _reports(world, today)
    _jobs(world)
    db.session.commit()
    world.referral_status = {r.id: r.status for r in world.referrals.values()}
    world.referral_person = {r.id: (r.person_id, r.organisation_id) for r in world.referrals.values()}
    world.people_by_id = {p.id: p for p in world.people.values()}
    world.orgs_by_id = {o.id: o for o in world.orgs.values()}
    return world
