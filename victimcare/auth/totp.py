"""Two-factor authentication: TOTP codes (RFC 6238, pyotp) and one-time recovery codes.

A code is accepted for the current 30-second step or one either side (clock drift), and only for
a step later than the last accepted one: a code seen over someone's shoulder cannot be used again.
Recovery codes are stored as a keyed hash (the keyring's blind-index key), each usable once.
"""
from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from ..crypto import blind_index
from ..extensions import db
from .models import RecoveryCode, User, utcnow

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LENGTH = 10  # about 49 bits, and the hash is keyed: useless without the keyring
_TOTP_FORMAT = re.compile(r"[0-9]{6}")  # ASCII only: \d also matches full-width "１２３４５６"


def required_for(user) -> bool:
    return user.role in current_app.config["TOTP_REQUIRED_ROLES"]


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


def _normalise(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").lower()[:64]


# -- enrolment ------------------------------------------------------------------------------
def begin_enrolment(user: User) -> str:
    """Give the user a secret to enter in their authenticator app (kept until confirmed, so a
    second log-in during enrolment shows the same one)."""
    if user.totp_secret_enc is None or user.totp_confirmed_at is not None:
        user.totp_secret = pyotp.random_base32()
        user.totp_confirmed_at = None
        user.totp_last_step = None
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.username, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_svg(user: User) -> str:
    """The provisioning URI as an inline SVG made here: no request leaves the server."""
    return segno.make(provisioning_uri(user), error="m").svg_inline(scale=4, dark="#000", light="#fff")


def confirm_enrolment(user: User, code: str) -> list[str] | None:
    """The first code proves the app holds the secret; returns the new recovery codes."""
    if user.totp_secret_enc is None or not verify_totp(user, code):
        return None
    user.totp_confirmed_at = utcnow()
    return new_recovery_codes(user)


def reset(user: User) -> None:
    """Forget the secret and the recovery codes: a role that needs TOTP enrols again at log-in."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


# -- verification ----------------------------------------------------------------------------
def verify_totp(user: User, code: str | None) -> bool:
    """Check a 6-digit code and use it up (atomically: two requests cannot both use one step)."""
    code = _normalise(code)
    secret = user.totp_secret if user.totp_secret_enc else None
    if not secret or not _TOTP_FORMAT.fullmatch(code):
        return False
    totp, now = pyotp.TOTP(secret), current_step()
    matched = [step for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1)
               if hmac.compare_digest(totp.generate_otp(step), code)]
    if not matched:
        return False
    step = matched[-1]
    used = db.session.execute(
        update(User).where(User.id == user.id,
                           or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if used.rowcount != 1:
        return False  # this step or a later one was used already: a replay
    user.totp_last_step = step
    return True


def verify_second_factor(user: User, code: str | None) -> str | None:
    """A TOTP code or, failing that, an unused recovery code. Returns which one worked, or None."""
    if verify_totp(user, code):
        return "totp"
    if use_recovery_code(user, code):
        return "recovery_code"
    return None


# -- recovery codes ---------------------------------------------------------------------------
def _hash(user: User, code: str) -> str:
    return blind_index("recovery_code", f"{user.id}:{code}", normalise=lambda v: v)


def new_recovery_codes(user: User) -> list[str]:
    """Replace all the user's recovery codes; the plain codes are returned once, never stored."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(user, c)) for c in codes)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def use_recovery_code(user: User, code: str | None) -> bool:
    code = _normalise(code)
    if len(code) != _RECOVERY_LENGTH or not user.has_totp:
        return False
    used = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(user, code),
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return used.rowcount == 1


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))
