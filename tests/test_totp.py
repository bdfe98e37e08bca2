"""Two-factor authentication (TOTP) for managers and administrators: the code step, enrolment,
replay, lock-out, recovery codes, an administrator's reset, and that nothing in between counts as
being signed in."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select, text, update

from victimcare.audit import AuditEvent
from victimcare.auth import totp
from victimcare.auth.models import RecoveryCode, User, UserSession, utcnow
from victimcare.extensions import db

from .conftest import PASSWORD, csrf_from, enrol_at_login, login, post_form, totp_code

WRONG_CODE = "000000"


def english(client):
    client.get("/language/en")


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path if response.status_code == 302 else ""


def goes_to_login(response) -> bool:
    return path_of(response) == "/login"


def sessions_of(user):
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()


def password_step(client, user, password=PASSWORD, next_url=None):
    page = client.get("/login")
    return client.post("/login" + (f"?next={next_url}" if next_url else ""),
                       data={"csrf_token": csrf_from(page.text), "username": user.username, "password": password})


def code_step(client, code):
    page = client.get("/login/code")
    return client.post("/login/code", data={"csrf_token": csrf_from(page.text), "code": code})


def fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def recovery_codes_from(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", html)


# -- the code step ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_password_alone_does_not_sign_in_a_manager_or_admin(app, client, orgs, make_user, role):
    user = make_user(role, orgs["bureau"])
    response = password_step(client, user)
    assert path_of(response) == "/login/code"
    assert sessions_of(user) == [] and audit_rows("login") == []
    for url in ("/", "/people/", "/admin/users", "/account", "/account/confirm", "/statistics/"):
        assert goes_to_login(client.get(url)), url
    # the half-way cookie, copied elsewhere, is no more use
    thief = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    thief.set_cookie(name, client.get_cookie(name).value)
    assert goes_to_login(thief.get("/"))

    response = code_step(client, totp_code(user.id, user.totp_secret))
    assert path_of(response) == "/"
    assert client.get("/").status_code == 200
    [row] = audit_rows("login")
    assert row.user_id == user.id and row.details_dict == {"second_factor": "totp"}
    assert len(sessions_of(user)) == 1


def test_the_code_step_keeps_the_next_url_and_refuses_foreign_ones(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    password_step(client, user, next_url="/people/")
    assert path_of(code_step(client, totp_code(user.id, user.totp_secret))) == "/people/"
    post_form(client, "/logout", {}, page_url="/")
    password_step(client, user, next_url="//evil.example/")
    response = code_step(client, totp_code(user.id, user.totp_secret))
    assert path_of(response) == "/" and urlsplit(response.headers["Location"]).netloc in ("", "localhost")


def test_code_step_without_a_password_step_goes_back_to_log_in(client, orgs, make_user):
    assert goes_to_login(client.get("/login/code"))
    token = csrf_from(client.get("/login").text)
    assert goes_to_login(client.post("/login/code", data={"csrf_token": token, "code": "123456"}))
    assert goes_to_login(client.get("/login/two-factor"))


def test_the_pending_step_expires(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    password_step(client, user)
    page = client.get("/login/code")
    timeout = app.config["LOGIN_PENDING_TIMEOUT"].total_seconds()
    with client.session_transaction() as cookie:
        cookie["pending_login"] = {**cookie["pending_login"], "at": cookie["pending_login"]["at"] - timeout - 1}
    response = client.post("/login/code", data={"csrf_token": csrf_from(page.text),
                                                "code": totp_code(user.id, user.totp_secret)})
    assert goes_to_login(response)
    assert sessions_of(user) == [] and goes_to_login(client.get("/"))
    assert fresh(user).totp_last_step is None  # the code was not even looked at


def test_a_password_change_in_between_voids_the_pending_step(client, orgs, make_user):
    from victimcare.auth.service import set_password
    user = make_user("manager", orgs["bureau"])
    password_step(client, user)
    token = csrf_from(client.get("/login/code").text)
    set_password(user, "another long password", must_change=True)
    db.session.commit()
    response = client.post("/login/code", data={"csrf_token": token, "code": totp_code(user.id, user.totp_secret)})
    assert goes_to_login(response)
    assert sessions_of(user) == []


def test_wrong_code_is_refused_counted_and_audited(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    english(client)
    password_step(client, user)
    response = code_step(client, WRONG_CODE)
    assert response.status_code == 200 and "This code is wrong or was used already." in response.text
    assert sessions_of(user) == [] and goes_to_login(client.get("/"))
    assert fresh(user).failed_logins == 1
    [row] = audit_rows("login_failed")
    assert row.username == user.username and row.details_dict == {"reason": "code"}
    # the code step is still open: the right code now works
    assert path_of(code_step(client, totp_code(user.id, user.totp_secret))) == "/"
    assert fresh(user).failed_logins == 0


@pytest.mark.parametrize("junk", ["", " ", "12345", "1234567", "abcdef", "12345a", "１２３４５６",
                                  "' OR 1=1 --", "<script>alert(1)</script>", "9" * 40])
def test_malformed_codes_are_wrong_codes_not_errors(client, orgs, make_user, junk):
    user = make_user("manager", orgs["bureau"])
    password_step(client, user)
    response = code_step(client, junk)
    assert response.status_code == 200
    assert sessions_of(user) == []
    assert "<script>alert(1)</script>" not in response.text


def test_a_code_cannot_be_replayed(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    code = totp_code(user.id, user.totp_secret)
    assert path_of(login(client, user, code=code)) == "/"
    post_form(client, "/logout", {}, page_url="/")
    other = app.test_client()
    english(other)
    response = login(other, user, code=code)  # the same code, seconds later, from another computer
    assert response.status_code == 200 and "used already" in response.text
    assert goes_to_login(other.get("/"))
    assert audit_rows("login_failed")[-1].details_dict == {"reason": "code"}


def test_an_older_code_is_refused_after_a_newer_one(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    step = totp.current_step()
    generator = pyotp.TOTP(user.totp_secret)
    assert path_of(login(client, user, code=generator.generate_otp(step + 1))) == "/"
    post_form(client, "/logout", {}, page_url="/")
    for earlier in (step, step - 1):  # both inside the drift window, but before the one used
        assert login(client, user, code=generator.generate_otp(earlier)).status_code == 200
    assert goes_to_login(client.get("/"))


def test_codes_outside_the_drift_window_are_refused(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    generator, step = pyotp.TOTP(user.totp_secret), totp.current_step()
    for far in (step - 3, step + 3, step + 100):
        assert login(client, user, code=generator.generate_otp(far)).status_code == 200
    assert sessions_of(user) == []


def test_one_code_opens_one_session_even_from_two_browsers_at_once(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    other = app.test_client()
    password_step(client, user)
    password_step(other, user)
    code = totp_code(user.id, user.totp_secret)
    first, second = code_step(client, code), code_step(other, code)
    assert path_of(first) == "/" and second.status_code == 200
    assert len(sessions_of(user)) == 1


def test_wrong_codes_lock_the_account_and_a_known_password_does_not_reset_the_count(app, client, orgs,
                                                                                 make_user):
    user = make_user("manager", orgs["bureau"])
    english(client)
    limit = app.config["LOGIN_MAX_FAILURES"]
    for attempt in range(limit - 1):
        password_step(client, user)  # the attacker knows the password and starts over each time
        assert code_step(client, f"{attempt:06d}").status_code == 200
    assert fresh(user).failed_logins == limit - 1
    password_step(client, user)
    response = code_step(client, WRONG_CODE)
    assert goes_to_login(response)
    assert fresh(user).is_locked()
    # locked: neither the password step nor the right code gets in
    assert "locked" in password_step(client, user).text
    assert sessions_of(user) == []
    user.locked_until = utcnow()
    db.session.commit()
    assert path_of(login(client, user)) == "/"


def test_locking_during_the_code_step_stops_it(client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    password_step(client, user)
    token = csrf_from(client.get("/login/code").text)
    db.session.execute(update(User).where(User.id == user.id).values(locked_until=utcnow().replace(year=2100)))
    db.session.commit()
    response = client.post("/login/code", data={"csrf_token": token, "code": totp_code(user.id, user.totp_secret)})
    assert goes_to_login(response)
    assert sessions_of(user) == []
    assert fresh(user).totp_last_step is None  # refused before the code was looked at


def test_code_step_is_rate_limited(make_app_limited):
    client, user = make_app_limited
    password_step(client, user)
    token = csrf_from(client.get("/login/code").text)
    codes = [client.post("/login/code", data={"csrf_token": token, "code": WRONG_CODE}).status_code
             for _ in range(4)]
    assert codes[-1] == 429


@pytest.fixture
def make_app_limited(app, test_config, orgs, make_user):
    from victimcare import create_app
    user = make_user("manager", orgs["bureau"])
    db.session.remove()
    limited = create_app({**test_config, "LOGIN_RATE_LIMIT": "3 per minute"})
    yield limited.test_client(), user
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


# -- enrolment ---------------------------------------------------------------------------------------
def test_a_manager_without_two_factor_enrols_before_anything_else(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"], totp=False)
    response = password_step(client, user, next_url="/people/")
    assert path_of(response) == "/login/two-factor"
    assert sessions_of(user) == []
    for url in ("/", "/people/", "/account", "/login/code"):
        assert path_of(client.get(url)) in ("/login", "/login/two-factor"), url
    page = client.get("/login/two-factor")
    assert page.status_code == 200
    secret = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    assert "<svg" in page.text and "<img" not in page.text  # the QR code is drawn here, not fetched
    # Nothing the CSP would block: no inline style or script (scripts only from our static files).
    assert "style=" not in page.text and not re.search(r"<script(?![^>]*\ssrc=\"/static/)", page.text)
    stored = db.session.scalar(text("SELECT totp_secret_enc FROM user_account WHERE id = :id"), {"id": user.id})
    assert stored.startswith("v1.") and secret not in stored  # encrypted at rest
    assert fresh(user).totp_secret == secret and not fresh(user).has_totp

    english(client)
    wrong = client.post("/login/two-factor", data={"csrf_token": csrf_from(page.text), "code": WRONG_CODE})
    assert wrong.status_code == 200 and "This code is wrong" in wrong.text and sessions_of(user) == []
    assert fresh(user).failed_logins == 1
    again = client.get("/login/two-factor")
    assert secret in again.text.replace(" ", "")  # the same key until confirmed
    done = client.post("/login/two-factor", data={"csrf_token": csrf_from(again.text),
                                                  "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = recovery_codes_from(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/people/"' in done.text  # then on to where they were going
    assert client.get("/people/").status_code == 200
    assert fresh(user).has_totp and len(sessions_of(user)) == 1
    hashes = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(hashes) == 10 and not {c.replace("-", "") for c in codes} & set(hashes)
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)
    rows = db.session.scalars(select(AuditEvent.details)).all()
    assert not any(secret in r or any(c in r for c in codes) for r in rows)  # never in the audit trail
    assert any(r.details_dict.get("change") == "totp_enrolled" for r in audit_rows("update"))


def test_an_unconfirmed_secret_is_not_a_second_factor(client, orgs, make_user):
    """Starting enrolment (e.g. an attacker with the password) does not let a code log in."""
    user = make_user("manager", orgs["bureau"], totp=False)
    password_step(client, user)
    assert goes_to_login(client.get("/")) and sessions_of(user) == []
    assert path_of(client.get("/login/code")) == "/login/two-factor"


def test_a_session_without_two_factor_is_refused_for_a_manager(app, client, orgs, logged_in):
    """Sessions from before two-factor was required (or after a reset) do not carry on."""
    user = logged_in("manager", orgs["bureau"])
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value)
    db.session.execute(update(User).where(User.id == user.id).values(totp_confirmed_at=None))
    db.session.commit()
    assert goes_to_login(client.get("/"))
    assert goes_to_login(thief.get("/"))


def test_other_roles_log_in_with_the_password_alone(client, orgs, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    assert path_of(password_step(client, user)) == "/"


def test_a_caseworker_may_enrol_voluntarily_and_then_needs_the_code(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    english(client)
    assert "Set up two-factor authentication" in client.get("/account").text
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    secret = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    done = client.post("/account/two-factor", data={"csrf_token": csrf_from(page.text),
                                                    "code": pyotp.TOTP(secret).now()})
    assert len(recovery_codes_from(done.text)) == 10
    post_form(client, "/logout", {}, page_url="/")
    assert path_of(password_step(client, user)) == "/login/code"
    assert path_of(login(client, user)) == "/"


# -- recovery codes ------------------------------------------------------------------------------------
@pytest.fixture
def enrolled(client, orgs, make_user):
    """A manager who enrolled through the pages: (user, secret, recovery codes), logged out again."""
    user = make_user("manager", orgs["bureau"], totp=False)
    password_step(client, user)
    response, secret = enrol_at_login(client)
    codes = recovery_codes_from(response.text)
    post_form(client, "/logout", {}, page_url="/")
    return user, secret, codes


def test_a_recovery_code_logs_in_once(app, client, enrolled):
    user, _secret, codes = enrolled
    password_step(client, user)
    assert path_of(code_step(client, codes[0])) == "/"
    assert audit_rows("login")[-1].details_dict == {"second_factor": "recovery_code"}
    post_form(client, "/logout", {}, page_url="/")
    password_step(client, user)
    assert code_step(client, codes[0]).status_code == 200  # used up
    assert goes_to_login(client.get("/"))
    assert fresh(user).failed_logins == 1


@pytest.mark.parametrize("spelling", [str.upper, lambda c: c.replace("-", ""), lambda c: f"  {c[:5]} {c[6:]} "])
def test_recovery_codes_are_read_leniently(client, enrolled, spelling):
    user, _secret, codes = enrolled
    password_step(client, user)
    assert path_of(code_step(client, spelling(codes[3]))) == "/"


def test_a_recovery_code_of_another_user_does_not_work(client, orgs, enrolled, make_user):
    _user, _secret, codes = enrolled
    other = make_user("manager", orgs["bureau"])
    password_step(client, other)
    assert code_step(client, codes[0]).status_code == 200
    assert sessions_of(other) == []


def test_regenerating_recovery_codes_needs_re_authentication_and_voids_the_old_ones(app, client, enrolled):
    user, secret, codes = enrolled
    login(client, user, code=codes[0])
    english(client)
    assert "Unused recovery codes: 9" in client.get("/account").text
    page = client.get("/account/recovery-codes")
    assert page.status_code == 200  # just logged in: recent enough
    new = recovery_codes_from(post_form(client, "/account/recovery-codes", {}).text)
    assert len(new) == 10 and not set(new) & set(codes)
    assert totp.recovery_codes_left(fresh(user)) == 10
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(authenticated_at=utcnow() - app.config["REAUTH_MAX_AGE"] - app.config["REAUTH_MAX_AGE"]))
    db.session.commit()
    stale = client.get("/account/recovery-codes")
    assert path_of(stale) == "/account/confirm"
    post_form(client, "/logout", {}, page_url="/")
    password_step(client, user)
    assert code_step(client, codes[1]).status_code == 200  # an old code: void
    assert path_of(code_step(client, new[0])) == "/"


# -- the administrator's reset -------------------------------------------------------------------------
def test_admin_resets_two_factor_and_the_user_enrols_again(app, client, orgs, make_user, enrolled):
    user, secret, codes = enrolled
    victim = app.test_client()
    login(victim, user, code=codes[0])
    admin = make_user("admin", orgs["bureau"])
    login(client, admin)
    assert f"/admin/users/{user.id}/two-factor/reset" in client.get("/admin/users").text
    response = post_form(client, f"/admin/users/{user.id}/two-factor/reset", {}, page_url="/admin/users")
    assert path_of(response) == "/admin/users"
    assert goes_to_login(victim.get("/"))  # their sessions ended
    [row] = [r for r in audit_rows("admin") if r.details_dict.get("change") == "reset_totp"]
    assert row.user_id == admin.id and row.object_id == str(user.id)
    stored = fresh(user)
    assert stored.totp_secret_enc is None and not stored.has_totp
    assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []

    again = app.test_client()
    assert path_of(password_step(again, user)) == "/login/two-factor"
    page = again.get("/login/two-factor").text
    assert secret not in page.replace(" ", "")  # a new key: the lost phone's one is useless
    assert path_of(login(app.test_client(), user, code=codes[1])) != "/"


def test_a_reset_during_the_code_step_sends_the_user_back_to_the_password(app, client, orgs, make_user):
    user = make_user("manager", orgs["bureau"])
    password_step(client, user)
    token = csrf_from(client.get("/login/code").text)
    totp.reset(user)
    db.session.commit()
    code = pyotp.TOTP(pyotp.random_base32()).now()
    assert path_of(client.post("/login/code", data={"csrf_token": token, "code": code})) == "/login/two-factor"
    assert goes_to_login(client.get("/login/two-factor"))
    assert sessions_of(user) == []
    assert path_of(password_step(client, user)) == "/login/two-factor"  # and enrols afresh
    assert "<svg" in client.get("/login/two-factor").text


def test_only_admins_reset_two_factor(client, orgs, make_user, logged_in):
    target = make_user("manager", orgs["bureau"])
    logged_in("manager", orgs["bureau"])
    token = csrf_from(client.get("/").text)
    assert client.post(f"/admin/users/{target.id}/two-factor/reset", data={"csrf_token": token}).status_code == 403
    assert fresh(target).has_totp


def test_reset_needs_the_csrf_token(client, orgs, make_user, logged_in):
    target = make_user("manager", orgs["bureau"])
    logged_in("admin", orgs["bureau"])
    client.post(f"/admin/users/{target.id}/two-factor/reset")
    assert fresh(target).has_totp
