"""Placement operations: admit (or transfer), edit, discharge. Each is checked against the person's
other stays and the buying-household rule, and kept in the history.

The residence-rule operations and the list are in ``residence.py``."""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from .. import access
from ..auth.models import CASE_HOLDING_KINDS, Organisation
from ..entries import StaleEdit, apply_changes, check_version, new_entry, record_change
from ..extensions import db
from ..sections import prepared
from . import rules
from .models import Placement

__all__ = ["PlacementRefused", "StaleEdit", "admit", "update", "discharge", "stays_of", "institutions_for"]

PLACEMENT_ATTRS = ("placement_type", "organisation_id", "institution_name", "household_relation",
                   "admitted_on", "reason", "discharged_on", "discharge_reason")

BUYING_HOUSEHOLD_MESSAGE = _l(
    "Refused: a child whose parents or guardians cannot be found is placed by civil affairs and must "
    "not be left with the household that bought the child (不得由收买家庭继续抚养; Jiangsu 2021-2030 "
    "二(二)3, Fujian 2013-2020 二(二)).")


def stored_text(message) -> str:
    """A system-written text stored in the file: always in the office's language (the default
    locale), whatever language the user who triggered it is reading."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        return str(message)

class PlacementRefused(Exception):
    """The rules refuse the stay; ``errors`` maps form fields to messages for the user."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def stays_of(person) -> list[Placement]:
    return db.session.scalars(prepared(_stays_query), {"person_id": person.id}).all()


def _stays_query():
    return (select(Placement).where(Placement.person_id == bindparam("person_id"))
            .order_by(Placement.admitted_on.desc(), Placement.created_at.desc()))


def open_stay(person) -> Placement | None:
    return next((s for s in stays_of(person) if s.is_open), None)


def institutions_for(user) -> list[Organisation]:
    """Shelters and bureaus the user may place people in: those of their own scope."""
    return [o for o in access.scoped_organisations(user) if o.kind in CASE_HOLDING_KINDS and o.active]


def check(person, data: dict, others: list, *, today: dt.date | None = None) -> dict:
    """Field errors for a stay described by ``data`` among the person's ``others`` (excluding itself)."""
    errors = {}
    admitted, discharged = data.get("admitted_on"), data.get("discharged_on")
    if rules.buying_household_refused(person.age_on(admitted) if admitted else None, person.tracing_result,
                                      data.get("household_relation") or "none"):
        errors["household_relation"] = BUYING_HOUSEHOLD_MESSAGE
    if admitted:
        clash = rules.overlapping(others, admitted, discharged)
        if clash is not None:
            if clash.discharged_on is None:
                errors["admitted_on"] = _l(
                    "This stay overlaps the current stay from %(start)s. For a transfer, tick "
                    "'Transfer' so that stay is discharged on the new admission date.",
                    start=clash.admitted_on.isoformat())
            else:
                errors["admitted_on"] = _l("This stay overlaps the stay from %(start)s to %(end)s.",
                                           start=clash.admitted_on.isoformat(),
                                           end=clash.discharged_on.isoformat())
    if admitted and person.rescue_date and admitted < person.rescue_date:
        errors.setdefault("admitted_on", _l("The admission date is before the rescue date."))
    return errors


def admit(person, data: dict, user) -> Placement:
    """A new stay; with ``transfer`` the open stay is discharged on the admission date first."""
    others = stays_of(person)
    current = next((s for s in others if s.is_open), None)
    transfer_from = None
    if data.get("transfer"):
        if current is None:
            raise PlacementRefused({"form": _l("There is no current stay to transfer from.")})
        if data["admitted_on"] < current.admitted_on:
            raise PlacementRefused({"admitted_on": _l("A transfer cannot be dated before the current stay "
                                                      "began (%(start)s).", start=current.admitted_on.isoformat())})
        transfer_from = current
        others = [s for s in others if s is not current] + [
            rules.Stay(current.admitted_on, data["admitted_on"], current.placement_type)]
    errors = check(person, data, others)
    if errors:
        raise PlacementRefused(errors)
    if transfer_from is not None:
        changes = apply_changes(transfer_from, {"discharged_on": data["admitted_on"],
                                                "discharge_reason": stored_text(_l("Transfer"))},
                                ("discharged_on", "discharge_reason"))
        record_change(person.id, "placement", changes, user, entry=transfer_from)
    stay = new_entry(Placement, person, user, placement_type=data["placement_type"],
                     admitted_on=data["admitted_on"])
    changes = apply_changes(stay, data, PLACEMENT_ATTRS)
    changes.setdefault("admitted_on", [None, data["admitted_on"].isoformat()])
    changes.setdefault("placement_type", [None, data["placement_type"]])
    record_change(person.id, "placement", changes, user, entry=stay, action="create")
    return stay


def update(stay: Placement, person, data: dict, user, version) -> dict:
    check_version(stay, version)
    errors = check(person, data, [s for s in stays_of(person) if s.id != stay.id])
    if errors:
        raise PlacementRefused(errors)
    changes = apply_changes(stay, data, PLACEMENT_ATTRS)
    if changes.get("organisation_id") is not None:
        db.session.flush()
        db.session.refresh(stay, ["organisation"])
    record_change(person.id, "placement", changes, user, entry=stay)
    return changes


def discharge(stay: Placement, person, data: dict, user, version) -> dict:
    check_version(stay, version)
    if data["discharged_on"] < stay.admitted_on:
        raise PlacementRefused({"discharged_on": _l("The discharge date is before the admission date.")})
    later = [s for s in stays_of(person) if s.id != stay.id]
    if rules.overlapping(later, stay.admitted_on, data["discharged_on"]) is not None:
        raise PlacementRefused({"discharged_on": _l("This date overlaps another stay.")})
    changes = apply_changes(stay, data, ("discharged_on", "discharge_reason"))
    record_change(person.id, "placement", changes, user, entry=stay)
    return changes
