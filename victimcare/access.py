"""THE permission policy. Every view, search, template and printout asks here.

Policy is data: ``POLICY[role][section]`` is a string of rights ("r", "rw" or
absent), and ``SCOPE[role]`` says which people a role can reach at all:
``subtree`` (people of the user's organisation and the organisations below it),
``referral`` (people referred to the user's organisation: while the referral is pending only
the minimal identity, ``summary``; while it is active the role's own sections), or ``none``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g, has_request_context, request
from sqlalchemy import String, false, select

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


class Rights(frozenset):
    """The (action, section) pairs a user may do to one person's file."""

    def can(self, action: str, section: str) -> bool:
        return (action, section) in self


def rights(user, person) -> Rights:
    """Every answer of ``can(user, action, person, section)`` for this person at once (a page asks
    dozens of them): by asking can() itself, only where the role's policy grants the right at all."""
    granted = POLICY.get(getattr(user, "role", None), {})
    return Rights((action, section) for section, letters in granted.items() for action, letter in _RIGHT.items()
                  if letter in letters and can(user, action, person, section))


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


# --- Rules beyond the role table ----------------------------------------------------------------
# Each is a predicate on the user (and, for reports, the report): the route rules below name them.

def _active(user) -> bool:
    return (user is not None and user.is_authenticated and user.active
            and user.organisation is not None and user.organisation.active)


# Suspected-trafficking reports (强制报告, Jiangsu 2021-2030 二(一)5). access has no section for them:
# filing goes by the kind of the user's organisation (hospitals, schools and shelters must report) and
# the case role that works there; reading by the report's two ends: the police station it is addressed
# to and the organisation that filed it. Nobody else: not managers, auditors, administrators, other
# stations; an auditor or administrator who happens to belong to a shelter files and reads nothing.
REPORTING_KINDS = ("hospital", "school_office", "shelter")
REPORTING_ROLES = ("caseworker", "clinician", "education")


def may_file_report(user) -> bool:
    return _active(user) and user.role in REPORTING_ROLES and user.organisation.kind in REPORTING_KINDS


def is_police_station(user) -> bool:
    """A police officer of a police station: the receiving end of reports."""
    return _active(user) and user.role == "police" and user.organisation.kind == "police"


def report_role(user, report) -> str | None:
    """"police" (the addressed station), "reporter" (the filing organisation) or None (no access)."""
    if is_police_station(user) and report.police_organisation_id == user.organisation_id:
        return "police"
    if may_file_report(user) and report.reporter_organisation_id == user.organisation_id:
        return "reporter"
    return None


def visible_reports(user):
    """A where-clause on TraffickingReport with exactly the reports ``report_role`` lets the user read."""
    from sqlalchemy import or_
    from .medical.models import TraffickingReport
    clauses = []
    if may_file_report(user):
        clauses.append(TraffickingReport.reporter_organisation_id == user.organisation_id)
    if is_police_station(user):
        clauses.append(TraffickingReport.police_organisation_id == user.organisation_id)
    return or_(*clauses) if clauses else false()


# Statistics (reports/statistics.py): managers and caseworkers of a case-holding organisation (bureau or
# shelter), over their organisation subtree. Partners, auditors and administrators may not.
STATS_ROLES = ("manager", "caseworker")


def may_see_statistics(user) -> bool:
    return (_active(user) and user.role in STATS_ROLES and SCOPE.get(user.role) == "subtree"
            and user.organisation.holds_cases)


def may_read_medical_ledger(user) -> bool:
    """The medical self-pay ledger (reports/ledgers.py): managers (subtree scope) and clinicians of a
    hospital (their own hospital's visits)."""
    if not can(user, "read", None, "medical"):
        return False
    scope = SCOPE.get(user.role)
    if scope == "referral":
        return user.organisation is not None and user.organisation.kind == "hospital"
    return scope == "subtree"


# Who manages the list of trusted partner installations (handover bundles).
TRANSFER_PARTNER_ROLES = ("admin", "manager")

# Who reviews possible duplicates among the files they reach (people/duplicate_views.py): managers,
# over their organisation subtree; the answers change no file.
DUPLICATE_REVIEW_ROLES = ("manager",)


def may_review_duplicates(user) -> bool:
    return _active(user) and user.role in DUPLICATE_REVIEW_ROLES and SCOPE.get(user.role) == "subtree"


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
    post: str | None = None      # the action a POST needs, where it differs (a page shown and saved)

    def action_for(self, method: str) -> str:
        return self.post if method == "POST" and self.post else self.action


def _mark(rule: RouteRule):
    def decorate(view):
        view.access_rule = rule
        return view
    return decorate


