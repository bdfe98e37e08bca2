"""Return and reintegration, follow-up visits, and the open/closed history of a file.

Seeds: return to family and community by the person's own wish ("保障愿意返回原住地的被拐卖受害人
顺利回归家庭和社区", seeds/jiangsu-2021-2030-opinions.txt 二(三)2(3), seeds/fujian-2013-2020-plan.txt
二(三)2); handover between provinces ("省际协作 ... 对愿意返回原籍的协助其返乡，并积极协调流出地政府相关
部门", seeds/fujian-2013-2020-plan.txt 二(五)3); safe repatriation of foreign victims ("完善对被跨国跨境
拐卖受害人的救助工作机制 ... 并安全送返", seeds/jiangsu-2021-2030-opinions.txt 二(五)6); follow-up
("跟踪了解其生活状况", seeds/jiangsu-2021-2030-opinions.txt 二(三)3).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

# family: to family or community by the person's (or guardian's) own wish; handover: to the civil
# affairs of the region of origin (省际协作); repatriation: a foreign national sent home safely.
RETURN_KINDS = ("family", "handover", "repatriation")
WISH_BY = ("person", "guardian")
VISIT_METHODS = ("home_visit", "phone", "civil_affairs")
CASE_ACTIONS = ("close", "reopen")

RETURN_FIELDS = ("kind", "return_date", "wish_confirmed", "wish_expressed_by", "destination",
                 "receiving_bureau", "receiving_region_code", "receiving_contact", "country",
                 "handover_point", "notes")
VISIT_FIELDS = ("done_on", "method", "living_conditions", "difficulties", "onward_referrals")


class PersonReturn(EntryMixin, db.Model):
    """How and when a person left care for home. One per person; corrections keep history."""
    __tablename__ = "person_return"
    __table_args__ = (UniqueConstraint("person_id"),)
    kind: Mapped[str] = mapped_column(String(16))
    return_date: Mapped[dt.date] = mapped_column(Date, index=True)
    wish_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    wish_expressed_by: Mapped[str | None] = mapped_column(String(10))
    # Plaintext on purpose (statistics by region and country; they identify nobody).
    receiving_region_code: Mapped[str | None] = mapped_column(String(6))
    country: Mapped[str | None] = mapped_column(String(8))

    destination_enc: Mapped[str | None] = enc_column()
    receiving_bureau_enc: Mapped[str | None] = enc_column()
    receiving_contact_enc: Mapped[str | None] = enc_column()
    handover_point_enc: Mapped[str | None] = enc_column()
    notes_enc: Mapped[str | None] = enc_column()
    destination = Encrypted()
    receiving_bureau = Encrypted()
    receiving_contact = Encrypted()
    handover_point = Encrypted()
    notes = Encrypted()

    created_by: Mapped[User | None] = relationship()
    visits: Mapped[list["FollowupVisit"]] = relationship(
        back_populates="person_return", order_by="(FollowupVisit.due_date, FollowupVisit.months)")


class FollowupVisit(EntryMixin, db.Model):
    """One scheduled follow-up visit (回访): due ``months`` after the return, done or not yet."""
    __tablename__ = "followup_visit"
    return_id: Mapped[str] = mapped_column(ForeignKey("person_return.id"), index=True)
    months: Mapped[int] = mapped_column()
    due_date: Mapped[dt.date] = mapped_column(Date, index=True)
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    method: Mapped[str | None] = mapped_column(String(20))

    living_conditions_enc: Mapped[str | None] = enc_column()
    difficulties_enc: Mapped[str | None] = enc_column()
    onward_referrals_enc: Mapped[str | None] = enc_column()
    living_conditions = Encrypted()
    difficulties = Encrypted()
    onward_referrals = Encrypted()

    person_return: Mapped[PersonReturn] = relationship(back_populates="visits")
    person = relationship("Person")


class CaseStatusChange(EntryMixin, db.Model):
    """A file closed or reopened by a manager, with the reason. Never removed."""
    __tablename__ = "case_status_change"
    action: Mapped[str] = mapped_column(String(8))
    reason_enc: Mapped[str | None] = enc_column()
    reason = Encrypted()

    created_by: Mapped[User | None] = relationship()
