"""Operations of return, follow-up and closure. Each is kept in the history and audited
(``record_change``); the caller commits.

Seeds: return by the person's own wish (seeds/jiangsu-2021-2030-opinions.txt 二(三)2(3)); handover to the
region of origin, 省际协作 (seeds/fujian-2013-2020-plan.txt 二(五)3); safe repatriation of foreign victims,
"安全送返" (seeds/jiangsu-2021-2030-opinions.txt 二(五)6); follow-up, "跟踪了解其生活状况"
(seeds/jiangsu-2021-2030-opinions.txt 二(三)3, seeds/fujian-2013-2020-plan.txt 二(三)3).

While a file is closed its follow-up section is read-only: no return can be recorded or corrected
and no visit recorded or corrected (``FileClosed``), and its visits leave the due/overdue list.
Reopening restores both; the schedule itself is never changed by closing.
"""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, select

from .. import access
from ..entries import StaleEdit, apply_changes, check_version, new_entry, plain, record_change
from ..extensions import db
from ..people.models import Person
from ..sections import prepared
from .models import RETURN_FIELDS, VISIT_FIELDS, CaseStatusChange, FollowupVisit, PersonReturn
from .rules import add_months, days_overdue, visit_schedule, visit_state

__all__ = ["StaleEdit", "FollowupError", "FileClosed", "due_and_overdue", "record_return", "update_return",
           "record_visit", "close_file", "reopen_file"]

# Fields each kind of return uses; the others are cleared when the kind is chosen.
KIND_FIELDS = {
    "family": ("wish_confirmed", "wish_expressed_by", "destination"),
    "handover": ("wish_confirmed", "wish_expressed_by", "receiving_bureau", "receiving_region_code",
                 "receiving_contact"),
    "repatriation": ("country", "handover_point"),
}
_KIND_SPECIFIC = {f for fields in KIND_FIELDS.values() for f in fields}


class FollowupError(Exception):
    """A change the rules refuse: ``field`` is the form field to mark, ``key`` the message."""

    def __init__(self, key: str, field: str | None = None):
        super().__init__(key)
        self.key, self.field = key, field


class FileClosed(FollowupError):
    def __init__(self):
        super().__init__("file_closed")


def schedule_months() -> list[int]:
    return current_app.config["FOLLOWUP_SCHEDULE_MONTHS"]


def return_of(person) -> PersonReturn | None:
    return db.session.scalar(prepared(_return_query), {"person_id": person.id})


def _return_query():
    return select(PersonReturn).where(PersonReturn.person_id == bindparam("person_id"))


def ensure_open(person) -> None:
    if person.status != "open":
        raise FileClosed()


def _clean(data: dict) -> dict:
    values = {f: data.get(f) for f in RETURN_FIELDS}
    for field in _KIND_SPECIFIC - set(KIND_FIELDS.get(values["kind"], ())):
        values[field] = False if field == "wish_confirmed" else None
    values["wish_confirmed"] = bool(values["wish_confirmed"])
    return values


def _check_return(person, values: dict, ret: PersonReturn | None = None) -> None:
    if values["kind"] == "repatriation" and person.nationality in (None, "CHN"):
        # Repatriation (送返) is for foreign victims only (jiangsu-2021-2030 二(五)6).
        raise FollowupError("repatriation_chinese" if person.nationality else "repatriation_no_nationality",
                            "kind")
    when = values["return_date"]
    if person.rescue_date and when < person.rescue_date:
        raise FollowupError("return_before_rescue", "return_date")
    if ret is not None:
        first_done = min((v.done_on for v in ret.visits if v.done_on), default=None)
        if first_done and when > first_done:
            raise FollowupError("return_after_visit", "return_date")


def record_return(person, data: dict, user) -> PersonReturn:
    """Record the return and schedule its follow-up visits (``FOLLOWUP_SCHEDULE_MONTHS`` after it)."""
    ensure_open(person)
    if return_of(person) is not None:
        raise FollowupError("already_returned", "kind")
    values = _clean(data)
    _check_return(person, values)
    ret = new_entry(PersonReturn, person, user)
    changes = apply_changes(ret, values, RETURN_FIELDS)
    schedule = visit_schedule(ret.return_date, schedule_months())
    for months, due in schedule:
        new_entry(FollowupVisit, person, user, return_id=ret.id, months=months, due_date=due)
    changes["schedule"] = [None, [due.isoformat() for _m, due in schedule]]
    db.session.flush()
    record_change(person.id, "followups", changes, user, entry=ret, action="create")
    return ret


