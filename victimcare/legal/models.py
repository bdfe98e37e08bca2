"""Legal aid (法律援助): one entry per application to a legal-aid agency.

Source: State Council 2008–2012 plan 四(四)2(1) and Jiangsu 2009 ("法律援助机构依法为被解救妇女儿童提供
必要的法律援助"), Fujian 2013–2020 二(三)4, Jiangsu 2021–2030 二(三)1(7) (全域通办, 法律援助绿色通道).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

MATTERS = ("victim_representation", "compensation", "custody", "other")
STATUSES = ("applied", "accepted", "in_progress", "concluded", "refused", "withdrawn")
# Fields shown in the history and written from the form, in form order.
FIELDS = ("application_date", "agency_id", "lawyer_name", "green_channel", "matter", "details", "status",
          "outcome", "outcome_date")


class LegalAid(EntryMixin, db.Model):
    __tablename__ = "legal_aid"
    # The writing organisation: only its users edit the entry.
    office_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    application_date: Mapped[dt.date] = mapped_column(Date, index=True)
    green_channel: Mapped[bool] = mapped_column(Boolean, default=False)
    matter: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome_date: Mapped[dt.date | None] = mapped_column(Date)

    lawyer_name_enc: Mapped[str | None] = enc_column()
    details_enc: Mapped[str | None] = enc_column()
    outcome_enc: Mapped[str | None] = enc_column()
    lawyer_name = Encrypted()
    details = Encrypted()
    outcome = Encrypted()

    agency: Mapped[Organisation] = relationship(foreign_keys="LegalAid.agency_id", lazy="joined")
