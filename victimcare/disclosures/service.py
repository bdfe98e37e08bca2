"""Recording disclosures. A disclosure with neither consent nor a legal basis is refused."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select

from ..entries import new_entry, record_change
from ..extensions import db
from ..sections import prepared
from .models import CONSENT_GIVERS, DISCLOSURE_KINDS, Disclosure


class DisclosureRefused(Exception):
    """Neither consent nor a legal basis was given (the message key says which part is missing)."""


def basis_problem(basis: str | None, consent_given_by: str | None, consent_given_on: dt.date | None,
                  legal_basis: str | None, today: dt.date | None = None) -> str | None:
    """Why a disclosure's basis is not enough, or None. Pure: forms and the service both ask it."""
    today = today or dt.date.today()
    if basis == "consent":
        if consent_given_by not in CONSENT_GIVERS:
            return "consent_giver"
        if consent_given_on is None or consent_given_on > today:
            return "consent_date"
        return None
    if basis == "legal_basis":
        return None if (legal_basis or "").strip() else "legal_basis_text"
    return "no_basis"


def record_disclosure(person, *, kind: str, user, basis: str | None, consent_given_by: str | None = None,
                      consent_given_on: dt.date | None = None, legal_basis: str | None = None,
                      recipient_organisation=None, recipient_name: str | None = None,
                      sections=(), purpose: str | None = None, entry=None) -> Disclosure:
    if kind not in DISCLOSURE_KINDS:
        raise ValueError(f"unknown disclosure kind {kind!r}")
    problem = basis_problem(basis, consent_given_by, consent_given_on, legal_basis)
    if problem:
        raise DisclosureRefused(problem)
    if recipient_organisation is None and not (recipient_name or "").strip():
        raise DisclosureRefused("recipient")
    disclosure = new_entry(Disclosure, person, user, kind=kind, basis=basis,
                           recipient_organisation_id=getattr(recipient_organisation, "id", None),
                           sections=",".join(sections), entry_id=getattr(entry, "id", None),
                           consent_given_by=consent_given_by if basis == "consent" else None,
                           consent_given_on=consent_given_on if basis == "consent" else None)
    disclosure.recipient_name = recipient_name
    disclosure.legal_basis = legal_basis if basis == "legal_basis" else None
    disclosure.purpose = purpose
    db.session.flush()
    record_change(person.id, "disclosures", {"disclosure": [None, f"{kind} ({basis})"]}, user,
                  entry=disclosure, action="create")
    return disclosure


def disclosures_of(person) -> list[Disclosure]:
    return db.session.scalars(prepared(_disclosures_query), {"person_id": person.id}).all()


def _disclosures_query():
    return (select(Disclosure).where(Disclosure.person_id == bindparam("person_id"))
            .order_by(Disclosure.created_at.desc()))


