"""Test set-up: one migrated database per run (SQLite, or a throwaway PostgreSQL with
``--db=postgresql``), emptied between tests; factories for organisations, users and people."""
from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import text

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


@pytest.fixture
def make_user(app):
    from victimcare.auth.service import create_user

    def make(role, org, username=None, password=PASSWORD):
        user = create_user(username or f"{role}{os.urandom(3).hex()}", role.title(), role, org, password)
        db.session.commit()
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


def login(client, user, password=PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf_from(page.text), "username": user.username,
                                       "password": password})


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
