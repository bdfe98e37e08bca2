"""Training and jobs: one entry per service (training, guidance, job referral, employment).

Source: State Council 2008–2012 plan 四(四)2(2) and Jiangsu 2009 ("16周岁以上 ... 职业技能培训、职业指导和
职业介绍等就业服务,并在异地就业"); Fujian 2013–2020 二(三)7; Jiangsu 2021–2030 二(三)2(2) ("对有劳动能力、
就业意愿的16岁以上被拐卖受害人 ... 根据被拐卖受害人意愿,推荐转移就业和异地就业").
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

KINDS = ("vocational_training", "career_guidance", "job_referral", "employment")
PLACES = ("local", "elsewhere")  # elsewhere: 异地就业, for those who cannot or will not return home
OUTCOMES = ("ongoing", "completed", "employed", "discontinued")
FIELDS = ("kind", "wish_confirmed", "provider", "place", "start_date", "end_date", "outcome", "notes")


class EmploymentService(EntryMixin, db.Model):
    __tablename__ = "employment_service"
    # The employment office that wrote the entry: only it edits the entry.
    office_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    wish_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    place: Mapped[str] = mapped_column(String(12))
    start_date: Mapped[dt.date] = mapped_column(Date, index=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20), index=True)

    # Employer or training provider: names where the person works now, encrypted like an address.
    provider_enc: Mapped[str | None] = enc_column()
    notes_enc: Mapped[str | None] = enc_column()
    provider = Encrypted()
    notes = Encrypted()

    office: Mapped[Organisation] = relationship(lazy="joined")
