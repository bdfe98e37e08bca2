"""Sessions end when they must, everywhere at once: log-out, password change, an administrator's
reset, deactivation, "log out everywhere" (the user's own and an administrator's), a two-factor
reset. Every one is tried with the user logged in on two computers and a copy of the session
cookie replayed from a third client. Idle time-out, absolute lifetime and cookie flags."""
from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from victimcare.audit import AuditEvent
from victimcare.auth.models import UserSession, utcnow
from victimcare.extensions import db

from .conftest import PASSWORD, csrf_from, login, post_form

NEW_PASSWORD = "a completely new passphrase"


def goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def sessions_of(user):
    db.session.expire_all()
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()


def audited(action, **details):
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
    return [r for r in rows if all(r.details_dict.get(k) == v for k, v in details.items())]


def stolen_copy(app, client):
    """A copy of the browser's session cookie in another client (an attacker who read it)."""
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


@pytest.fixture
def admin_browser(app, orgs, make_user):
    admin = make_user("admin", orgs["bureau"])
    browser = app.test_client()
    assert login(browser, admin).status_code == 302
    return browser


# Each way of ending a user's sessions, done from `own` (the user's browser) or by an administrator.
def _logout(user, own, admin_browser):
    return post_form(own, "/logout", {}, page_url="/")


def _change_password(user, own, admin_browser):
    return post_form(own, "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD})


def _own_sign_out_everywhere(user, own, admin_browser):
    return post_form(own, "/account/sign-out-everywhere", {}, page_url="/account")


def _admin_reset_password(user, own, admin_browser):
    return post_form(admin_browser, f"/admin/users/{user.id}/password",
                     {"password": NEW_PASSWORD, "must_change": "y"})


def _admin_deactivates(user, own, admin_browser):
    return post_form(admin_browser, f"/admin/users/{user.id}/active", {"active": "0"}, page_url="/admin/users")


def _admin_sign_out_everywhere(user, own, admin_browser):
    return post_form(admin_browser, f"/admin/users/{user.id}/sign-out", {}, page_url="/admin/users")


def _admin_resets_two_factor(user, own, admin_browser):
    return post_form(admin_browser, f"/admin/users/{user.id}/two-factor/reset", {}, page_url="/admin/users")


ENDINGS = [_logout, _change_password, _own_sign_out_everywhere, _admin_reset_password, _admin_deactivates,
           _admin_sign_out_everywhere, _admin_resets_two_factor]


@pytest.mark.parametrize("role", ["caseworker", "manager"])
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__.strip("_"))
def test_every_session_of_the_user_ends_at_once(app, client, orgs, make_user, admin_browser, ending, role):
    user = make_user(role, orgs["shelter_a"])
    assert login(client, user).status_code == 302
    laptop = app.test_client()
    assert login(laptop, user).status_code == 302
    thief = stolen_copy(app, client)
    colleague = make_user("caseworker", orgs["shelter_a"])
    desk = app.test_client()
    assert login(desk, colleague).status_code == 302
    for browser in (client, laptop, thief):
        assert browser.get("/people/" if role == "caseworker" else "/").status_code == 200
    old_rows = {s.token_hash for s in sessions_of(user)}

    response = ending(user, client, admin_browser)
    assert response.status_code == 302, response.text

    for browser in (laptop, thief):
        assert goes_to_login(browser.get("/")), ending.__name__
        assert goes_to_login(browser.get("/people/"))
    if ending is not _change_password:
        assert goes_to_login(client.get("/"))
    else:  # the browser that changed it continues in a new session; the old ones are gone
        assert client.get("/").status_code == 200
    assert all(s.revoked_at is not None for s in sessions_of(user) if s.token_hash in old_rows)
    assert desk.get("/").status_code == 200  # nobody else is affected
    assert admin_browser.get("/admin/users").status_code == 200


