"""Organisations, users and their server-side sessions."""
from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..crypto import Encrypted, enc_column
from ..extensions import db

ORG_KINDS = ("bureau", "shelter", "hospital", "police", "school_office", "legal_aid",
             "employment_office", "supervision")
# Organisations that hold case files (the rest are partners reached through referrals).
CASE_HOLDING_KINDS = ("bureau", "shelter")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Organisation(db.Model):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    region_code: Mapped[str] = mapped_column(String(6))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    # Materialised path "/1/4/": a subtree is a prefix match, one indexed query.
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    parent: Mapped["Organisation | None"] = relationship(remote_side=[id])

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def holds_cases(self) -> bool:
        return self.kind in CASE_HOLDING_KINDS


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Two-factor (TOTP). The secret is set (unconfirmed) when enrolment starts; the user has TOTP
    # once a code was confirmed. totp_last_step is the last accepted 30-second step: a code is
    # accepted only for a later step, so an observed code cannot be replayed.
    totp_secret_enc: Mapped[str | None] = enc_column()
    totp_confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    # The row id is part of the associated data: only set it on a flushed user (integer id).
    totp_secret = Encrypted()

    @property
    def has_totp(self) -> bool:
        return self.totp_confirmed_at is not None and self.totp_secret_enc is not None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def is_locked(self, now: dt.datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())


class UserSession(db.Model):
    """A log-in. The cookie holds a random token; the database holds its SHA-256.

    Logging out, deactivation or a password reset revokes rows here, so a copied
    cookie stops working at once."""
    __tablename__ = "user_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    # When the user last proved who they are in this session (log-in or re-authentication):
    # exports, batch prints and key rotation need it recent (auth/reauth.py).
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class RecoveryCode(db.Model):
    """A one-time two-factor recovery code. Only its keyed hash is stored (crypto blind index)."""
    __tablename__ = "recovery_code"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
