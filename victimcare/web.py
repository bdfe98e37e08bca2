"""Request-level wiring: log-in by default, security headers, locale, errors, template helpers."""
from __future__ import annotations

import datetime as dt
import secrets

from zoneinfo import ZoneInfo

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from . import access
from .extensions import login_manager

# A view without an access rule (access.route/signed_in/public) is refused. Transitional switch while
# the existing views are being decorated; True means fail closed.
REQUIRE_ROUTE_RULES = False
# All a user with a temporary password (set by an administrator) may do before choosing their own.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout"}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")


def select_locale():
    lang = session.get("lang")
    return lang if lang in ("zh_CN", "en") else "zh_CN"


def init_app(app):
    from .auth.service import load_session_user
    from .auth.views import admin_bp, auth_bp
    from .audit_views import audit_bp
    from .main import main_bp
    from .disclosures.views import disclosures_bp
    from .employment.views import employment_bp
    from .followups.views import followups_bp
    from .legal.views import legal_bp
    from .medical.views import medical_bp
    from .people.views import people_bp
    from .placements.views import placements_bp
    from .portability.views import portability_bp
    from .referrals.views import referrals_bp
    from .reports.ledger_views import ledgers_bp
    from .reports.stats_views import stats_bp
    from .reports.views import reports_bp
    from .schooling.views import schooling_bp

    for bp in (main_bp, auth_bp, admin_bp, audit_bp, people_bp, referrals_bp, placements_bp, medical_bp,
               legal_bp, schooling_bp, employment_bp, followups_bp, disclosures_bp, reports_bp, stats_bp,
               ledgers_bp, portability_bp):
        app.register_blueprint(bp)

    access.public(app.view_functions["static"])
    login_manager.user_loader(load_session_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    app.before_request(_before_request)
    app.after_request(_security_headers)
    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["ymd"] = format_date
    app.jinja_env.filters["ymdhm"] = format_datetime
    app.jinja_env.globals["get_locale"] = get_locale
    from .medical import reports_access
    app.jinja_env.globals["may_file_report"] = lambda: reports_access.may_file(current_user)
    app.jinja_env.globals["is_police_station"] = lambda: reports_access.is_station(current_user)
    app.jinja_env.globals["can"] = lambda action, person=None, section="identity": \
        access.can(current_user, action, person, section)


def route_rule(endpoint: str | None):
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "access_rule", None)


def _before_request():
    g.request_id = secrets.token_hex(8)
    if request.endpoint is None:  # no such URL: the 404 handler answers
        return None
    rule = route_rule(request.endpoint)
    if rule is not None and rule.public:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("auth.change_password"))
    if rule is None:
        if REQUIRE_ROUTE_RULES:
            current_app.logger.error("Refused %s: the view declares no access rule", request.endpoint)
            access.enforce_route(current_user, access.RouteRule(named="undeclared"))
        return None
    access.enforce_route(current_user, rule)
    return None


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


_ERROR_TITLES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have permission to see this."),
    404: _l("Not found."),
    405: _l("This action is not allowed here."),
    413: _l("The upload is too large."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. Nothing you entered was half-saved."),
}


def _error_page(error):
    code = getattr(error, "code", 500) or 500
    if code == 500:
        from .extensions import db
        db.session.rollback()
    return render_template("errors/error.html", code=code, message=_ERROR_TITLES.get(code, _("Error"))), code


def _csrf_error(error):
    message = _("The form had expired or was not sent from this site. Please go back, reload and try again.")
    return render_template("errors/error.html", code=400, message=message), 400


def format_date(value) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def format_datetime(value) -> str:
    """Stored times are naive UTC; show them in the office's time zone."""
    if not value:
        return ""
    local = value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    return local.strftime("%Y-%m-%d %H:%M")
