"""The three-month residence rule in operation: each person's state, the list for a scope, and the
application's steps (draft, edit, submit to public security with a referral, register, withdraw).

The list reads every scoped person's institutional stays in one query and their applications in a
second, computes the states in Python (rules.py), and loads full Person rows only for the page shown."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from .. import access
from ..auth.models import Organisation
from ..entries import apply_changes, check_version, new_entry, record_change
from ..extensions import db
from ..people.models import Person
from ..referrals import service as referrals
from ..referrals.models import Referral
from ..sections import prepared
from . import rules
from .models import Placement, ResidenceApplication
from .service import stays_of, stored_text

APPLICATION_FIELDS = ("name", "sex", "date_of_birth", "birth_year", "rescue_date", "institution", "statement")
# The list's order: what needs doing first. Within a state, the nearest due date first.
LIST_ORDER = ("overdue", "due", "drafted", "not_due", "submitted", "registered")


class ResidenceRefused(Exception):
    """A step the rule does not allow now; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def current_application(person) -> ResidenceApplication | None:
    """The latest application that was not withdrawn."""
    return db.session.scalar(prepared(_current_application_query), {"person_id": person.id})


def _current_application_query():
    return (select(ResidenceApplication).where(ResidenceApplication.person_id == bindparam("person_id"),
                                               ResidenceApplication.status != "withdrawn")
            .order_by(ResidenceApplication.created_at.desc()).limit(1))


def state_of(person, application=None, stays=None, today: dt.date | None = None) -> rules.ResidenceStatus:
    today = today or dt.date.today()
    stays = stays_of(person) if stays is None else stays
    return rules.residence_state(identity_status=person.identity_status,
                                 stay_started=rules.current_stay_start(stays, today),
                                 application_status=application.status if application else None,
                                 application_due_on=application.due_on if application else None, today=today)


# -- the list ---------------------------------------------------------------------------------------
@dataclass
class Row:
    person_id: str
    status: rules.ResidenceStatus
    application_id: str | None = None
    person: Person | None = None

    @property
    def sort_key(self):
        return (LIST_ORDER.index(self.status.state), self.status.due_on or dt.date.max, self.person_id)


def _in_scope(user):
    """A select() of Person over the open files the user reaches with the residence section (partners
    only through an active referral: a pending one shows the minimal identity, not the residence state)."""
    query = access.scoped_people(user).where(Person.status == "open")
    if access.SCOPE.get(user.role) == "referral":
        active = select(Referral.person_id).where(Referral.organisation_id == user.organisation_id,
                                                  Referral.status == "active")
        query = query.where(Person.id.in_(active))
    return query


def residence_rows(user, today: dt.date | None = None) -> list[Row]:
    """Everyone in the user's scope the rule applies to, most urgent first (without Person rows).

    Two queries whatever the scope's size: the institutional stays of the unidentified, and the
    applications not withdrawn."""
    today = today or dt.date.today()
    stays = defaultdict(list)
    for person_id, admitted, discharged, kind in db.session.execute(
            _in_scope(user).where(Person.identity_status == "unidentified")
            .join(Placement, Placement.person_id == Person.id)
            .where(Placement.placement_type.in_(rules.INSTITUTIONAL_TYPES))
            .with_only_columns(Placement.person_id, Placement.admitted_on, Placement.discharged_on,
                               Placement.placement_type)):
        stays[person_id].append(rules.Stay(admitted, discharged, kind))
    applications = {}
    identity = dict.fromkeys(stays, "unidentified")
    for app_id, person_id, status, due_on, identity_status in db.session.execute(
            _in_scope(user).join(ResidenceApplication, ResidenceApplication.person_id == Person.id)
            .where(ResidenceApplication.status != "withdrawn")
            .with_only_columns(ResidenceApplication.id, ResidenceApplication.person_id, ResidenceApplication.status,
                               ResidenceApplication.due_on, Person.identity_status)
            .order_by(ResidenceApplication.created_at)):
        applications[person_id] = (app_id, status, due_on)  # the latest wins
        identity[person_id] = identity_status
    rows = []
    for person_id, identity_status in identity.items():
        app_id, app_status, app_due = applications.get(person_id, (None, None, None))
        status = rules.residence_state(identity_status=identity_status,
                                       stay_started=rules.current_stay_start(stays.get(person_id, ()), today),
                                       application_status=app_status, application_due_on=app_due, today=today)
        if status.applies:
            rows.append(Row(person_id, status, app_id))
    rows.sort(key=lambda r: r.sort_key)
    return rows


def attach_people(rows: list[Row]) -> list[Row]:
    """Load the Person rows (and decrypt names) for the rows shown, in one query."""
    people = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_([r.person_id for r in rows])))}
    for row in rows:
        row.person = people.get(row.person_id)
    return rows


def counts(rows: list[Row]) -> dict[str, int]:
    result = dict.fromkeys(LIST_ORDER, 0)
    for row in rows:
        result[row.status.state] += 1
    return result


