"""THE permission policy. Every view, search, template and printout asks here.

Policy is data: ``POLICY[role][section]`` is a string of rights ("r", "rw" or
absent), and ``SCOPE[role]`` says which people a role can reach at all:
``subtree`` (people of the user's organisation and the organisations below it),
``referral`` (people referred to the user's organisation: while the referral is pending only
the minimal identity, ``summary``; while it is active the role's own sections), or ``none``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g, has_request_context
from sqlalchemy import false, select

from . import audit
from .extensions import db

ROLES = ("caseworker", "clinician", "manager", "police", "education", "employment",
         "legal_aid", "auditor", "admin")

# Sections of a person's file, plus the two system areas (audit trail, administration).
# "summary" is the minimal identity (case number, name, sex, age) that partners see.
SECTIONS = ("summary", "identity", "dna", "placement", "residence", "medical", "legal", "schooling",
            "employment", "followups", "referrals", "disclosures", "attachments", "case", "audit", "admin")

POLICY: dict[str, dict[str, str]] = {
    "caseworker": {"summary": "r", "identity": "rw", "placement": "rw", "residence": "rw",
                   "followups": "rw", "referrals": "rw", "disclosures": "rw", "attachments": "rw", "legal": "r",
                   "schooling": "r", "employment": "r", "case": "r"},
    "manager": {"summary": "r", "identity": "r", "dna": "r", "placement": "r", "residence": "r",
                "medical": "r", "legal": "r", "schooling": "r", "employment": "r", "followups": "r",
                "referrals": "r", "disclosures": "rw", "attachments": "r", "case": "rw"},
    "clinician": {"summary": "r", "medical": "rw"},
    "police": {"summary": "r", "identity": "r", "dna": "rw", "residence": "rw"},
    "education": {"summary": "r", "schooling": "rw"},
    "employment": {"summary": "r", "employment": "rw"},
    "legal_aid": {"summary": "r", "legal": "rw"},
    "auditor": {"audit": "r"},
    "admin": {"admin": "rw"},
}

# Which kind of partner organisation works on which section when a person is referred to it.
PARTNER_SECTIONS = {"hospital": "medical", "police": "dna", "school_office": "schooling",
                    "legal_aid": "legal", "employment_office": "employment"}
LIVE_REFERRAL = ("pending", "active")

SCOPE = {"caseworker": "subtree", "manager": "subtree", "clinician": "referral",
         "police": "referral", "education": "referral", "employment": "referral",
         "legal_aid": "referral", "auditor": "none", "admin": "none"}

_RIGHT = {"read": "r", "write": "w"}


def allowed(role: str, action: str, section: str) -> bool:
    """What the role may do to a section anywhere in its scope (the policy table alone)."""
    return _RIGHT[action] in POLICY.get(role, {}).get(section, "")


def referral_status(user, person) -> str | None:
    """"active", "pending" or None: the best live referral of the person to the user's organisation."""
    from .referrals.models import Referral
    cache = g.setdefault("_referral_status", {}) if has_request_context() else {}
    key = (person.id, user.organisation_id)
    if key not in cache:
        statuses = set(db.session.scalars(select(Referral.status).where(
            Referral.person_id == person.id, Referral.organisation_id == user.organisation_id,
            Referral.status.in_(LIVE_REFERRAL))))
        cache[key] = "active" if "active" in statuses else ("pending" if statuses else None)
    return cache[key]


def forget_referral_cache() -> None:
    """After a referral changes within a request."""
    if has_request_context():
        g.pop("_referral_status", None)


def in_scope(user, person) -> bool:
    """Does the user reach this person at all (else their existence stays hidden)?"""
    scope = SCOPE.get(user.role)
    if scope == "subtree":
        return person.organisation.path.startswith(user.organisation.path)
    if scope == "referral":
        return referral_status(user, person) is not None
    return False


def can(user, action: str, person=None, section: str = "identity") -> bool:
    """May ``user`` ``action`` ("read"/"write") ``section`` of ``person``?

    Without a person the question is whether the role may do it at all (e.g. register someone new).
    """
    if user is None or not user.is_authenticated or not user.active:
        return False
    if not allowed(user.role, action, section):
        return False
    if person is None:
        return True
    if SCOPE.get(user.role) == "referral":
        status = referral_status(user, person)
        return status == "active" or (status == "pending" and section == "summary")
    return in_scope(user, person)


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
    query = select(Person).join(Organisation, Person.organisation_id == Organisation.id)
    if SCOPE.get(user.role) == "referral":
        from .referrals.models import Referral
        referred = select(Referral.person_id).where(Referral.organisation_id == user.organisation_id,
                                                    Referral.status.in_(LIVE_REFERRAL))
        return query.where(Person.id.in_(referred))
    return query.where(organisation_scope(user))


def scoped_organisations(user):
    from .auth.models import Organisation
    return db.session.scalars(select(Organisation).where(organisation_scope(user))
                              .order_by(Organisation.path)).all()


# --- Route rules -------------------------------------------------------------------------------
# Every view declares who may reach it with one of the decorators below; web.py enforces the
# declaration before the view runs (a view without one is refused: fail closed), and the view then
# asks ``require`` about the particular person. tests/test_route_rules.py walks the URL map.

@dataclass(frozen=True)
class RouteRule:
    section: str | None = None   # the section (or system area) the route works on; None: any signed-in user
    action: str = "read"         # "read" or "write"
    public: bool = False         # reachable without signing in
    person: str | None = None    # URL argument naming the person's file, or an entry of it
    named: str | None = None     # a rule beyond the role table, see NAMED_RULES


def _mark(rule: RouteRule):
    def decorate(view):
        view.access_rule = rule
        return view
    return decorate


def route(section: str, action: str = "read", *, person: str | None = None, named: str | None = None):
    """The route needs ``action`` on ``section`` (POLICY), and the view checks the person in scope."""
    assert section in SECTIONS and action in _RIGHT, (section, action)
    return _mark(RouteRule(section=section, action=action, person=person, named=named))


def signed_in(view=None, *, named: str | None = None):
    """Any signed-in user (their own account, the home page), or a named rule."""
    decorate = _mark(RouteRule(named=named))
    return decorate(view) if view is not None else decorate


def public(view):
    """Reachable without signing in (log-in page, language switch, static files)."""
    return _mark(RouteRule(public=True))(view)


# Rules that are not a role x section question. Each takes the user and answers yes or no for the
# route as a whole; the view still checks the particular object.
NAMED_RULES: dict = {"undeclared": lambda user: False}


def route_allows(user, rule: RouteRule) -> bool:
    if rule.section is not None and not can(user, rule.action, None, rule.section):
        return False
    if rule.named is not None and not NAMED_RULES[rule.named](user):
        return False
    return True


def enforce_route(user, rule: RouteRule) -> None:
    """Abort with an audited 403 unless the user's role may use the route at all."""
    if route_allows(user, rule):
        return
    audit.record_now("denied", section=rule.section or rule.named,
                     details={"action": rule.action, "status": 403, "route": True})
    abort(403)
