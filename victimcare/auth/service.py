"""Log-in, lock-out and server-side sessions."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from .. import audit
from ..extensions import db
from .models import Organisation, User, UserSession, utcnow
from .passwords import hash_password, needs_rehash, verify_password

_TOUCH_EVERY = dt.timedelta(seconds=60)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def authenticate(username: str, password: str) -> tuple[User | None, str]:
    """Check a log-in attempt. Returns (user, "") or (None, reason) with reason one of
    "invalid", "locked". Failures count towards the lock-out; both are audited."""
    cfg = current_app.config
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    now = utcnow()
    if user is not None and user.is_locked(now):
        audit.record_now("login_failed", username=username[:80], details={"reason": "locked"})
        return None, "locked"
    if not verify_password(user.password_hash if user else None, password) or not (user and user.active):
        if user is not None and user.active:
            user.failed_logins += 1
            if user.failed_logins >= cfg["LOGIN_MAX_FAILURES"]:
                user.locked_until = now + cfg["LOGIN_LOCKOUT"]
                user.failed_logins = 0
            db.session.commit()
        audit.record_now("login_failed", username=username[:80], details={"reason": "invalid"})
        return None, "invalid"
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user, ""


def start_session(user: User) -> None:
    """Replace whatever session the browser had with a fresh server-side one."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UserSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                               last_seen_at=now,
                               expires_at=now + current_app.config["PERMANENT_SESSION_LIFETIME"]))
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["sid"] = token
    session.permanent = True
    login_user(user, remember=False)
    audit.record("login", user=user)
    db.session.commit()


def load_session_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the cookie is only good while its server row is."""
    token = session.get("sid")
    if not token or not user_id.isdigit():
        return None
    row = db.session.get(UserSession, _token_hash(token))
    now = utcnow()
    idle = current_app.config["SESSION_IDLE_TIMEOUT"]
    if (row is None or row.user_id != int(user_id) or row.revoked_at is not None
            or row.expires_at <= now or row.last_seen_at + idle <= now):
        session.clear()
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        session.clear()
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return user


def end_session(user: User | None) -> None:
    token = session.get("sid")
    if token:
        db.session.execute(update(UserSession).where(UserSession.token_hash == _token_hash(token))
                           .values(revoked_at=utcnow()))
    if user is not None and user.is_authenticated:
        audit.record("logout", user=user)
    db.session.commit()
    logout_user()
    session.clear()


def revoke_all_sessions(user: User) -> None:
    db.session.execute(update(UserSession)
                       .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def set_password(user: User, password: str, *, must_change: bool = False) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    user.failed_logins = 0
    user.locked_until = None
    revoke_all_sessions(user)


def create_organisation(name: str, kind: str, region_code: str, parent: Organisation | None) -> Organisation:
    org = Organisation(name=name.strip(), kind=kind, region_code=region_code, parent=parent)
    db.session.add(org)
    db.session.flush()  # the id is part of the path
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


def create_user(username: str, display_name: str, role: str, organisation: Organisation,
                password: str, *, must_change: bool = False) -> User:
    user = User(username=username.strip(), display_name=display_name.strip(), role=role,
                organisation=organisation, password_hash=hash_password(password),
                must_change_password=must_change)
    db.session.add(user)
    db.session.flush()
    return user
