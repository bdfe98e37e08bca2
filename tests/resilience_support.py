"""Helpers for the concurrency and fault tests: fill a page's form like a browser, count every
table, and make the database fail on a chosen write statement."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from html.parser import HTMLParser

from sqlalchemy import event, func, select

from victimcare.extensions import db

from .conftest import BrowserLikeClient, login


class _Forms(HTMLParser):
    """The forms of a page as {field name: value}, the way a browser would submit them untouched."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._select = self._option = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "fields": {}})
            return
        if not self.forms or "name" not in a and tag not in ("option",):
            return
        fields = self.forms[-1]["fields"]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields[a["name"]] = a.get("value") or "y"
            elif kind not in ("submit", "button", "file"):
                fields[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._select not in fields or "selected" in a:
                fields[self._select] = value

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            fields = self.forms[-1]["fields"]
            value = fields[self._textarea] + data  # a browser drops the newline after <textarea>
            fields[self._textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")


def form_on(html: str, field: str) -> dict:
    """The fields of the form on the page that holds ``field``."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if field in form["fields"]:
            return dict(form["fields"])
    raise AssertionError(f"no form with a field {field!r} on the page")


def browser(app, user):
    """A fresh client logged in as ``user``, reading the pages in English."""
    app.test_client_class = BrowserLikeClient
    client = app.test_client()
    response = login(client, user)
    assert response.status_code == 302, response.text
    client.get("/language/en")
    return client


def table_counts() -> dict[str, int]:
    """Rows in every table: a save that fails must leave every one unchanged."""
    db.session.rollback()
    counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}
    db.session.rollback()
    return counts


_WRITES = ("INSERT", "UPDATE", "DELETE")


class FailingWrites:
    """Raise the driver's own OperationalError on the n-th write statement (``fail_at``) of the
    application's engine, as a full disk would. Writes to the log-in session row are not counted:
    they are the request's own bookkeeping, committed before the view runs."""

    def __init__(self, engine, fail_at: int | None = None):
        self.engine, self.fail_at, self.seen, self.fired = engine, fail_at, 0, False

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.lstrip().split(None, 3)
        if not words or words[0].upper() not in _WRITES or "user_session" in statement.split("WHERE")[0]:
            return
        self.seen += 1
        if self.fail_at is not None and self.seen == self.fail_at:
            self.fired = True
            raise self.engine.dialect.loaded_dbapi.OperationalError("injected failure: database or disk is full")

    @contextlib.contextmanager
    def installed(self):
        event.listen(self.engine, "before_cursor_execute", self)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self)


def dialect() -> str:
    return db.engine.dialect.name


# -- several processes writing at once -------------------------------------------------------------
def writer_process(config: dict, instance_path: str, start, results, person_id: str, user_id: int,
                   organisation_id: int, rounds: int) -> None:
    """One worker process (spawned): its own app on the shared test database. Each round appends an
    audit row on its own (a view), one through ``record_now`` (a denial), and saves a correction to
    the shared person's notes, retrying when another process saved first; every few rounds it
    registers a person (a case number under the counter lock). All start together (``start``, a
    barrier); what each saved goes to ``results`` (a queue), or its error as text."""
    try:
        results.put(_write_concurrently(config, instance_path, start, person_id, user_id, organisation_id,
                                        rounds))
    except BaseException:
        import traceback
        results.put(traceback.format_exc())


def _write_concurrently(config, instance_path, start, person_id, user_id, organisation_id, rounds) -> dict:
    import time

    from sqlalchemy.orm.exc import StaleDataError

    from victimcare import audit, create_app
    from victimcare.auth.models import Organisation, User
    from victimcare.entries import StaleEdit
    from victimcare.people import service
    from victimcare.people.models import Person

    os.environ["VICTIMCARE_INSTANCE_PATH"] = instance_path
    app = create_app(config)
    done = {"audit_rows": 0, "updates": 0, "conflicts": 0, "case_numbers": []}
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.rollback()  # hold no lock while waiting for the others
        start.wait(120)
        done["started"] = time.time()
        for n in range(rounds):
            audit.record("view", object_type="person", object_id=person_id, section="identity", user=user)
            db.session.commit()
            audit.record_now("denied", object_type="person", object_id=person_id, section="dna",
                             details={"action": "write", "status": 403}, user=user)
            done["audit_rows"] += 2
            while True:
                person = db.session.get(Person, person_id)
                try:
                    service.update_identity(person, {"notes": f"{os.getpid()}-{n}"}, user, person.version)
                    db.session.commit()
                    break
                except (StaleEdit, StaleDataError):
                    db.session.rollback()
                    done["conflicts"] += 1
            done["updates"] += 1
            done["audit_rows"] += 1
            if n % 4 == 0:
                registered = service.register_person(
                    {"name": f"并发{os.getpid()}{n}", "sex": "female", "identity_status": "unidentified",
                     "tracing_result": "not_started"}, db.session.get(Organisation, organisation_id), user)
                done["case_numbers"].append(registered.case_number)
                db.session.commit()
                done["audit_rows"] += 1
        done["finished"] = time.time()
        db.session.remove()
        db.engine.dispose()
    return done


def rotate_and_die(config: dict, instance_path: str, progress_file: str) -> None:
    """What `rotate-keys --batch-size 2` does (keys.start_rotation, keys.rotate), in a spawned process
    that SIGKILLs itself (no rollback, no clean-up: a power cut) in the middle of a batch: after one
    batch was committed, just before the second re-encrypting UPDATE of the next. ``progress_file``
    gets the number of re-encrypted values committed so far."""
    import signal

    from victimcare import create_app
    from victimcare.crypto import keyring
    from victimcare.keys import pending_rotation, rotate, start_rotation

    os.environ["VICTIMCARE_INSTANCE_PATH"] = instance_path
    app = create_app(config)
    updates = {"seen": 0, "committed": 0}

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE") and "_enc=" in statement.replace(" ", ""):
            if updates["committed"] and updates["seen"] - updates["committed"] == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            updates["seen"] += 1

    def committed(conn):
        updates["committed"] = updates["seen"]
        with open(progress_file, "w") as fh:
            fh.write(str(updates["committed"]))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        event.listen(db.engine, "commit", committed)
        kr = keyring()
        if not pending_rotation(kr):
            start_rotation(kr)
        rotate(kr, 2)
    raise AssertionError("the rotation ended before the power cut")


TODAY = dt.date.today()


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


class World:
    """Organisations, two users per role who can write the section, and one person's file."""

    def __init__(self, orgs, make_org, make_user, make_person):
        self.orgs, self.make_org, self.make_user = orgs, make_org, make_user
        self.caseworkers = self.pair("caseworker", orgs["shelter_a"])
        self.person = make_person(orgs["shelter_a"], by=self.caseworkers[0], name="冲突对象",
                                  date_of_birth=days_ago(16 * 365 + 180), rescue_date=days_ago(150))

    def pair(self, role, org):
        """Two users of one organisation, told apart by name (the conflict page names the first)."""
        users = []
        for label in ("甲", "乙"):
            user = self.make_user(role, org)
            user.display_name = f"{label}{role}"
            users.append(user)
        db.session.commit()
        return tuple(users)

    def partners(self, role, org, *, accept=True):
        """Two partner users of ``org``, the person referred to it (accepted by the first)."""
        from victimcare.referrals import service as referrals
        users = self.pair(role, org)
        referral = referrals.refer(self.person, org, "冲突测试", self.caseworkers[0])
        if accept:
            referrals.accept(referral, users[0])
        db.session.commit()
        return users, referral

    def stay(self):
        from victimcare.placements import service
        stay = service.admit(self.person, {"placement_type": "temporary_assistance", "organisation_id": None,
                                           "institution_name": "甲救助站本部", "household_relation": "none",
                                           "admitted_on": days_ago(120), "reason": "解救后安置"},
                             self.caseworkers[0])
        db.session.commit()
        return stay

    def application(self):
        from victimcare.placements import residence
        self.stay()
        application = residence.draft(self.person, {"name": "冲突对象", "sex": "female", "date_of_birth": None,
                                                     "birth_year": 2010, "rescue_date": None,
                                                     "institution": "甲救助站", "statement": "多次查找未果"},
                                      self.caseworkers[0])
        db.session.commit()
        return application

    def returned(self):
        from victimcare.followups import service
        ret = service.record_return(self.person, {"kind": "family", "return_date": days_ago(10),
                                                  "wish_confirmed": True, "wish_expressed_by": "person",
                                                  "destination": "原籍村", "notes": "返乡"}, self.caseworkers[0])
        db.session.commit()
        return ret
