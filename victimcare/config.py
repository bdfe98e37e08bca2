"""Configuration defaults.

Order of precedence (later wins): these defaults, ``instance/config.py``,
``VICTIMCARE_*`` environment variables, and the mapping passed to
``create_app`` (tests).
"""
import json
import os
from datetime import timedelta

DEFAULTS = {
    # SQLite in instance/ unless overridden; see create_app for the path.
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "KEYRING_FILE": None,  # default: instance/keys.json
    "DEVELOPMENT": False,
    # Sessions: server-checked, short, no remember-me.
    "SESSION_COOKIE_NAME": "victimcare_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": True,
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),  # absolute lifetime
    # The cookie is signed again only when its content changes, not on every response (that was
    # 0.12 ms of a 3.7 ms page view): its expiry stays at log-in + 8 hours, and the server-side
    # session row (auth.service.load_session_user) enforces idle timeout, absolute lifetime, log-out.
    "SESSION_REFRESH_EACH_REQUEST": False,
    "SESSION_IDLE_TIMEOUT": timedelta(minutes=30),
    "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
    # Two-factor (TOTP) is required for these roles; the step between password and code expires.
    "TOTP_REQUIRED_ROLES": ["manager", "admin"],
    "TOTP_ISSUER": "victimcare",
    "LOGIN_PENDING_TIMEOUT": timedelta(minutes=5),
    # Exports, batch prints and key rotation need the user to have proved who they are this recently.
    "REAUTH_MAX_AGE": timedelta(minutes=5),
    # Log-in protection.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT": timedelta(minutes=15),
    "LOGIN_RATE_LIMIT": "10 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": False,
    # argon2id parameters (argon2-cffi's defaults are the RFC 9106 low-memory profile).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 65536,
    "ARGON2_PARALLELISM": 4,
    "PASSWORD_MIN_LENGTH": 12,
    # i18n
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": ["zh_CN", "en"],
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "PAGE_SIZE": 25,
    # Attachments (attachments/): the file itself, and the largest image accepted (decompression bombs).
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "ATTACHMENT_MAX_PIXELS": 40_000_000,
    # The whole request: an attachment at its limit plus the form around it. A file somewhat over the
    # limit still arrives and gets a message on the form; far over it, the 413 page answers.
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024 + 512 * 1024,
    "KEY_ROTATION_BATCH": 500,
    # Follow-up visits after a return, in months after the return date (followups/rules.py).
    "FOLLOWUP_SCHEDULE_MONTHS": [1, 3, 6, 12],
}

_ENV_PREFIX = "VICTIMCARE_"


def from_environment(environ=os.environ):
    """Read VICTIMCARE_FOO=bar as FOO; values that parse as JSON are decoded."""
    overrides = {}
    for name, raw in environ.items():
        if not name.startswith(_ENV_PREFIX):
            continue
        key = name[len(_ENV_PREFIX):]
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    return overrides