def route(section: str, action: str = "read", *, person: str | None = None, named: str | None = None,
          post: str | None = None):
    """The route needs ``action`` on ``section`` (POLICY) (``post`` on a POST, if given), and the
    named rule if any; the view checks the person in scope."""
    assert section in SECTIONS and action in _RIGHT and post in (None, *_RIGHT), (section, action, post)
    assert named is None or named in NAMED_RULES, named
    return _mark(RouteRule(section=section, action=action, person=person, named=named, post=post))


def signed_in(view=None, *, named: str | None = None):
    """Any signed-in user (their own account, the home page), or a named rule."""
    assert named is None or named in NAMED_RULES, named
    decorate = _mark(RouteRule(named=named))
    return decorate(view) if view is not None else decorate


def public(view):
    """Reachable without signing in (log-in page, language switch, static files)."""
    return _mark(RouteRule(public=True))(view)


# Rules that are not a role x section question. Each takes the user and answers yes or no for the
# route as a whole (the view still checks the particular object); a refusal is audited under its
# section or area.
@dataclass(frozen=True)
class NamedRule:
    allows: object   # user -> bool
    section: str     # what the audit trail records a refusal under


NAMED_RULES: dict[str, NamedRule] = {
    "undeclared": NamedRule(lambda user: False, "undeclared"),  # a view that declares nothing: fail closed
    "reports": NamedRule(lambda user: may_file_report(user) or is_police_station(user), "reports"),
    "file_report": NamedRule(may_file_report, "reports"),
    "statistics": NamedRule(may_see_statistics, "statistics"),
    "medical_ledger": NamedRule(may_read_medical_ledger, "medical"),
    "transfer_partners": NamedRule(lambda user: _active(user) and user.role in TRANSFER_PARTNER_ROLES, "admin"),
    # A partner acting on a referral to their own organisation (accept, decline).
    "referral_partner": NamedRule(lambda user: SCOPE.get(user.role) == "referral", "referrals"),
    # The work list: partners see the referrals to them; who reads referrals sees those awaiting an answer.
    "referral_work_list": NamedRule(lambda user: SCOPE.get(user.role) == "referral"
                                    or allowed(user.role, "read", "referrals"), "referrals"),
    # Drafting and submitting a residence application are civil affairs' acts (民政部门提交落户申请).
    "civil_affairs": NamedRule(lambda user: SCOPE.get(user.role) == "subtree", "residence"),
    # The registration is recorded by the police station the application was submitted to.
    "registering_police": NamedRule(lambda user: is_police_station(user), "residence"),
    "duplicate_review": NamedRule(may_review_duplicates, "identity"),
}


def route_allows(user, rule: RouteRule, method: str = "GET") -> bool:
    if rule.section is not None and not can(user, rule.action_for(method), None, rule.section):
        return False
    if rule.named is not None and not NAMED_RULES[rule.named].allows(user):
        return False
    return True


def enforce_route(user, rule: RouteRule) -> None:
    """Abort with an audited 403 unless the user's role may use the route at all."""
    method = request.method if has_request_context() else "GET"
    if route_allows(user, rule, method):
        return
    details = {"action": rule.action_for(method), "status": 403, "route": True}
    if rule.named:
        details["rule"] = rule.named
    audit.record_now("denied", section=rule.section or NAMED_RULES[rule.named].section, details=details,
                     **_asked_about(rule, details))
    abort(403)


def _asked_about(rule: RouteRule, details: dict) -> dict:
    """The file named in the URL of a refused route, directly or through an entry of it (whose id goes
    into ``details``), so that the trail shows whose file someone tried to reach."""
    asked = (request.view_args or {}).get(rule.person) if rule.person and has_request_context() else None
    if asked is None:
        return {}
    asked = str(asked).replace("\x00", "")[:64]  # PostgreSQL refuses NUL in the audit row (a 500)
    if rule.person != "person_id":
        details["entry"] = asked
        asked = _person_of_entry(asked)
    return {"object_type": "person", "object_id": asked} if asked else {}


def _person_of_entry(entry_id: str) -> str | None:
    """The file an entry id named in a refused URL belongs to, so that the trail shows whose file someone
    tried to reach (looked up only after refusing: the answer is the same 403 either way)."""
    if len(entry_id) > 32:
        return None
    for mapper in db.Model.registry.mappers:
        columns = mapper.local_table.c
        if "person_id" in columns and "id" in columns and isinstance(columns["id"].type, String):
            row = db.session.get(mapper.class_, entry_id)
            if row is not None:
                return row.person_id
    return None
