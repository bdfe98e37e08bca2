"""Log-in, lock-out, rate limit, CSRF, server-side sessions, cookies, headers, language."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from victimcare import create_app
from victimcare.audit import AuditEvent
from victimcare.auth.models import User, UserSession, utcnow
from victimcare.extensions import db

from .conftest import PASSWORD, csrf_from, enrol_at_login, login, post_form

WRONG = "not the right password at all"
PUBLIC_ENDPOINTS = {"auth.login", "auth.login_code", "auth.login_enrol", "static", "main.language",
                    "main.healthz"}


# -- helpers -------------------------------------------------------------------
def english(client):
    """Messages are asserted in English whatever translations exist."""
    client.get("/language/en")


def form_error(html: str) -> str:
    match = re.search(r'<div class="flash flash-error" role="alert">(.*?)</div>', html, re.S)
    assert match, "no form error on the page"
    return " ".join(match.group(1).split())


def goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.seq)).all()


def sessions_of(user):
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()


@pytest.fixture
def make_app(app, test_config):
    """Build a second app with different settings (same database); disposed afterwards."""
    built = []

    def make(**overrides):
        db.session.remove()  # the test's own session must hold no lock the other app waits for
        config = {**test_config, **overrides}
        for key in [k for k, v in overrides.items() if v is None]:
            del config[key]  # None means "leave at the default"
        other = create_app(config)
        built.append(other)
        return other
    yield make
    for other in built:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


# -- log-in ----------------------------------------------------------------------
def test_login_page_is_public_and_defaults_to_chinese(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert 'name="csrf_token"' in page.text


def test_wrong_password_shows_error_and_starts_no_session(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    english(client)
    response = login(client, user, WRONG)
    assert response.status_code == 200
    assert "Wrong username or password." in form_error(response.text)
    assert sessions_of(user) == []
    assert goes_to_login(client.get("/"))
    [row] = audit_rows("login_failed")
    assert row.username == user.username and row.details_dict == {"reason": "invalid"}
    assert WRONG not in row.details and PASSWORD not in row.details
    assert audit_rows("login") == []


def test_unknown_user_gets_the_same_message(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    english(client)
    wrong_password = form_error(login(client, user, WRONG).text)
    ghost = User(username="nobody.here")
    response = login(client, ghost, PASSWORD)
    assert response.status_code == 200
    assert form_error(response.text) == wrong_password
    assert [r.username for r in audit_rows("login_failed")] == [user.username, "nobody.here"]
    assert goes_to_login(client.get("/"))


def test_successful_login_is_audited_and_opens_a_session(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    response = login(client, user)
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/"
    [row] = audit_rows("login")
    assert row.user_id == user.id and row.username == user.username
    [server_session] = sessions_of(user)
    assert server_session.revoked_at is None and server_session.expires_at > utcnow()
    assert client.get("/").status_code == 200


def test_password_hash_is_argon2id(orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# -- lock-out ----------------------------------------------------------------------
def test_lockout_after_max_failures_then_unlocks_when_time_passes(app, client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    english(client)
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert login(client, user, WRONG).status_code == 200
    db.session.refresh(user)
    assert user.locked_until is None and user.failed_logins == app.config["LOGIN_MAX_FAILURES"] - 1

    login(client, user, WRONG)
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()

    response = login(client, user, PASSWORD)
    assert response.status_code == 200
    assert "locked" in form_error(response.text)
    assert sessions_of(user) == [] and audit_rows("login") == []
    assert audit_rows("login_failed")[-1].details_dict == {"reason": "locked"}

    user.locked_until = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert login(client, user).status_code == 302
    assert client.get("/").status_code == 200
    db.session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 0


def test_successful_login_resets_the_failure_count(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    for _ in range(3):
        login(client, user, WRONG)
    assert login(client, user).status_code == 302
    db.session.refresh(user)
    assert user.failed_logins == 0


def test_login_post_is_rate_limited(make_app):
    limited = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    token = csrf_from(client.get("/login").text)
    data = {"csrf_token": token, "username": "nobody.here", "password": WRONG}
    codes = [client.post("/login", data=data).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/login").status_code == 200  # only POST is limited


# -- CSRF --------------------------------------------------------------------------
def test_login_without_csrf_token_is_refused(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert sessions_of(user) == [] and audit_rows("login") == []
    assert goes_to_login(client.get("/"))


def test_logout_without_csrf_token_does_not_log_out(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.post("/logout")
    assert client.get("/").status_code == 200
    assert [s.revoked_at for s in sessions_of(user)] == [None]
    assert audit_rows("logout") == []


# -- server-side sessions -------------------------------------------------------------
def copy_session_to_fresh_client(app, client):
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def test_copied_cookie_stops_working_after_logout(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    thief = copy_session_to_fresh_client(app, client)
    assert thief.get("/").status_code == 200  # the copy works while the session lives

    response = post_form(client, "/logout", {}, page_url="/")
    assert goes_to_login(response)
    assert goes_to_login(client.get("/"))
    assert goes_to_login(thief.get("/"))
    assert sessions_of(user)[0].revoked_at is not None
    assert [r.user_id for r in audit_rows("logout")] == [user.id]


def test_logout_keeps_the_chosen_language_and_nothing_else(app, client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    thief = copy_session_to_fresh_client(app, client)
    post_form(client, "/logout", {}, page_url="/")
    page = client.get("/login")
    assert 'lang="en"' in page.text and "Log in" in page.text
    assert goes_to_login(client.get("/")) and goes_to_login(thief.get("/"))


def test_logout_ends_every_session_of_the_user(app, client, orgs, logged_in, make_user):
    user = logged_in("caseworker", orgs["shelter_a"])
    laptop = app.test_client()
    assert login(laptop, user).status_code == 302
    colleague = make_user("caseworker", orgs["shelter_a"])
    desk = app.test_client()
    assert login(desk, colleague).status_code == 302
    assert len(sessions_of(user)) == 2
    post_form(client, "/logout", {}, page_url="/")
    assert goes_to_login(client.get("/"))
    assert goes_to_login(laptop.get("/"))
    assert all(s.revoked_at is not None for s in sessions_of(user))
    assert desk.get("/").status_code == 200  # only that user's sessions


def test_logged_in_user_visiting_login_goes_home(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    assert urlsplit(client.get("/login").headers["Location"]).path == "/"


def test_idle_timeout_ends_the_session(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(last_seen_at=utcnow() - idle - dt.timedelta(seconds=5)))
    db.session.commit()
    assert goes_to_login(client.get("/"))


def test_recent_activity_keeps_the_session(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(last_seen_at=utcnow() - idle + dt.timedelta(minutes=2)))
    db.session.commit()
    assert client.get("/").status_code == 200


def test_absolute_lifetime_ends_the_session(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(last_seen_at=utcnow(), expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert goes_to_login(client.get("/"))


def test_session_lifetime_is_short(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"] <= dt.timedelta(hours=12)
    assert app.config["SESSION_IDLE_TIMEOUT"] <= dt.timedelta(hours=1)


# -- cookies -----------------------------------------------------------------------
def session_set_cookie(app, response) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_session_cookie_flags_and_no_remember_me(app, client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    response = login(client, user)
    header = session_set_cookie(app, response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Expires=" in header  # bounded by the session lifetime, not a browser-long cookie
    assert not any(h.startswith("remember_token") for h in response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None


def test_session_cookie_is_secure_by_default(make_app):
    default = make_app(SESSION_COOKIE_SECURE=None)
    assert default.config["SESSION_COOKIE_SECURE"] is True
    response = default.test_client().get("/login")
    header = session_set_cookie(default, response)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


# -- headers and assets ------------------------------------------------------------
def csp_directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.strip() for d in policy.split(";") if d.strip()}


def test_security_headers_on_public_page(client):
    response = client.get("/login")
    csp = csp_directives(response)
    assert "'unsafe-inline'" not in csp.get("script-src", csp["default-src"])
    assert "'unsafe-eval'" not in csp.get("script-src", csp["default-src"])
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_authenticated_pages_are_not_cached(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    for url in ("/", "/people/", "/account/password"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response.headers["Cache-Control"], url
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "'unsafe-inline'" not in csp_directives(response)["script-src"]


_EXTERNAL = re.compile(r'<(?:link|script)\b[^>]*\b(?:href|src)\s*=\s*["\']?\s*(?:[a-z]+:)?//', re.I)


@pytest.mark.parametrize("role, urls", [
    ("caseworker", ["/", "/people/", "/people/new", "/account/password"]),
    ("admin", ["/", "/admin/users", "/admin/users/new", "/admin/organisations",
               "/admin/organisations/new"]),
])
def test_no_page_loads_external_assets(client, orgs, logged_in, role, urls):
    pages = [client.get("/login").text]
    logged_in(role, orgs["bureau"])
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.text)
    for html in pages:
        assert not _EXTERNAL.search(html)
        assert "<script>" not in html  # no inline script: the CSP would block it anyway


# -- log-in required everywhere -----------------------------------------------------------
def _dummy_url(app, rule) -> str:
    from werkzeug.routing import IntegerConverter
    values = {arg: 1 if isinstance(rule._converters[arg], IntegerConverter) else "x"
              for arg in rule.arguments}
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=None)


def test_public_endpoints_are_only_the_expected_ones(app):
    from victimcare import web
    public = {rule.endpoint for rule in app.url_map.iter_rules()
              if (web.route_rule(rule.endpoint) or None) and web.route_rule(rule.endpoint).public}
    assert public == PUBLIC_ENDPOINTS


def test_every_other_url_sends_anonymous_users_to_login(app, client):
    token = csrf_from(client.get("/login").text)
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = _dummy_url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token} if method != "GET" else None
            response = client.open(url, method=method, data=data)
            assert goes_to_login(response), f"{method} {url} -> {response.status_code}"
            checked += 1
    assert checked >= 10


# -- open redirect --------------------------------------------------------------------
@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "///evil.example", "\\\\evil.example"])
def test_next_never_leaves_the_site(client, orgs, make_user, target):
    user = make_user("caseworker", orgs["shelter_a"])
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", query_string={"next": target},
                           data={"csrf_token": token, "username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/" and location.netloc in ("", "localhost")


def test_next_inside_the_site_is_followed(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    token = csrf_from(client.get("/login").text)
    response = client.post("/login?next=/people/", data={"csrf_token": token, "username": user.username,
                                                         "password": PASSWORD})
    assert urlsplit(response.headers["Location"]).path == "/people/"


def test_language_switch_next_never_leaves_the_site(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = client.get("/language/en", query_string={"next": "//evil.example"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")


# -- CLI -------------------------------------------------------------------------------
def test_cli_create_user_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=[
        "create-user", "--username", "first.admin", "--role", "admin", "--organisation", "省民政厅",
        "--region", "320000", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "first.admin"))
    assert user.role == "admin" and user.organisation.name == "省民政厅"
    assert user.password_hash.startswith("$argon2id$")
    response = login(client, user)
    assert urlsplit(response.headers["Location"]).path == "/login/two-factor"  # an admin needs two-factor
    enrolled, _secret = enrol_at_login(client)
    assert enrolled.status_code == 200
    assert client.get("/admin/users").status_code == 200


def test_cli_create_user_refuses_a_short_password(app):
    result = app.test_cli_runner().invoke(args=[
        "create-user", "--username", "weak", "--role", "admin", "--organisation", "省民政厅",
        "--region", "320000", "--password-stdin"], input="short\n")
    assert result.exit_code != 0
    assert db.session.scalar(select(User.id).where(User.username == "weak")) is None


# -- language ----------------------------------------------------------------------------
def test_language_switch_to_english_and_back(client, orgs, make_user):
    assert '<html lang="zh-CN">' in client.get("/login").text
    response = client.get("/language/en")
    assert goes_to_login(response)
    assert '<html lang="en">' in client.get("/login").text
    client.get("/language/xx")  # unknown codes are ignored
    assert '<html lang="en">' in client.get("/login").text

    user = make_user("caseworker", orgs["shelter_a"])
    login(client, user)  # the choice survives the new session
    assert '<html lang="en">' in client.get("/").text
    client.get("/language/zh_CN")
    assert '<html lang="zh-CN">' in client.get("/").text
