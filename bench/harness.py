"""What the bench scripts share: a throwaway database and instance folder, a migrated app, timing.

    with bench_database("sqlite") as (url, folder):
        app = migrated_app(url, folder)

The database is a file in a temporary folder (SQLite) or a throwaway PostgreSQL server
(tests/pg.py); both are removed afterwards. The app is created twice, as in production: once to
run the migrations, then fresh against the migrated schema.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@contextlib.contextmanager
def bench_database(kind: str = "sqlite", prefix: str = "victimcare-bench-"):
    """(database URL, temporary folder) for one run; everything is removed afterwards."""
    folder = tempfile.mkdtemp(prefix=prefix)
    server = None
    try:
        if kind == "postgresql":
            from tests.pg import ThrowawayPostgres
            server = ThrowawayPostgres()
            server.start()
            url = server.url
        else:
            url = "sqlite:///" + os.path.join(folder, "bench.db")
        yield url, folder
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def make_app(url: str, instance: str):
    from victimcare import create_app
    os.environ["VICTIMCARE_INSTANCE_PATH"] = instance
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "KEYRING_FILE": os.path.join(instance, "keys.json"),
                       "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False,
                       "LOGIN_RATE_LIMIT": "1000 per minute", "ARGON2_TIME_COST": 1,
                       "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1})


def migrated_app(url: str, folder: str):
    """A new keyring in <folder>/instance, the migrations applied, and a fresh app on the result."""
    from flask_migrate import upgrade

    from victimcare.crypto import Keyring
    from victimcare.extensions import db
    instance = os.path.join(folder, "instance")
    Keyring.generate(os.path.join(instance, "keys.json")).save()
    app = make_app(url, instance)
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    return make_app(url, instance)


def sign_in(app, username: str, password: str):
    """A test client signed in as the user. A manager or admin without two-factor sets it up on the way,
    as at a first log-in (the secret read off the set-up page); returns the client."""
    import pyotp
    client = app.test_client()

    def post(path, **data):
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).text).group(1)
        return client.post(path, data={"csrf_token": token, **data})
    reply = post("/login", username=username, password=password)
    if reply.headers.get("Location", "").endswith("/login/two-factor"):
        page = client.get("/login/two-factor").text
        secret = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
        post("/login/two-factor", code=pyotp.TOTP(secret).now())  # answers with the recovery codes
    assert client.get("/").status_code == 200, f"{username} is not signed in"
    return client


def analyze() -> None:
    """Planner statistics, as a maintained database has them (call inside an app context)."""
    from victimcare.extensions import db
    db.session.remove()  # on SQLite an open transaction would hold the write lock
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def summary(times: list[float]) -> tuple[float, float, float]:
    """(median, p95, max) in the unit given."""
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
    return statistics.median(times), p95, max(times)
