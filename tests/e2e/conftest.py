"""Browser tests: the app served for real on 127.0.0.1 (same database, keyring and factories as the
rest of the suite, see tests/conftest.py), driven by Debian's Chromium through Playwright.

Fixtures: ``live_server`` (its ``url``), ``browser`` (one Chromium for the package), ``page`` (a fresh
context per test: no cookies, locale zh-CN, relative URLs resolve against the live server) and
``login`` (``login(page, user, password=PASSWORD)``, passes the two-factor step for managers and
administrators). Every test under tests/e2e is marked ``e2e``.

Playwright's own browser downloads are never used (``playwright install`` cannot work offline);
without /usr/bin/chromium the tests skip, except under CI=true where they fail.
"""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from victimcare.extensions import db

from ..conftest import PASSWORD, totp_code

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000  # an action that waits longer than this has failed; keep failures fast


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.e2e)


def _no_browser(reason: str):
    """A missing browser skips on a developer's machine but fails under CI: CI must run these."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; scripts/setup.sh test installs it)")
    pytest.skip(f"{reason}: browser tests skipped (install Debian's chromium: scripts/setup.sh test)")


def release_database():
    """End the test's own transaction before the browser acts. Outside a request the app begins
    every transaction with BEGIN IMMEDIATE (victimcare/database.py), so on SQLite even reading an
    expired attribute (``user.username`` after a commit) holds the write lock, and the server's
    next write would wait for it. Call this after touching the database in a test."""
    db.session.commit()


class LiveServer:
    """The test's app served by Werkzeug from a thread. Requests get their own app context (and
    so their own database session) in the server's threads; the test keeps its own."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


@pytest.fixture
def live_server(app):
    """The app of this test (``app`` fixture: fresh, emptied afterwards) on a free loopback port."""
    release_database()
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")  # one Chromium for tests/e2e, closed before the rest of the suite
def browser():
    if not os.path.exists(CHROMIUM):
        _no_browser(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is missing")
    with sync_playwright() as playwright:
        # launch() starts Chromium on a new, empty user-data dir of its own (removed on close): the
        # machine's Chromium profile stays out of the run (Playwright refuses --user-data-dir here).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # Script errors and what the Content-Security-Policy refused: the enhancing scripts must run
    # cleanly under the app's real CSP on every page a test passes.
    problems = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on("console", lambda message: problems.append(f"{page.url}: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not problems, problems


def _login(page, user, password=PASSWORD):
    """Log in through the form as a person would. ``user`` is a User (or anything with a
    ``username``); managers and administrators get the code their authenticator app would show.
    Returns the page, on the home page."""
    from sqlalchemy import select
    from victimcare.auth.models import User
    username = user.username
    release_database()
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    if page.url.split("?")[0].endswith("/login/code"):
        account = db.session.scalar(select(User).where(User.username == username))
        code = totp_code(account.id, account.totp_secret)  # commits: the browser may write next
        page.locator("#code").fill(code)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
    assert not page.url.split("?")[0].endswith(("/login", "/login/code")), \
        f"log-in as {username} failed: " + page.locator("main").inner_text()
    return page


@pytest.fixture
def login():
    """login(page, user, password=PASSWORD): log in through the form, two-factor step included."""
    return _login
