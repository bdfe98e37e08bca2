"""Referrals: a person's file opened to a partner organisation for its own section."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation, User
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

# pending: the partner sees the minimal identity and decides; active: the partner works on its
# section; declined (by the partner, with a reason) and closed (by the caseworker) end access.
REFERRAL_STATUSES = ("pending", "active", "declined", "closed")


class Referral(EntryMixin, db.Model):
    __tablename__ = "referral"
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    section: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    responded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    purpose_enc: Mapped[str | None] = enc_column()
    decline_reason_enc: Mapped[str | None] = enc_column()
    close_reason_enc: Mapped[str | None] = enc_column()
    purpose = Encrypted()
    decline_reason = Encrypted()
    close_reason = Encrypted()

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys="Referral.created_by_id")
    person = relationship("Person", lazy="joined")

    @property
    def live(self) -> bool:
        return self.status in ("pending", "active")
