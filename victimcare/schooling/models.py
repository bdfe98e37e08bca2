"""School re-entry (入学安置台账): one entry per enrolment of a school-age child.

Source: Jiangsu 2021–2030 二(三)2(1) ("做好被解救的适龄儿童入学安置工作,建立入学安置台账 ...
转学手续和学籍接续 ... 开展结对帮扶,充分发挥学校心理咨询室和心理健康教师专业作用"); State Council
2008–2012 plan 四(四)2(2) and Fujian 2013–2020 二(三)6 (适龄儿童入学、回归学校和适应新的生活).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

GRADES = ("p1", "p2", "p3", "p4", "p5", "p6", "j1", "j2", "j3", "s1", "s2", "s3", "v1", "v2", "v3", "special")
# 转学手续 / 学籍接续: not needed (first enrolment, new student record), pending, done.
STEP_STATES = ("not_needed", "pending", "done")
FIELDS = ("school_name", "grade", "enrolment_date", "transfer_state", "transfer_date", "record_state",
          "record_date", "mentoring", "counselling_notes")


class SchoolEnrolment(EntryMixin, db.Model):
    __tablename__ = "school_enrolment"
    # The education office that wrote the entry: the ledger is kept per office; only it edits the entry.
    office_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    grade: Mapped[str] = mapped_column(String(10))
    enrolment_date: Mapped[dt.date] = mapped_column(Date, index=True)
    transfer_state: Mapped[str] = mapped_column(String(12), default="not_needed")
    transfer_date: Mapped[dt.date | None] = mapped_column(Date)
    record_state: Mapped[str] = mapped_column(String(12), default="not_needed")
    record_date: Mapped[dt.date | None] = mapped_column(Date)

    # The school names where a child lives now: encrypted like an address.
    school_name_enc: Mapped[str | None] = enc_column()
    mentoring_enc: Mapped[str | None] = enc_column()
    counselling_notes_enc: Mapped[str | None] = enc_column()
    school_name = Encrypted()
    mentoring = Encrypted()
    counselling_notes = Encrypted()

    office: Mapped[Organisation] = relationship(lazy="joined")
    person = relationship("Person", lazy="joined")