def residence_due_count(user, today: dt.date | None = None) -> int:
    """For the home page: people in the user's scope whose application is due or overdue and not
    yet drafted, plus drafts left more than 30 days past the due date."""
    if not access.allowed(user.role, "read", "residence"):
        return 0
    return sum(1 for r in residence_rows(user, today) if r.status.state in ("due", "overdue") or r.status.overdue)


# -- the application --------------------------------------------------------------------------------
def prefill(person, status: rules.ResidenceStatus, stays) -> dict:
    """The draft's values from the file."""
    current = next((s for s in stays if s.is_open and s.placement_type in rules.INSTITUTIONAL_TYPES), None)
    return {"name": person.name, "sex": person.sex,
            "date_of_birth": None if person.birth_date_estimated else person.date_of_birth,
            "birth_year": person.birth_year if person.birth_date_estimated else None,
            "rescue_date": person.rescue_date, "institution": current.institution if current else None}


def draft(person, data: dict, user, today: dt.date | None = None) -> ResidenceApplication:
    today = today or dt.date.today()
    if current_application(person) is not None:
        raise ResidenceRefused({"form": _l("This person already has an application.")})
    status = state_of(person, today=today)
    if status.state not in ("not_due", "due", "overdue"):
        raise ResidenceRefused({"form": _l("The residence rule does not apply to this person now.")})
    application = new_entry(ResidenceApplication, person, user, status="drafted", stay_started=status.stay_started,
                            due_on=status.due_on, drafted_on=today, identity_status=person.identity_status,
                            sex=data["sex"])
    changes = _apply(application, data)
    changes["status"] = [None, "drafted"]
    record_change(person.id, "residence", changes, user, entry=application, action="create")
    return application


def _apply(application: ResidenceApplication, data: dict) -> dict:
    values = dict(data)
    if values.get("date_of_birth") is not None:
        values["birth_year"] = values["date_of_birth"].year
    values["birth_date_estimated"] = values.get("date_of_birth") is None
    return apply_changes(application, values, APPLICATION_FIELDS + ("birth_date_estimated",))


def update(application: ResidenceApplication, data: dict, user, version) -> dict:
    check_version(application, version)
    if application.status != "drafted":
        raise ResidenceRefused({"form": _l("Only a draft can be changed.")})
    changes = _apply(application, data)
    record_change(application.person_id, "residence", changes, user, entry=application)
    return changes


def police_organisations() -> list[Organisation]:
    return db.session.scalars(select(Organisation).where(Organisation.kind == "police", Organisation.active.is_(True))
                              .order_by(Organisation.name)).all()


def submit(application: ResidenceApplication, person, police: Organisation, submitted_on: dt.date, user,
           version) -> Referral:
    """Record the submission and refer the person to that police station, so its officers can read
    the application and record the registration (an existing live referral there is reused)."""
    check_version(application, version)
    if application.status != "drafted":
        raise ResidenceRefused({"form": _l("Only a draft can be submitted.")})
    if submitted_on < application.due_on:
        raise ResidenceRefused({"submitted_on": _l(
            "The stay exceeds three months only on %(due)s: the application can be submitted from that day.",
            due=application.due_on.isoformat())})
    if submitted_on < application.drafted_on:
        raise ResidenceRefused({"submitted_on": _l("The submission date is before the draft date.")})
    referral = db.session.scalar(select(Referral).where(
        Referral.person_id == person.id, Referral.organisation_id == police.id,
        Referral.status.in_(access.LIVE_REFERRAL)))
    if referral is None:
        referral = referrals.refer(person, police, stored_text(_l(
            "Residence registration application (落户申请) submitted on %(day)s: please register the hukou.",
            day=submitted_on.isoformat())), user)
    changes = apply_changes(application, {"status": "submitted", "submitted_on": submitted_on,
                                          "police_organisation_id": police.id, "referral_id": referral.id},
                            ("status", "submitted_on", "police_organisation_id", "referral_id"))
    record_change(person.id, "residence", changes, user, entry=application)
    return referral


def register(application: ResidenceApplication, registered_on: dt.date, hukou_number: str, user, version) -> dict:
    check_version(application, version)
    if application.status != "submitted":
        raise ResidenceRefused({"form": _l("Only a submitted application can be registered.")})
    if registered_on < application.submitted_on:
        raise ResidenceRefused({"registered_on": _l("The registration date is before the submission date.")})
    changes = apply_changes(application, {"status": "registered", "registered_on": registered_on,
                                          "hukou_number": hukou_number, "registered_by_id": user.id},
                            ("status", "registered_on", "hukou_number", "registered_by_id"))
    record_change(application.person_id, "residence", changes, user, entry=application)
    return changes


def withdraw(application: ResidenceApplication, user, version) -> None:
    check_version(application, version)
    if application.status != "drafted":
        raise ResidenceRefused({"form": _l("Only a draft can be withdrawn.")})
    changes = apply_changes(application, {"status": "withdrawn"}, ("status",))
    record_change(application.person_id, "residence", changes, user, entry=application)
