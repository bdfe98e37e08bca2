"""Referral operations: refer, accept, decline, close. Each is audited and kept in the history."""
from __future__ import annotations

from sqlalchemy import select

from .. import access
from ..auth.models import Organisation, utcnow
from ..entries import new_entry, record_change
from ..extensions import db
from ..disclosures.service import DisclosureRefused, basis_problem, record_disclosure
from .models import Referral

# The basis recorded when an internal caller (the residence submission in placements/residence.py,
# the demo data, tests) refers without naming one. The web form never gets here: it requires consent
# or a legal basis (ReferralForm). Each text cites the plan provision that assigns the partner its
# duty towards rescued people (seeds/jiangsu-2021-2030-opinions.txt), and says the system wrote it.
SYSTEM_DEFAULT = "system_default"
_DEFAULT_PREFIX = "系统记录（内部转介，未另录依据）：《江苏省反对拐卖人口行动实施计划（2021—2030年）》"
DEFAULT_LEGAL_BASIS = {
    "dna": _DEFAULT_PREFIX + "二(三)1(5) 落户申请：对滞留救助管理机构超过3个月仍未查明身份信息的被拐卖受害人，"
                             "由民政部门提交落户申请，公安机关依法办理户籍；二(三)1(4) DNA比对查找亲属",
    "medical": _DEFAULT_PREFIX + "二(三)1(6)：指定医疗机构为被拐卖受害人提供基本医疗服务、心理疏导和治疗服务",
    "legal": _DEFAULT_PREFIX + "二(三)1(7)：为被拐卖受害人提供法律援助，开通绿色通道",
    "schooling": _DEFAULT_PREFIX + "二(三)2(1)：被解救的适龄儿童入学安置，建立入学安置台账",
    "employment": _DEFAULT_PREFIX + "二(三)2(2)：为16岁以上被拐卖受害人提供职业技能培训和就业服务",
}


class ReferralError(Exception):
    """A referral that the rules refuse; the message is for the user."""


def partner_organisations() -> list[Organisation]:
    kinds = tuple(access.PARTNER_SECTIONS)
    return db.session.scalars(select(Organisation).where(Organisation.kind.in_(kinds),
                                                         Organisation.active.is_(True))
                              .order_by(Organisation.kind, Organisation.name)).all()


def refer(person, organisation: Organisation, purpose: str, user, *, basis: str | None = SYSTEM_DEFAULT,
          consent_given_by: str | None = None, consent_given_on=None, legal_basis: str | None = None) -> Referral:
    """Refer the person and log the disclosure (kind "referral", recipient the partner, its section).

    ``basis`` etc. as in disclosures.service.record_disclosure; DisclosureRefused (nothing written) when
    they are not enough. Left out entirely (internal callers), the partner section's documented
    default legal basis (DEFAULT_LEGAL_BASIS) is recorded."""
    section = access.PARTNER_SECTIONS.get(organisation.kind)
    if section is None:
        raise ReferralError("not_a_partner")
    if basis == SYSTEM_DEFAULT:
        basis, legal_basis = "legal_basis", legal_basis or DEFAULT_LEGAL_BASIS[section]
    problem = basis_problem(basis, consent_given_by, consent_given_on, legal_basis)
    if problem:
        raise DisclosureRefused(problem)
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
    record_disclosure(person, kind="referral", user=user, basis=basis, consent_given_by=consent_given_by,
                      consent_given_on=consent_given_on, legal_basis=legal_basis,
                      recipient_organisation=organisation, sections=[section], purpose=purpose, entry=referral)
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
