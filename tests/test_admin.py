"""User and organisation administration, and the user's own password."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from victimcare.audit import AuditEvent
from victimcare.auth.models import Organisation, User
from victimcare.extensions import db

from .conftest import PASSWORD, login, post_form

NEW_PASSWORD = "a completely different passphrase"


def location(response) -> str:
    assert response.status_code == 302, response.status_code
    return urlsplit(response.headers["Location"]).path


def admin_changes(change):
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "admin")).all()
    return [r for r in rows if r.details_dict.get("change") == change]


@pytest.fixture
def admin(client, orgs, logged_in):
    client.get("/language/en")  # messages are asserted in English
    return logged_in("admin", orgs["bureau"])


@pytest.fixture
def other_browser(app):
    """A second browser, for the user whose session the administrator ends."""
    return app.test_client()


# -- who may administer ------------------------------------------------------------
ADMIN_URLS = ["/admin/users", "/admin/users/new", "/admin/organisations", "/admin/organisations/new"]


@pytest.mark.parametrize("role", ["caseworker", "manager", "auditor", "clinician", "police"])
def test_only_admins_reach_administration(client, orgs, logged_in, role):
    user = logged_in(role, orgs["bureau"])
    for url in ADMIN_URLS:
        assert client.get(url).status_code == 403, url
    assert post_form(client, "/admin/users/new", {"username": "sneaky", "display_name": "x",
                                                  "role": "admin", "organisation_id": str(orgs["bureau"].id),
                                                  "password": PASSWORD}, page_url="/").status_code == 403
    assert db.session.scalar(select(User.id).where(User.username == "sneaky")) is None
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).all()
    assert len(denied) == len(ADMIN_URLS) + 1
    assert {(r.user_id, r.section) for r in denied} == {(user.id, "admin")}


def test_admin_reaches_every_admin_page(client, admin):
    for url in ADMIN_URLS:
        assert client.get(url).status_code == 200, url


# -- organisations ---------------------------------------------------------------------
def test_admin_creates_child_organisation(client, orgs, admin):
    parent = orgs["bureau"]
    response = post_form(client, "/admin/organisations/new", {
        "name": "丁救助站", "kind": "shelter", "region_code": "320105", "parent_id": str(parent.id)})
    assert location(response) == "/admin/organisations"
    org = db.session.scalar(select(Organisation).where(Organisation.name == "丁救助站"))
    assert org.parent_id == parent.id and org.kind == "shelter" and org.region_code == "320105"
    assert org.path.startswith(parent.path) and org.path == f"{parent.path}{org.id}/"
    assert [r.object_id for r in admin_changes("create_organisation")] == [str(org.id)]
    assert "丁救助站" in client.get("/admin/organisations").text


def test_admin_creates_top_level_organisation(client, admin):
    response = post_form(client, "/admin/organisations/new", {
        "name": "省民政厅", "kind": "bureau", "region_code": "320000", "parent_id": "0"})
    assert location(response) == "/admin/organisations"
    org = db.session.scalar(select(Organisation).where(Organisation.name == "省民政厅"))
    assert org.parent_id is None and org.path == f"/{org.id}/"


@pytest.mark.parametrize("region", ["32010", "032010", "32010A", ""])
def test_bad_region_code_rerenders_with_input_kept(client, orgs, admin, region):
    before = db.session.scalar(select(func.count()).select_from(Organisation))
    response = post_form(client, "/admin/organisations/new", {
        "name": "戊救助站", "kind": "shelter", "region_code": region, "parent_id": str(orgs["bureau"].id)})
    assert response.status_code == 200
    assert 'value="戊救助站"' in response.text
    assert 'id="region_code-error"' in response.text
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == before


def test_duplicate_organisation_name_is_refused(client, orgs, admin):
    response = post_form(client, "/admin/organisations/new", {
        "name": orgs["shelter_a"].name, "kind": "shelter", "region_code": "320102", "parent_id": "0"})
    assert response.status_code == 200
    assert "An organisation with this name exists." in response.text


# -- users -----------------------------------------------------------------------------
def user_data(orgs, **overrides):
    return {"username": "wang.fang", "display_name": "王芳", "role": "caseworker",
            "organisation_id": str(orgs["shelter_a"].id), "password": PASSWORD, **overrides}


def test_admin_creates_user_who_must_change_password(app, client, orgs, admin, other_browser):
    response = post_form(client, "/admin/users/new", user_data(orgs))
    assert location(response) == "/admin/users"
    user = db.session.scalar(select(User).where(User.username == "wang.fang"))
    assert (user.display_name, user.role, user.organisation_id) == ("王芳", "caseworker", orgs["shelter_a"].id)
    assert user.active and user.must_change_password
    assert user.password_hash.startswith("$argon2id$")
    assert [r.object_id for r in admin_changes("create_user")] == [str(user.id)]
    assert "wang.fang" in client.get("/admin/users").text

    assert location(login(other_browser, user)) == "/account/password"


@pytest.mark.parametrize("overrides, field, message", [
    ({"username": "taken.name"}, "username", "This username is taken."),
    ({"password": "short"}, "password", "Use at least 12 characters."),
    ({"password": "wang.fang-and-more"}, "password", "must not contain the username"),
    ({"username": "bad name!"}, "username", "Letters, digits"),
    ({"role": "superuser"}, "role", "Not a valid choice"),
    ({"organisation_id": "99999"}, "organisation_id", "Not a valid choice"),
])
def test_user_form_errors_rerender_with_input_kept(client, orgs, make_user, admin, overrides, field, message):
    make_user("caseworker", orgs["shelter_b"], username="taken.name")
    before = db.session.scalar(select(func.count()).select_from(User))
    response = post_form(client, "/admin/users/new", user_data(orgs, **overrides))
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.text and message in response.text
    assert 'value="王芳"' in response.text  # what was typed is kept
    assert f'value="{user_data(orgs, **overrides)["username"]}"' in response.text
    assert 'value="' + user_data(orgs, **overrides)["password"] + '"' not in response.text  # never echoed
    assert db.session.scalar(select(func.count()).select_from(User)) == before


# -- reset password ------------------------------------------------------------------------
def test_reset_password_ends_the_users_sessions(client, orgs, make_user, admin, other_browser):
    user = make_user("caseworker", orgs["shelter_a"])
    assert login(other_browser, user).status_code == 302
    assert other_browser.get("/").status_code == 200

    response = post_form(client, f"/admin/users/{user.id}/password",
                         {"password": NEW_PASSWORD, "must_change": "y"})
    assert location(response) == "/admin/users"
    assert location(other_browser.get("/")) == "/login"
    assert [r.object_id for r in admin_changes("reset_password")] == [str(user.id)]

    assert login(other_browser, user).status_code == 200  # the old password is gone
    assert location(login(other_browser, user, NEW_PASSWORD)) == "/account/password"
    assert client.get("/admin/users").status_code == 200  # the admin's own session is untouched


def test_reset_password_checks_the_rules(client, orgs, make_user, admin):
    user = make_user("caseworker", orgs["shelter_a"])
    old_hash = user.password_hash
    response = post_form(client, f"/admin/users/{user.id}/password", {"password": "short"})
    assert response.status_code == 200 and 'id="password-error"' in response.text
    db.session.refresh(user)
    assert user.password_hash == old_hash


def test_reset_password_of_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/99999/password").status_code == 404


# -- deactivate -----------------------------------------------------------------------------
def test_deactivated_user_is_kept_logged_out_and_cannot_log_in(client, orgs, make_user, admin, other_browser):
    user = make_user("caseworker", orgs["shelter_a"])
    assert login(other_browser, user).status_code == 302

    response = post_form(client, f"/admin/users/{user.id}/active", {"active": "0"}, page_url="/admin/users")
    assert location(response) == "/admin/users"
    assert location(other_browser.get("/")) == "/login"

    db.session.expire_all()
    row = db.session.get(User, user.id)
    assert row is not None and row.active is False  # never deleted
    assert [r.details_dict["change"] for r in admin_changes("deactivate")] == ["deactivate"]

    other_browser.get("/language/en")
    refused = login(other_browser, user)
    assert refused.status_code == 200 and "Wrong username or password." in refused.text
    assert "Deactivated" in client.get("/admin/users").text

    post_form(client, f"/admin/users/{user.id}/active", {"active": "1"}, page_url="/admin/users")
    assert login(other_browser, user).status_code == 302


def test_deactivate_needs_csrf_token(client, orgs, make_user, admin):
    user = make_user("caseworker", orgs["shelter_a"])
    assert client.post(f"/admin/users/{user.id}/active", data={"active": "0"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).active is True


def test_admin_cannot_deactivate_themselves(client, admin):
    response = post_form(client, f"/admin/users/{admin.id}/active", {"active": "0"}, page_url="/admin/users")
    assert location(response) == "/admin/users"
    db.session.expire_all()
    assert db.session.get(User, admin.id).active is True
    assert "You cannot deactivate your own account." in client.get("/admin/users").text
    assert client.get("/admin/users").status_code == 200


# -- own password -------------------------------------------------------------------------
@pytest.fixture
def new_user(client, orgs, make_user):
    """A user created with must_change_password, logged in on ``client``."""
    user = make_user("caseworker", orgs["shelter_a"])
    user.must_change_password = True
    db.session.commit()
    client.get("/language/en")
    assert location(login(client, user)) == "/account/password"
    return user


def test_change_password_with_wrong_current_password(client, new_user):
    old_hash = new_user.password_hash
    response = post_form(client, "/account/password", {
        "current_password": "not my password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 200
    assert 'id="current_password-error"' in response.text
    assert "The current password is wrong." in response.text
    db.session.refresh(new_user)
    assert new_user.password_hash == old_hash and new_user.must_change_password


def test_change_password_needs_matching_confirmation(client, new_user):
    response = post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert response.status_code == 200 and 'id="confirm-error"' in response.text


def test_change_password_ends_other_sessions_and_clears_the_flag(app, client, new_user, other_browser):
    assert login(other_browser, new_user).status_code == 302
    response = post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert location(response) == "/"
    assert client.get("/").status_code == 200  # this browser stays logged in
    assert location(other_browser.get("/")) == "/login"  # the other one does not
    db.session.refresh(new_user)
    assert not new_user.must_change_password

    fresh = app.test_client()
    assert login(fresh, new_user).status_code == 200
    assert location(login(fresh, new_user, NEW_PASSWORD)) == "/"


def test_a_temporary_password_must_be_changed_before_anything_else(client, orgs, make_user):
    from victimcare.auth.service import set_password
    user = make_user("caseworker", orgs["shelter_a"])
    set_password(user, "temporary password 1", must_change=True)
    db.session.commit()
    assert login(client, user, "temporary password 1").status_code == 302
    for url in ("/", "/people/", "/people/new"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/password"), url
    assert client.get("/account/password").status_code == 200
