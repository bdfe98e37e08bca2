"""Test set-up: one migrated database per run (SQLite, or a throwaway PostgreSQL with
``--db=postgresql``), emptied between tests; factories for organisations, users and people."""
from __future__ import annotations

import datetime as dt
import os
import re
from urllib.parse import urlsplit

import pyotp
import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from victimcare import create_app
from victimcare.crypto import Keyring
from victimcare.extensions import db

from . import pg

FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse battery staple"


def pytest_addoption(parser):
    parser.addoption("--db", default="sqlite", choices=("sqlite", "postgresql"),
                     help="database the suite runs against (postgresql starts a throwaway server)")


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    if request.config.getoption("--db") == "postgresql":
        server = pg.ThrowawayPostgres()
        server.start()
        request.addfinalizer(server.stop)
        return server.url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("instance")
    Keyring.generate(str(path / "keys.json")).save()
    return str(path)


@pytest.fixture(scope="session")
def test_config(database_url, instance_path):
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret",
            "KEYRING_FILE": os.path.join(instance_path, "keys.json"), "SESSION_COOKIE_SECURE": False,
            "LOGIN_RATE_LIMIT": "1000 per minute", **FAST_ARGON2}


@pytest.fixture(scope="session")
def migrated(test_config, instance_path):
    """Apply the real Alembic migrations once: the schema under test is the shipped one."""
    from flask_migrate import upgrade
    os.environ["VICTIMCARE_INSTANCE_PATH"] = instance_path
    app = create_app(test_config)
    with app.app_context():
        upgrade(revision="heads")  # feature branches may add heads before their merge
        db.engine.dispose()
    return True


def _empty_database():
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name != "key_check"]
    with db.engine.begin() as conn:
        for name in tables:
            conn.execute(text(f'DELETE FROM "{name}"'))
        conn.execute(text("INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, :mac)"), {"mac": "0" * 64})


@pytest.fixture
def app(migrated, test_config):
    app = create_app(dict(test_config))
    with app.app_context():
        yield app
        db.session.remove()
        _empty_database()
        db.engine.dispose()


class BrowserLikeClient(FlaskClient):
    """The app fixture holds one app context for the whole test, which every request would
    share: Flask-WTF's cached CSRF token and Flask-Login's cached user would leak from one
    request into the next (and hide a revoked session). A browser request starts with a fresh
    ``g``; so does each request of this client."""

    def open(self, *args, **kwargs):
        ctx = _cv_app.get(None)
        if ctx is not None:
            ctx.g = self.application.app_ctx_globals_class()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = BrowserLikeClient
    return app.test_client()


# -- factories -----------------------------------------------------------------
@pytest.fixture
def make_org(app):
    from victimcare.auth.service import create_organisation

    def make(name, kind="shelter", region="320102", parent=None):
        org = create_organisation(name, kind, region, parent)
        db.session.commit()
        return org
    return make


@pytest.fixture
def orgs(make_org):
    """A bureau with two shelters, and partner organisations below it; a second, unrelated bureau."""
    bureau = make_org("测试市民政局", "bureau", "320100")
    other_bureau = make_org("他市民政局", "bureau", "330100")
    return {
        "bureau": bureau,
        "shelter_a": make_org("甲救助站", "shelter", "320102", bureau),
        "shelter_b": make_org("乙救助站", "shelter", "320104", bureau),
        "hospital": make_org("指定医院", "hospital", "320102", bureau),
        "police": make_org("派出所", "police", "320102", bureau),
        "supervision": make_org("审计室", "supervision", "320100", bureau),
        "other_bureau": other_bureau,
        "other_shelter": make_org("丙救助站", "shelter", "330102", other_bureau),
    }


TOTP_ROLES = ("manager", "admin")


def give_totp(user, secret=None) -> str:
    """Enrol the user in two-factor as if they had confirmed a code (no recovery codes)."""
    from victimcare.auth.models import utcnow
    user.totp_secret = secret or pyotp.random_base32()
    user.totp_confirmed_at = utcnow()
    db.session.commit()
    return user.totp_secret


@pytest.fixture
def make_user(app):
    """make_user(role, org) -> a user; managers and administrators have two-factor set up (as they
    must before any session), others not, unless ``totp`` says otherwise."""
    from victimcare.auth.service import create_user

    def make(role, org, username=None, password=PASSWORD, totp=None):
        user = create_user(username or f"{role}{os.urandom(3).hex()}", role.title(), role, org, password)
        db.session.commit()
        if role in TOTP_ROLES if totp is None else totp:
            give_totp(user)
        return user
    return make


