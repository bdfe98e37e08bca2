"""The manager's review of possible duplicates (issue 8, point 4): pairs of files in the manager's scope
that match by a rule of ``duplicates.RULES``, and the manager's answers about them.

A pair is listed until a manager answers it: "not the same person" (the pair is kept apart and no longer
listed) or "linked for a merge decision". Nothing is ever merged or deleted: both files stay whole
whatever the answer, and an answer can be undone. Every answer and undo is audited with the two ids
and the decision, never a name or the note."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import aliased

from .. import access, audit
from ..auth.models import Organisation, utcnow
from ..extensions import db
from .duplicate_pairs import Scope
from .duplicates import LABELS, RULES, strongest
from .models import DuplicateDecision, Person

LISTS = ("open", "same", "different")  # the page's three lists: unanswered, linked, kept apart


def _scope(user, only: tuple[str, str] | None = None) -> Scope:
    """The people the user reaches (and, to check one pair, only those two)."""
    return Scope(select(Organisation.id).where(access.organisation_scope(user)), only)


def matched(user, only: tuple[str, str] | None = None):
    """A subquery (a, b, one 0/1 column per rule's reason): every matching pair in the user's scope once."""
    scope = _scope(user, only)
    branches = [branch.add_columns(literal(rule.reason).label("reason"))
                for rule in RULES for branch in rule.pairs(scope)]
    hits = union_all(*branches).subquery()
    flags = [func.max(case((hits.c.reason == rule.reason, 1), else_=0)).label(rule.reason) for rule in RULES]
    return select(hits.c.a, hits.c.b, *flags).group_by(hits.c.a, hits.c.b).subquery("matched")


@dataclass
class Pair:
    a: Person
    b: Person
    reasons: list[str]                       # empty: they no longer match (a file was corrected)
    decision: DuplicateDecision | None = None

    @property
    def reason_labels(self) -> list:
        return [LABELS[r] for r in self.reasons]


def _reasons(row) -> list[str]:
    return strongest(rule.reason for rule in RULES if getattr(row, rule.reason, None))


def _open_query(user):
    m = matched(user)
    a, b = aliased(Person, name="pa"), aliased(Person, name="pb")
    newest = case((a.created_at > b.created_at, a.created_at), else_=b.created_at)
    query = (select(a, b, *[m.c[r.reason] for r in RULES]).select_from(m)
             .join(a, a.id == m.c.a).join(b, b.id == m.c.b)
             .outerjoin(DuplicateDecision, and_(DuplicateDecision.person_a_id == m.c.a,
                                                DuplicateDecision.person_b_id == m.c.b))
             .where(DuplicateDecision.id.is_(None)))
    return query, (newest.desc(), m.c.a, m.c.b)


def _decided_query(user, decision: str):
    """The answered pairs whose two files the user reaches; their reasons are asked per pair shown."""
    a, b = aliased(Person, name="pa"), aliased(Person, name="pb")
    scope = _scope(user)
    query = (select(a, b, DuplicateDecision).select_from(DuplicateDecision)
             .join(a, a.id == DuplicateDecision.person_a_id).join(b, b.id == DuplicateDecision.person_b_id)
             .where(DuplicateDecision.decision == decision, scope(a), scope(b)))
    return query, (DuplicateDecision.decided_at.desc(), DuplicateDecision.id)


def page(user, which: str, number: int, size: int) -> tuple[list[Pair], int]:
    """One page of a list (LISTS), newest first, and the list's length. The pairs are computed once:
    the length comes with the page's rows (a window count), and is asked apart only past the end."""
    query, order = _open_query(user) if which == "open" else _decided_query(user, which)
    counted = query.add_columns(func.count().over().label("total"))
    rows = db.session.execute(counted.order_by(*order).limit(size).offset((number - 1) * size)).all()
    if rows:
        total = rows[0].total
    else:
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    if which == "open":
        return [Pair(row[0], row[1], _reasons(row)) for row in rows], total
    # A file corrected since the answer may match no longer: the page says so.
    return [Pair(row[0], row[1], reasons_for(user, row[0].id, row[1].id), row[2]) for row in rows], total


def reasons_for(user, a: str, b: str) -> list[str]:
    """The rules by which the two files (both in the user's scope) match now; empty if none."""
    row = db.session.execute(select(matched(user, (a, b)))).first()
    return _reasons(row) if row else []


def ordered(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


def decision_of(a: str, b: str) -> DuplicateDecision | None:
    return db.session.scalar(select(DuplicateDecision).where(DuplicateDecision.person_a_id == a,
                                                             DuplicateDecision.person_b_id == b))


def _audit(action: str, a: str, b: str, decision: str, **details) -> None:
    audit.record(action, object_type="person", object_id=a, section="identity",
                 details={"duplicate_pair": [a, b], "decision": decision, **details})


def decide(user, a: str, b: str, decision: str, note: str | None) -> DuplicateDecision:
    """Record (or change) the answer about the pair (a < b); the caller commits."""
    found = decision_of(a, b)
    if found is None:
        _audit("create", a, b, decision)
        found = DuplicateDecision(person_a_id=a, person_b_id=b)
        db.session.add(found)
    else:
        _audit("update", a, b, decision, previous=found.decision)
    found.decision, found.note = decision, note
    found.decided_by_id, found.decided_at = user.id, utcnow()
    return found


def undo(user, a: str, b: str) -> DuplicateDecision | None:
    """Withdraw the answer about the pair: it is listed again as a possible duplicate."""
    found = decision_of(a, b)
    if found is not None:
        _audit("update", a, b, found.decision, undone=True)
        db.session.delete(found)
    return found