def update_return(ret: PersonReturn, person, data: dict, user, version) -> dict:
    """Correct the return. A new return date moves the visits not yet made with it."""
    ensure_open(person)
    check_version(ret, version)
    values = _clean(data)
    _check_return(person, values, ret)
    changes = apply_changes(ret, values, RETURN_FIELDS)
    if "return_date" in changes:
        before = [v.due_date.isoformat() for v in ret.visits]
        for visit in ret.visits:
            if visit.done_on is None:
                visit.due_date = add_months(ret.return_date, visit.months)
        changes["schedule"] = [before, [v.due_date.isoformat() for v in ret.visits]]
    record_change(person.id, "followups", changes, user, entry=ret)
    return changes


def record_visit(visit: FollowupVisit, person, data: dict, user, version) -> dict:
    """Record (or correct) what a follow-up visit found."""
    ensure_open(person)
    check_version(visit, version)
    if data.get("done_on") and data["done_on"] < visit.person_return.return_date:
        raise FollowupError("visit_before_return", "done_on")
    first = visit.done_on is None
    changes = apply_changes(visit, data, VISIT_FIELDS)
    if changes:
        changes["visit"] = [None, f"{visit.months}m {plain(visit.due_date)}"]
    record_change(person.id, "followups", changes, user, entry=visit, action="create" if first else "update")
    return changes


class DueVisit(NamedTuple):
    visit: FollowupVisit
    person: Person
    state: str          # "due" (today is the due date) or "overdue" (after it)
    days_overdue: int   # 0 when due today


def due_and_overdue(user, today: dt.date | None = None) -> list[DueVisit]:
    """Follow-up visits not yet made whose due date is today or past, for the open files of the
    people in the user's scope (``access.scoped_people``), oldest due date first. One query.

    Users whose role may not read the follow-up section get an empty list."""
    today = today or dt.date.today()
    if not access.allowed(user.role, "read", "followups"):
        return []
    scoped_ids = access.scoped_people(user).where(Person.status == "open").with_only_columns(Person.id)
    rows = db.session.execute(
        select(FollowupVisit, Person).join(Person, FollowupVisit.person_id == Person.id)
        .where(FollowupVisit.done_on.is_(None), FollowupVisit.due_date <= today,
               FollowupVisit.person_id.in_(scoped_ids))
        .order_by(FollowupVisit.due_date, Person.case_number, FollowupVisit.months)).all()
    return [DueVisit(visit, person, visit_state(visit.due_date, None, today), days_overdue(visit.due_date, today))
            for visit, person in rows]


# -- closing and reopening a file (section "case", managers) ------------------------------------------
def _set_status(person, action: str, new_status: str, reason: str, user) -> CaseStatusChange:
    old = person.status
    change = new_entry(CaseStatusChange, person, user, action=action)
    change.reason = reason
    person.status = new_status
    db.session.flush()
    record_change(person.id, "case", {"status": [old, new_status], "reason": [None, reason]}, user,
                  entry=change)
    return change


def close_file(person, reason: str, user) -> CaseStatusChange:
    """Close a file with a reason. Nothing is removed: it stays readable to those entitled."""
    if person.status != "open":
        raise FollowupError("already_closed")
    if not (reason or "").strip():
        raise FollowupError("reason_required", "reason")
    return _set_status(person, "close", "closed", reason, user)


def reopen_file(person, reason: str, user) -> CaseStatusChange:
    if person.status != "closed":
        raise FollowupError("not_closed")
    if not (reason or "").strip():
        raise FollowupError("reason_required", "reason")
    return _set_status(person, "reopen", "open", reason, user)


def status_history(person) -> list[CaseStatusChange]:
    return db.session.scalars(select(CaseStatusChange).where(CaseStatusChange.person_id == person.id)
                              .order_by(CaseStatusChange.created_at.desc())).all()
