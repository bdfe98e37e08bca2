"""Referral operations: refer, accept, decline, close. Each is audited and kept in the history."""
from __future__ import annotations

from sqlalchemy import select

from .. import access
from ..auth.models import Organisation, utcnow
from ..entries import new_entry, record_change
from ..extensions import db
from .models import Referral


class ReferralError(Exception):
    """A referral that the rules refuse; the message is for the user."""


def partner_organisations() -> list[Organisation]:
    kinds = tuple(access.PARTNER_SECTIONS)
    return db.session.scalars(select(Organisation).where(Organisation.kind.in_(kinds),
                                                         Organisation.active.is_(True))
                              .order_by(Organisation.kind, Organisation.name)).all()


def refer(person, organisation: Organisation, purpose: str, user) -> Referral:
    section = access.PARTNER_SECTIONS.get(organisation.kind)
    if section is None:
        raise ReferralError("not_a_partner")
    if db.session.scalar(select(Referral.id).where(Referral.person_id == person.id,
                                                   Referral.organisation_id == organisation.id,
                                                   Referral.status.in_(access.LIVE_REFERRAL))):
        raise ReferralError("already_referred")
    referral = new_entry(Referral, person, user, organisation_id=organisation.id, section=section,
                         status="pending")
    referral.purpose = purpose
    db.session.flush()
    record_change(person.id, "referrals", {"referral": [None, f"{organisation.name}: pending"]}, user,
                  entry=referral, action="create")
    access.forget_referral_cache()
    return referral


def _respond(referral: Referral, user, status: str) -> None:
    old = referral.status
    referral.status = status
    referral.responded_at = utcnow()
    referral.responded_by_id = user.id
    record_change(referral.person_id, "referrals", {"status": [old, status]}, user, entry=referral)
    access.forget_referral_cache()


def accept(referral: Referral, user) -> None:
    _respond(referral, user, "active")


def decline(referral: Referral, reason: str, user) -> None:
    referral.decline_reason = reason
    _respond(referral, user, "declined")


def close(referral: Referral, reason: str, user) -> None:
    old = referral.status
    referral.status = "closed"
    referral.closed_at = utcnow()
    referral.closed_by_id = user.id
    referral.close_reason = reason
    record_change(referral.person_id, "referrals", {"status": [old, "closed"]}, user, entry=referral)
    access.forget_referral_cache()


def work_list(user, statuses=("pending", "active")):
    """A partner's referrals to their organisation."""
    return db.session.scalars(select(Referral).where(Referral.organisation_id == user.organisation_id,
                                                     Referral.status.in_(statuses))
                              .order_by(Referral.status.desc(), Referral.created_at.desc())).all()


def awaiting_partner(user):
    """Referrals made within the caseworker's scope that no partner has answered yet."""
    from ..people.models import Person
    scoped_ids = access.scoped_people(user).with_only_columns(Person.id)
    return db.session.scalars(select(Referral).where(Referral.status == "pending",
                                                     Referral.person_id.in_(scoped_ids))
                              .order_by(Referral.created_at)).all()