@pytest.fixture
def make_person(app):
    from victimcare.auth.models import User
    from victimcare.people.service import register_person

    def make(org, by: User | None = None, **fields):
        data = {"name": "张丽", "sex": "female", "date_of_birth": dt.date(2010, 5, 1),
                "identity_status": "unidentified", "tracing_result": "not_started", **fields}
        creator = by or User(id=None)
        person = register_person(data, org, creator)
        db.session.commit()
        return person
    return make


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def totp_code(user_id: int, secret: str) -> str:
    """The code the user's authenticator app shows, for a time step not used yet: the server refuses
    a step at or before the last one accepted, so a second log-in within the same 30 seconds uses the
    next step (still accepted: one step of clock drift), and a third one "waits" (the last accepted
    step is moved back, as if 30 seconds had passed)."""
    from victimcare.auth import totp
    from victimcare.auth.models import User
    now = totp.current_step()
    last = db.session.scalar(select(User.totp_last_step).where(User.id == user_id))
    if last is not None and last > now:
        db.session.execute(update(User).where(User.id == user_id).values(totp_last_step=now - 1))
        db.session.commit()
        last = now - 1
    db.session.commit()  # end the read: on SQLite an open transaction holds the write lock
    step = now if last is None or last < now else now + 1
    return pyotp.TOTP(secret).generate_otp(step)


def login(client, user, password=PASSWORD, *, code=None):
    """Log in like a browser: the password, then (for a user with two-factor) a valid code, or
    ``code`` if given. Returns the last response."""
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_from(page.text), "username": user.username,
                                           "password": password})
    if response.status_code != 302 or urlsplit(response.headers["Location"]).path != "/login/code":
        return response
    if code is None:  # the account as stored (``user`` may be a detached object or just a name)
        from victimcare.auth.models import User
        account = db.session.scalar(select(User).where(User.username == user.username))
        code = totp_code(account.id, account.totp_secret)
    page = client.get("/login/code")
    return client.post("/login/code", data={"csrf_token": csrf_from(page.text), "code": code})


_SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')


def enrol_at_login(client):
    """After the password of a manager or administrator without two-factor: read the key off the
    set-up page as the user's app would, confirm a code. Returns (response, secret)."""
    page = client.get("/login/two-factor")
    match = _SECRET.search(page.text)
    assert match, "no two-factor key on the page"
    secret = match.group(1).replace(" ", "")
    response = client.post("/login/two-factor", data={"csrf_token": csrf_from(page.text),
                                                      "code": pyotp.TOTP(secret).now()})
    return response, secret


def cli_admin_args(user) -> list[str]:
    """The options that let a command needing an administrator (rotate-keys) run unprompted."""
    return ["--username", user.username, "--password", PASSWORD,
            "--totp-code", totp_code(user.id, user.totp_secret)]


def post_form(client, url, data, page_url=None):
    """Post like a browser: fetch the page for its CSRF token, then submit."""
    page = client.get(page_url or url)
    return client.post(url, data={"csrf_token": csrf_from(page.text), **data})


@pytest.fixture
def logged_in(client, make_user):
    """logged_in(role, org) -> the user, with the client logged in as them."""
    def make(role, org, **kwargs):
        user = make_user(role, org, **kwargs)
        response = login(client, user)
        assert response.status_code == 302, response.text
        return user
    return make


# -- keys (test_keys_cli, test_faults, test_reauth) -----------------------------------
@pytest.fixture
def keyring_copy(app, test_config, tmp_path):
    """A private copy of the session keyring; key-check rows it adds are removed afterwards."""
    import shutil
    from sqlalchemy import delete
    from victimcare.crypto import KeyCheck, keyring
    path = tmp_path / "keys.json"
    shutil.copy(test_config["KEYRING_FILE"], path)
    yield path
    db.session.rollback()
    db.session.execute(delete(KeyCheck).where(KeyCheck.key_id.not_in(
        ["index", "audit", *keyring().data_keys])))
    db.session.commit()


@pytest.fixture
def encrypted_people(orgs, make_user, make_person):
    """Three people with aliases and a correction each: values in all three encrypted tables."""
    user = make_user("caseworker", orgs["shelter_a"])
    made = {}
    for n, name in enumerate(("王芳", "李娜", "陈静")):
        person = make_person(orgs["shelter_a"], by=user, name=name, aliases=f"小{name[1]}\n阿{name[1]}",
                             notes=f"note {n}")
        from victimcare.people import service
        service.update_identity(person, {"notes": f"corrected {n}"}, user, person.version)
        db.session.commit()
        made[person.id] = name
    db.session.remove()
    return made