def test_sign_out_everywhere_is_audited_and_on_the_pages(client, orgs, make_user, admin_browser):
    user = make_user("caseworker", orgs["shelter_a"])
    login(client, user)
    page = admin_browser.get("/admin/users")
    assert f"/admin/users/{user.id}/sign-out" in page.text
    _admin_sign_out_everywhere(user, client, admin_browser)
    [row] = audited("admin", change="sign_out_everywhere")
    assert row.object_id == str(user.id) and row.user_id != user.id

    login(client, user)
    assert "/account/sign-out-everywhere" in client.get("/account").text
    _own_sign_out_everywhere(user, client, admin_browser)
    [own] = audited("logout", everywhere=True)
    assert own.user_id == user.id


def test_sign_out_needs_csrf_and_an_administrator(app, client, orgs, make_user, admin_browser):
    user = make_user("caseworker", orgs["shelter_a"])
    victim = app.test_client()
    login(victim, user)
    admin_browser.post(f"/admin/users/{user.id}/sign-out")  # no CSRF token: nothing happens
    client.post("/account/sign-out-everywhere")
    assert victim.get("/").status_code == 200
    login(client, make_user("manager", orgs["bureau"]))
    response = client.post(f"/admin/users/{user.id}/sign-out",
                           data={"csrf_token": csrf_from(client.get("/").text)})
    assert response.status_code == 403
    assert victim.get("/").status_code == 200
    assert audited("denied")


def test_a_cookie_from_before_log_in_is_worthless_afterwards(app, client, orgs, make_user):
    """Session fixation: a cookie planted before the victim logs in does not become their session."""
    user = make_user("manager", orgs["bureau"])
    client.get("/login")
    planted = stolen_copy(app, client)
    assert login(client, user).status_code == 302
    assert client.get("/").status_code == 200
    assert goes_to_login(planted.get("/"))


# -- time -----------------------------------------------------------------------------------------
def _age_sessions(user, **values):
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id).values(**values))
    db.session.commit()


def test_idle_timeout_also_stops_a_copied_cookie(app, client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    thief = stolen_copy(app, client)
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    _age_sessions(user, last_seen_at=utcnow() - idle - dt.timedelta(seconds=1))
    assert goes_to_login(thief.get("/"))
    assert goes_to_login(client.get("/"))
    _age_sessions(user, last_seen_at=utcnow())  # a live session does not come back
    assert goes_to_login(client.get("/"))


def test_activity_does_not_extend_the_absolute_lifetime(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    [row] = sessions_of(user)
    assert row.expires_at - row.created_at == lifetime
    start = utcnow() - lifetime + dt.timedelta(seconds=30)
    _age_sessions(user, created_at=start, expires_at=start + lifetime,
                  last_seen_at=utcnow() - dt.timedelta(minutes=2))
    assert client.get("/").status_code == 200  # busy until the end...
    [row] = sessions_of(user)
    assert row.last_seen_at > utcnow() - dt.timedelta(seconds=10) and row.expires_at == start + lifetime
    _age_sessions(user, expires_at=utcnow() - dt.timedelta(seconds=1))
    assert goes_to_login(client.get("/"))  # ...and out at the end however busy


# -- cookies --------------------------------------------------------------------------------------
def _session_cookie(app, response) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_cookie_after_a_two_factor_log_in(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    response = login(client, user)
    header = _session_cookie(app, response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0]).replace(tzinfo=None)
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    assert expires <= utcnow() + lifetime + dt.timedelta(seconds=5)  # never beyond the session's lifetime
    assert not any("remember" in h.lower() for h in response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None
    assert app.config["REMEMBER_COOKIE_DURATION"] == dt.timedelta(0)


@pytest.mark.parametrize("development, secure", [(True, False), (False, True)])
def test_secure_flag_is_off_only_in_development(app, test_config, development, secure):
    from victimcare import create_app
    config = {k: v for k, v in test_config.items() if k != "SESSION_COOKIE_SECURE"}
    db.session.remove()
    other = create_app({**config, "DEVELOPMENT": development})
    try:
        assert other.config["SESSION_COOKIE_SECURE"] is secure
        header = _session_cookie(other, other.test_client().get("/login"))
        assert ("Secure" in header) is secure
        assert "HttpOnly" in header and "SameSite=Lax" in header
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
