"""THE permission policy. Every view, search, template and printout asks here.

Policy is data: ``POLICY[role][section]`` is a string of rights ("r", "rw" or
absent), and ``SCOPE[role]`` says which people a role can reach at all:
``subtree`` (people of the user's organisation and the organisations below it),
``referral`` (only people actively referred to the user's organisation; the
referrals arrive in a later issue, so for now these roles reach nobody), or
``none``.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import and_, false, select

from . import audit
from .extensions import db

ROLES = ("caseworker", "clinician", "manager", "police", "education", "employment",
         "legal_aid", "auditor", "admin")

# Sections of a person's file, plus the two system areas (audit trail, administration).
SECTIONS = ("identity", "dna", "placement", "residence", "medical", "legal", "schooling",
            "employment", "followups", "attachments", "case", "audit", "admin")

POLICY: dict[str, dict[str, str]] = {
    "caseworker": {"identity": "rw", "placement": "rw", "residence": "rw", "followups": "rw",
                   "attachments": "rw", "legal": "r", "schooling": "r", "employment": "r"},
    "manager": {"identity": "r", "dna": "r", "placement": "r", "residence": "r", "medical": "r",
                "legal": "r", "schooling": "r", "employment": "r", "followups": "r",
                "attachments": "r", "case": "rw"},
    "clinician": {"identity": "r", "medical": "rw"},
    "police": {"identity": "r", "dna": "rw", "residence": "rw"},
    "education": {"identity": "r", "schooling": "rw"},
    "employment": {"identity": "r", "employment": "rw"},
    "legal_aid": {"identity": "r", "legal": "rw"},
    "auditor": {"audit": "r"},
    "admin": {"admin": "rw"},
}

SCOPE = {"caseworker": "subtree", "manager": "subtree", "clinician": "referral",
         "police": "referral", "education": "referral", "employment": "referral",
         "legal_aid": "referral", "auditor": "none", "admin": "none"}

_RIGHT = {"read": "r", "write": "w"}


def allowed(role: str, action: str, section: str) -> bool:
    """What the role may do to a section anywhere in its scope (the policy table alone)."""
    return _RIGHT[action] in POLICY.get(role, {}).get(section, "")


def in_scope(user, person) -> bool:
    if SCOPE.get(user.role) != "subtree":
        return False
    return person.organisation.path.startswith(user.organisation.path)


def can(user, action: str, person=None, section: str = "identity") -> bool:
    """May ``user`` ``action`` ("read"/"write") ``section`` of ``person``?

    Without a person the question is whether the role may do it at all (e.g. register someone new).
    """
    if user is None or not user.is_authenticated or not user.active:
        return False
    if not allowed(user.role, action, section):
        return False
    return person is None or in_scope(user, person)


def require(user, action: str, person=None, section: str = "identity") -> None:
    """Abort unless allowed. Outside scope is 404 (existence stays hidden); in scope but
    a forbidden section is 403. Both are audited."""
    if can(user, action, person, section):
        return
    hidden = person is not None and not (user.is_authenticated and in_scope(user, person))
    audit.record_now("denied", object_type="person" if person is not None else None,
                     object_id=person.id if person is not None else None, section=section,
                     details={"action": action, "status": 404 if hidden else 403})
    abort(404 if hidden else 403)


def require_area(user, action: str, section: str) -> None:
    """For system areas (audit trail, administration) that belong to no person."""
    if can(user, action, None, section):
        return
    audit.record_now("denied", section=section, details={"action": action, "status": 403})
    abort(403)


def organisation_scope(user):
    """A where-clause on Organisation selecting the organisations whose people the user reaches."""
    from .auth.models import Organisation
    if SCOPE.get(user.role) != "subtree":
        return false()
    return Organisation.path.startswith(user.organisation.path, autoescape=True)


def scoped_people(user):
    """A select() of Person restricted to the user's scope: the base of every list and search."""
    from .auth.models import Organisation
    from .people.models import Person
    return (select(Person).join(Organisation, Person.organisation_id == Organisation.id)
            .where(and_(organisation_scope(user))))


def scoped_organisations(user):
    from .auth.models import Organisation
    return db.session.scalars(select(Organisation).where(organisation_scope(user))
                              .order_by(Organisation.path)).all()
