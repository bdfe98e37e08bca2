"""Re-authentication: exports, batch prints, the handover bundle and key rotation need the user to
have proved who they are within REAUTH_MAX_AGE (log-in counts); otherwise a confirm page (password,
and a code for users with two-factor) and then back where they were."""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from sqlalchemy import select, update

from victimcare.audit import AuditEvent
from victimcare.auth.models import User, UserSession, utcnow
from victimcare.extensions import db
from victimcare.reports import summary

from .conftest import PASSWORD, cli_admin_args, csrf_from, login, totp_code
from .keys_support import app_with_keyring, run_cli

PERIOD = "date_from=2024-01-01&date_to=2024-12-31"
WRONG = "not the right password at all"

# Every route that takes data out in bulk or changes security settings, and only those.
PROTECTED = {"stats.export", "ledgers.medical_xlsx", "ledgers.medical_pdf", "ledgers.school_xlsx",
             "ledgers.school_pdf", "portability.handover", "reports.batch", "auth.recovery_codes", "auth.enrol"}


def location(response):
    return urlsplit(response.headers["Location"]) if response.status_code == 302 else None


def confirm_target(response) -> str | None:
    """The `next` of a redirect to the confirm page, or None if the response is something else."""
    where = location(response)
    if where is None or where.path != "/account/confirm":
        return None
    return parse_qs(where.query)["next"][0]


def make_stale(user, by=dt.timedelta(minutes=6)):
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(authenticated_at=utcnow() - by))
    db.session.commit()


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()


def confirm(client, next_url, password=PASSWORD, code=None):
    page = client.get("/account/confirm", query_string={"next": next_url})
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "password": password}
    if code is not None:
        data["code"] = code
    return client.post("/account/confirm", query_string={"next": next_url}, data=data)


@pytest.fixture
def transfer_files(app, tmp_path):
    app.config["TRANSFER_KEYS_FILE"] = str(tmp_path / "transfer_keys.json")
    app.config["TRANSFER_PARTNERS_FILE"] = str(tmp_path / "transfer_partners.json")


def test_exactly_the_expected_routes_need_a_recent_log_in(app):
    marked = {endpoint for endpoint, view in app.view_functions.items()
              if getattr(view, "requires_recent_auth", False)}
    assert marked == PROTECTED


# (role, organisation, url) for each protected GET; all reachable by that role when fresh.
DOWNLOADS = [
    ("manager", "bureau", f"/statistics/export.csv?{PERIOD}&breakdown=sex"),
    ("manager", "bureau", f"/statistics/export.xlsx?{PERIOD}"),
    ("manager", "bureau", "/ledgers/medical.xlsx?date_from=2026-03-01&date_to=2026-03-31"),
    ("manager", "bureau", "/ledgers/medical.pdf?date_from=2026-03-01&date_to=2026-03-31"),
    ("manager", "bureau", "/ledgers/school.xlsx"),
    ("manager", "bureau", "/ledgers/school.pdf"),
    ("caseworker", "shelter_a", "/print/batch?status=open"),
]


@pytest.mark.parametrize("role, org, url", DOWNLOADS)
def test_a_stale_session_is_sent_to_confirm_and_back(client, orgs, logged_in, role, org, url):
    user = logged_in(role, orgs[org])
    assert client.get(url).status_code == 200  # the log-in itself counts
    exported = len(audit_rows("export"))
    make_stale(user)
    response = client.get(url)
    assert confirm_target(response) == url  # the same path, query string and all
    assert len(audit_rows("export")) == exported  # nothing went out
    back = confirm(client, url, code=totp_code(user.id, user.totp_secret) if user.has_totp else None)
    assert location(back).path + ("?" + location(back).query if location(back).query else "") == url
    assert client.get(url).status_code == 200
    [row] = audit_rows("reauth")
    assert row.user_id == user.id


def test_the_handover_bundle_needs_a_recent_log_in(client, orgs, make_person, logged_in, transfer_files):
    person = make_person(orgs["shelter_a"])
    user = logged_in("manager", orgs["bureau"])
    url = f"/people/{person.id}/handover"
    page = client.get(url)
    assert page.status_code == 200
    make_stale(user)
    assert confirm_target(client.get(url)) == url
    response = client.post(url, data={"csrf_token": csrf_from(page.text), "partner": "x", "purpose": "p"})
    assert confirm_target(response) == url  # back to the form page, not into the POST
    assert audit_rows("export") == []


