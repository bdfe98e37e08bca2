"""Request-level wiring: log-in by default, security headers, locale, errors, template helpers."""
from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import quote

from zoneinfo import ZoneInfo

from babel import Locale
from flask import current_app, g, has_request_context, redirect, render_template, request, session, url_for
from flask_babel import get_locale, get_translations
from flask_babel.speaklater import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from jinja2 import pass_context, pass_eval_context
from markupsafe import Markup
from sqlalchemy.exc import InternalError, OperationalError, SQLAlchemyError

from . import access
from .extensions import login_manager

# All a user with a temporary password (set by an administrator) may do before choosing their own.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout"}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")


# Parsed once: Flask-Babel parses what the selector returns on every request, and babel's Locale.parse
# of a name searches its locale-data folder each time (a fraction of a millisecond per page).
_LOCALES = {code: Locale.parse(code) for code in ("zh_CN", "en")}


def select_locale():
    return _LOCALES.get(session.get("lang"), _LOCALES["zh_CN"])


def init_app(app):
    from .auth.service import load_session_user
    from .auth.admin_views import admin_bp
    from .auth.views import auth_bp
    from .attachments.views import attachments_bp
    from .audit_views import audit_bp
    from .main import main_bp
    from .disclosures.views import disclosures_bp
    from .employment.views import employment_bp
    from .followups.views import followups_bp
    from .legal.views import legal_bp
    from .medical.views import medical_bp
    from .people.duplicate_views import duplicates_bp
    from .people.views import people_bp
    from .placements.views import placements_bp
    from .portability.views import portability_bp
    from .referrals.views import referrals_bp
    from .reports.ledger_views import ledgers_bp
    from .reports.stats_views import stats_bp
    from .regions.views import regions_bp
    from .reports.views import reports_bp
    from .schooling.views import schooling_bp

    for bp in (main_bp, auth_bp, admin_bp, audit_bp, people_bp, referrals_bp, placements_bp, medical_bp,
               legal_bp, schooling_bp, employment_bp, followups_bp, disclosures_bp, reports_bp, stats_bp,
               ledgers_bp, portability_bp, attachments_bp, regions_bp, duplicates_bp):
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
    app.register_error_handler(SQLAlchemyError, _database_error)

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["ymd"] = format_date
    app.jinja_env.filters["ymdhm"] = format_datetime
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["may_file_report"] = lambda: access.may_file_report(current_user)
    app.jinja_env.globals["is_police_station"] = lambda: access.is_police_station(current_user)
    # The user object itself, not the proxy: a page asks can() dozens of times and every attribute
    # read through current_user goes through the context lookup again.
    app.jinja_env.globals["can"] = lambda action, person=None, section="identity": \
        access.can(current_user._get_current_object(), action, person, section)
    # Every right on one person's file in one go (the file header's tabs ask a dozen).
    app.jinja_env.globals["main_nav"] = main_nav
    app.jinja_env.globals["person_url"] = person_url
    app.jinja_env.globals["person_rights"] = lambda person: access.rights(current_user._get_current_object(), person)
    app.context_processor(_page_helpers)
    app.jinja_env.finalize = _translate_lazy  # before any template is compiled: it is part of the code


def _page_helpers() -> dict:
    """gettext and can() bound once per rendered page to its translations and user (they shadow the
    globals of the same name): a page asks them a hundred times, and Flask-Babel and Flask-Login look
    both up again through the request context on every call. Under force_locale (printouts) the page
    is rendered inside the block, so it binds the forced locale's translations."""
    if not has_request_context():
        return {}
    translations = get_translations()
    user = current_user._get_current_object()

    @pass_eval_context
    def gettext(eval_ctx, string, **variables):
        # As Jinja's newstyle gettext (jinja2.ext): always a format string, escaped in HTML pages.
        text = translations.ugettext(string)
        if not variables and "%" not in text:
            # Formatting would give the text itself; Markup's % wraps and escapes, a page asks fifty.
            return Markup(text) if eval_ctx.autoescape else text
        return (Markup(text) if eval_ctx.autoescape else text) % variables

    return {"gettext": gettext, "_": gettext, "_page_translations": translations,
            "can": lambda action, person=None, section="identity": access.can(user, action, person, section)}