def test_a_stale_batch_print_post_goes_back_to_its_form_page(client, orgs, make_person, logged_in):
    make_person(orgs["shelter_a"], name="甲")
    user = logged_in("caseworker", orgs["shelter_a"])
    filters = urlencode({"status": "open", "organisation_id": orgs["shelter_a"].id})
    url = f"/print/batch?{filters}"
    page = client.get(url)
    make_stale(user)
    response = client.post(url, data={"csrf_token": csrf_from(page.text), "purpose": "会议", "variant": "full",
                                      "filters": filters})
    assert confirm_target(response) == url  # the filters survive the detour
    assert db.session.scalars(select(summary.PrintJob)).all() == []
    confirm(client, url)
    page = client.get(url)
    response = client.post(url, data={"csrf_token": csrf_from(page.text), "purpose": "会议", "variant": "full",
                                      "filters": filters})
    assert location(response).path.startswith("/print/jobs/")


def test_sessions_older_than_the_rule_count_as_stale(client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id).values(authenticated_at=None))
    db.session.commit()
    assert confirm_target(client.get("/ledgers/school.xlsx")) == "/ledgers/school.xlsx"


def test_the_window_is_configurable(app, client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    make_stale(user, by=dt.timedelta(minutes=20))
    assert confirm_target(client.get("/ledgers/school.xlsx"))
    app.config["REAUTH_MAX_AGE"] = dt.timedelta(minutes=30)
    assert client.get("/ledgers/school.xlsx").status_code == 200
    app.config["REAUTH_MAX_AGE"] = dt.timedelta(minutes=1)
    make_stale(user, by=dt.timedelta(seconds=90))
    assert confirm_target(client.get("/ledgers/school.xlsx"))


def test_confirming_in_one_browser_does_not_freshen_another(app, client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    laptop = app.test_client()
    login(laptop, user)
    make_stale(user)
    confirm(client, "/print/batch")
    assert client.get("/print/batch").status_code == 200
    assert confirm_target(laptop.get("/print/batch")) == "/print/batch"


# -- the confirm page ----------------------------------------------------------------------------------
def test_wrong_password_on_the_confirm_page_counts_and_leaves_it_stale(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    make_stale(user)
    response = confirm(client, "/print/batch", password=WRONG)
    assert response.status_code == 200 and "The password is wrong." in response.text
    db.session.refresh(user)
    assert user.failed_logins == 1
    assert audit_rows("login_failed")[-1].details_dict == {"reason": "invalid", "step": "reauth"}
    assert audit_rows("reauth") == []
    assert confirm_target(client.get("/print/batch"))


def test_confirm_page_asks_for_the_code_of_a_two_factor_user(client, orgs, logged_in):
    user = logged_in("manager", orgs["bureau"])
    client.get("/language/en")
    make_stale(user)
    page = client.get("/account/confirm?next=/ledgers/school.xlsx")
    assert 'name="code"' in page.text
    for code in (None, "", "000000"):
        response = confirm(client, "/ledgers/school.xlsx", code=code)
        assert response.status_code == 200 and "This code is wrong" in response.text
    last_used = db.session.scalar(select(User.totp_last_step).where(User.id == user.id))
    replayed = pyotp.TOTP(user.totp_secret).generate_otp(last_used)  # the code of the log-in
    assert confirm(client, "/ledgers/school.xlsx", code=replayed).status_code == 200
    assert confirm_target(client.get("/ledgers/school.xlsx"))
    ok = confirm(client, "/ledgers/school.xlsx", code=totp_code(user.id, user.totp_secret))
    assert location(ok).path == "/ledgers/school.xlsx"
    assert client.get("/ledgers/school.xlsx").status_code == 200


def test_a_caseworker_confirms_with_the_password_alone(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    make_stale(user)
    assert 'name="code"' not in client.get("/account/confirm").text
    assert location(confirm(client, "/print/batch")).path == "/print/batch"


def test_a_locked_account_cannot_confirm(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    make_stale(user)
    db.session.execute(update(User).where(User.id == user.id).values(locked_until=utcnow() + dt.timedelta(hours=1)))
    db.session.commit()
    assert confirm(client, "/print/batch").status_code == 200
    assert confirm_target(client.get("/print/batch"))


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x", "/\\evil.example",
                                    "/\t/evil.example", "/\n/evil.example", "///evil.example"])
def test_confirm_never_sends_anyone_off_site(client, orgs, logged_in, target):
    user = logged_in("caseworker", orgs["shelter_a"])
    make_stale(user)
    where = location(confirm(client, target))
    assert where.path == "/" and where.netloc in ("", "localhost")


def test_confirm_page_needs_a_session(client):
    assert location(client.get("/account/confirm")).path == "/login"


# -- key rotation (the CLI) ------------------------------------------------------------------------------
@pytest.fixture
def rotation(app, orgs, make_user, keyring_copy, test_config):
    """An administrator, a manager, and an app on a private copy of the keyring to run rotate-keys in."""
    admin = make_user("admin", orgs["bureau"])
    manager = make_user("manager", orgs["bureau"])
    accounts = {name: type("Account", (), {"id": u.id, "username": u.username, "totp_secret": u.totp_secret})
                for name, u in (("admin", admin), ("manager", manager))}
    other = app_with_keyring(test_config, keyring_copy)
    yield other, accounts, keyring_copy
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def _active_key(path) -> str:
    return json.loads(path.read_text())["active"]


def test_rotate_keys_as_an_administrator_is_audited_as_them(rotation):
    other, accounts, path = rotation
    before = _active_key(path)
    result = run_cli(other, "rotate-keys", *cli_admin_args(accounts["admin"]))
    assert result.exit_code == 0, result.output
    assert _active_key(path) != before
    rows = audit_rows("key_rotation")
    assert len(rows) == 2 and {r.user_id for r in rows} == {accounts["admin"].id}
    assert all(r.username == accounts["admin"].username for r in rows)


def _refused(rotation, args, before):
    other, _accounts, path = rotation
    result = run_cli(other, "rotate-keys", *args)
    assert result.exit_code != 0
    assert _active_key(path) == before
    assert audit_rows("key_rotation") == []
    return result


def test_rotate_keys_refuses_a_wrong_password(rotation):
    other, accounts, path = rotation
    args = cli_admin_args(accounts["admin"])
    args[args.index("--password") + 1] = WRONG
    result = _refused(rotation, args, _active_key(path))
    assert "Wrong username or password" in result.output
    assert audit_rows("login_failed")[-1].username == accounts["admin"].username


def test_rotate_keys_refuses_a_wrong_or_replayed_code(rotation):
    other, accounts, path = rotation
    args = cli_admin_args(accounts["admin"])
    args[-1] = "000000"
    _refused(rotation, args, _active_key(path))
    good = cli_admin_args(accounts["admin"])
    code = good[-1]
    assert run_cli(other, "rotate-keys", *good).exit_code == 0
    second = _active_key(path)
    replay = run_cli(other, "rotate-keys", *good[:-1], code)
    assert replay.exit_code != 0 and "code" in replay.output
    assert _active_key(path) == second


def test_rotate_keys_refuses_other_roles_and_audits_it(rotation):
    other, accounts, path = rotation
    result = _refused(rotation, cli_admin_args(accounts["manager"]), _active_key(path))
    assert "needs an administrator" in result.output
    [denied] = audit_rows("denied")
    assert denied.username == accounts["manager"].username and denied.details_dict["action"] == "rotate-keys"


def test_rotate_keys_refuses_an_administrator_without_two_factor(rotation, orgs, make_user):
    other, _accounts, path = rotation
    bare = make_user("admin", orgs["bureau"], totp=False)
    args = ["--username", bare.username, "--password", PASSWORD, "--totp-code", "123456"]
    db.session.remove()  # on SQLite the read above holds the write lock the command needs
    result = _refused(rotation, args, _active_key(path))
    assert "two-factor" in result.output


def test_rotate_keys_prompts_when_not_given_options(rotation):
    other, accounts, path = rotation
    admin = accounts["admin"]
    code = totp_code(admin.id, admin.totp_secret)
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["rotate-keys"],
                                                input=f"{admin.username}\n{PASSWORD}\n{code}\n")
    assert result.exit_code == 0, result.output
    assert "Administrator username" in result.output and PASSWORD not in result.output