def main_nav() -> Markup:
    """The header's menu. Which links it shows depends only on the user's role and organisation kind
    (templates/_nav.html), so it is rendered once per language, script root and kind of user and kept:
    it is a dozen url_for() and can() calls on every page. The views check access again."""
    user = current_user._get_current_object()
    cache = current_app.extensions.setdefault("victimcare_main_nav", {})
    key = (str(get_locale()), request.script_root, user.role, user.organisation.kind,
           user.organisation.holds_cases, user.organisation.active)
    html = cache.get(key)
    if html is None:
        html = cache[key] = Markup(render_template("_nav.html"))
    return html


def person_url(endpoint: str, person_id: str) -> str:
    """url_for(endpoint, person_id=...) for a page of one person's file: the URL around the id is built
    once per endpoint and script root (a file page links to twenty pages of the file)."""
    cache = current_app.extensions.setdefault("victimcare_person_urls", {})
    key = (request.script_root, endpoint)
    parts = cache.get(key)
    if parts is None:
        parts = cache[key] = tuple(url_for(endpoint, person_id="PERSON").split("PERSON"))
    return quote(person_id, safe="").join(parts)


@pass_context
def _translate_lazy(context, value):
    """Every value a template prints passes here. A lazily translated string (a label, a section's
    title: lazy_gettext without arguments) is translated with the page's translations, and kept as
    markup as it would have been; Flask-Babel would look up the request's translations again for each."""
    if type(value) is LazyString and getattr(value, "_func", None) is _ \
            and len(getattr(value, "_args", ())) == 1 and not getattr(value, "_kwargs", True):
        translations = context.get("_page_translations")
        if translations is not None:
            return Markup(translations.ugettext(value._args[0]))
    return value


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
    if rule is None:  # a view without access.route/signed_in/public: refused (fail closed, audited)
        current_app.logger.error("Refused %s: the view declares no access rule", request.endpoint)
        rule = access.RouteRule(named="undeclared")
    access.enforce_route(current_user, rule)
    return None


# Answers holding no case data, which set their own Cache-Control; every other page is no-store.
CACHEABLE_ENDPOINTS = frozenset({"static", "regions.children_of"})


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.endpoint not in CACHEABLE_ENDPOINTS or response.status_code not in (200, 304):
        headers["Cache-Control"] = "no-store"  # an error page shows who is signed in
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


_DATABASE_UNAVAILABLE = _l("The database cannot save right now: the disk is full or the database is read-only. "
                           "Nothing was half-saved. Please tell your administrator.")


def _database_error(error):
    """A database error escaping a view: roll back (so the transaction is all or nothing), log what
    failed without the statement's values, and answer with a page, never a traceback. The disk
    full / read-only kind (OperationalError, InternalError) is 503; anything else is a plain 500."""
    from .extensions import db
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.remove()
    # The page must not load the user again: that may write (session touch) and fail once more.
    g._login_user = login_manager.anonymous_user()
    unavailable = isinstance(error, (OperationalError, InternalError))
    current_app.logger.error("Database error on %s %s (request %s): %s: %s", request.method, request.path,
                             g.get("request_id"), type(error).__name__,
                             str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0])
    code = 503 if unavailable else 500
    message = _DATABASE_UNAVAILABLE if unavailable else _ERROR_TITLES[500]
    return render_template("errors/error.html", code=code, message=message), code


def _csrf_error(error):
    message = _("The form had expired or was not sent from this site. Please go back, reload and try again.")
    return render_template("errors/error.html", code=400, message=message), 400


def format_date(value) -> str:
    """A date as it is; a stored time (naive UTC) as its day in the office's time zone: a referral made
    at 08:30 in Beijing is on that day, not on the UTC day before."""
    if not value:
        return ""
    return (_local(value) if isinstance(value, dt.datetime) else value).strftime("%Y-%m-%d")


def format_datetime(value) -> str:
    """Stored times are naive UTC; show them in the office's time zone."""
    return _local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _local(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


# Beyond any list; a larger ?page= made an OFFSET the database cannot hold (a server error).
MAX_PAGE = 100_000


def page_arg() -> int:
    """The ?page= of a paged list: 1 when absent or not a number, at most MAX_PAGE."""
    return min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE)
