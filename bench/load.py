"""Load: concurrent caseworkers, clinicians and managers against the app under gunicorn.

    .venv/bin/python bench/load.py [--db sqlite|postgresql] [--duration 60] [--people 3000]
                                   [--caseworkers 12] [--clinicians 6] [--managers 4]
                                   [--workers 2] [--worker-class gthread|sync] [--threads 4] [--ratio-seconds 20] [--ratio-concurrency 8]

Builds a fresh instance folder (keyring, secret) and database, migrates it, loads the demo (organisations,
one user per role, 36 people with entries in every section), adds the simulated users (caseworkers at the
bureau and the shelters, clinicians at the hospital, managers at the bureau with TOTP enrolled) and
--people more people, each with an open placement, a tenth of them actively referred to the hospital with
medical visits. Starts gunicorn on a free loopback port and, for --duration seconds, lets every simulated
user work without pause (closed loop), each on its own connection with its own session, through the forms
(CSRF tokens parsed from the pages, TOTP codes at log-in):

  caseworker  search by name and by ID number, caseload, view a file, register a person, edit an identity,
              admit (transfer) to a placement
  clinician   view the medical section of a referred person, record a visit, view the file, home page
  manager     caseload, search, view a file, print a person's summary PDF, home page

Prints requests per second, median and p95 latency per request kind and every unexpected status (an
edit refused as a conflict, 409, is expected and counted apart). Then checks in the database that every
write the server acknowledged is there (decrypting and comparing) and that the audit chain verifies.

Last, in the same run with the same server, the closed-loop throughput of a trivial route (/healthz:
one SELECT 1, no session) and of a person's file page (the richest demo file, as a manager, who reads
every section; and a typical file, one stay, as a caseworker) at the same concurrency, alternating twice,
and their ratios: of throughput (the target, >= 0.2) and of gunicorn's CPU time per request (read from
/proc; less skewed by other work on the machine than throughput is). Exits 1 on any unexpected status, a
lost write, a broken chain or a missed ratio target.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from sqlalchemy import func, select  # noqa: E402

from bench_identity import GIVEN, SURNAMES, id_number  # noqa: E402
from victimcare import create_app  # noqa: E402
from victimcare.crypto import Keyring, new_row_id  # noqa: E402
from victimcare.extensions import db  # noqa: E402

PASSWORD = "load test password 2026"
TODAY = dt.date.today()


# -- set-up ----------------------------------------------------------------------------------------------
def server_environment(url: str, instance: str) -> dict:
    """The VICTIMCARE_* settings the server runs with (the bench process uses the same)."""
    return {"VICTIMCARE_INSTANCE_PATH": instance,
            "VICTIMCARE_SQLALCHEMY_DATABASE_URI": url,
            # Plain HTTP on loopback: a deployment terminates TLS in front of gunicorn.
            "VICTIMCARE_SESSION_COOKIE_SECURE": "false",
            # Every simulated user comes from 127.0.0.1: the per-address log-in limit would throttle them.
            "VICTIMCARE_LOGIN_RATE_LIMIT": "100000 per minute"}


def make_app(url: str, instance: str):
    os.environ.update(server_environment(url, instance))
    return create_app()


def seed(url: str, instance: str, args, rng: random.Random) -> dict:
    """Migrate, load the demo, add the simulated users and --people people; return what the drivers need."""
    from flask_migrate import upgrade

    Keyring.generate(os.path.join(instance, "keys.json")).save()
    app = make_app(url, instance)
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    app = make_app(url, instance)
    with app.app_context():
        from victimcare.demo import load_demo
        load_demo(echo=lambda *a: None)
        plan = _add_users(args)
        plan["people"] = _add_people(args.people, rng)
        plan["referred"] = _refer_to_hospital(plan["people"], rng)
        plan["rich_person"], plan["rich_entries"] = _richest_demo_file({p["id"] for p in plan["people"]})
        plan["typical_person"] = next(p["id"] for p in plan["people"] if p["id"] not in plan["referred"])
        db.session.remove()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.engine.dispose()
    return plan


def _org(kind: str, index: int = 0):
    from victimcare.auth.models import Organisation
    return db.session.scalars(select(Organisation).where(Organisation.kind == kind)
                              .order_by(Organisation.id)).all()[index]


def _add_users(args) -> dict:
    from victimcare.auth.service import create_user
    bureau, hospital = _org("bureau"), _org("hospital")
    homes = [bureau, _org("shelter", 0), _org("shelter", 1)]
    users = {"caseworker": [], "clinician": [], "manager": []}
    managers = args.managers + args.ratio_concurrency  # the ratio phase signs in managers of its own
    for role, count in (("caseworker", args.caseworkers), ("clinician", args.clinicians), ("manager", managers)):
        for i in range(count):
            org = {"caseworker": homes[i % len(homes)], "clinician": hospital, "manager": bureau}[role]
            user = create_user(f"load-{role}-{i:02d}", f"{role} {i}", role, org, PASSWORD)
            users[role].append({"username": user.username, "organisation_id": org.id,
                                "bureau": org.id == bureau.id, "totp": _enrol_totp(user)})
    db.session.commit()
    return {"users": users, "bureau_id": bureau.id}


def _enrol_totp(user) -> str | None:
    """Managers and admins sign in with a TOTP code: enrol the secret directly, as if scanned."""
    import pyotp
    if user.role not in ("manager", "admin"):
        return None
    secret = pyotp.random_base32()
    for attribute in ("totp_secret", "otp_secret"):
        if hasattr(type(user), attribute):
            setattr(user, attribute, secret)
            for flag in ("totp_enabled", "totp_confirmed", "otp_enabled"):
                if hasattr(type(user), flag):
                    setattr(user, flag, True)
            for when in ("totp_enrolled_at", "totp_confirmed_at"):
                if hasattr(type(user), when):
                    setattr(user, when, dt.datetime.now(dt.UTC).replace(tzinfo=None))
            return secret
    return None  # the app has no TOTP (yet): the log-in goes straight through


def _valid_identity(rng: random.Random, region: str, rescue: dt.date) -> dict:
    """Identity values that pass the identity form's own checks (so the edit form saves unchanged)."""
    born = dt.date(rng.randrange(1960, 2015), rng.randrange(1, 13), rng.randrange(1, 29))
    values = {"sex": rng.choice(("female", "male")), "birth_year": born.year}
    if rng.random() < 0.9:
        values["name"] = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    if rng.random() < 0.6:
        values.update(id_number=id_number(region, born, rng), date_of_birth=born, birth_date_estimated=False,
                      identity_status="identified", identified_method="documents", identified_on=rescue)
    else:
        values.update(birth_date_estimated=True, identity_status="unidentified")
    return values


def _add_people(n: int, rng: random.Random, batch: int = 1000) -> list[dict]:
    """n people in the two shelters, written directly (no audit rows), each with an open stay."""
    from victimcare.people.models import Person
    from victimcare.people.rules import format_case_number
    from victimcare.placements.models import Placement
    shelters = [(o.id, o.region_code) for o in (_org("shelter", 0), _org("shelter", 1))]  # survive expunge_all
    out, seen, start = [], set(), dt.datetime.combine(TODAY - dt.timedelta(days=802), dt.time(9))  # ends 2 days ago
    for i in range(n):
        shelter_id, region = shelters[i % 2]
        created = start + dt.timedelta(minutes=i * (800 * 24 * 60 // max(n, 1)))
        rescue = created.date()
        values = _valid_identity(rng, region, rescue)
        while values.get("id_number") in seen:
            values = _valid_identity(rng, region, rescue)
        seen.add(values.get("id_number"))
        person = Person(id=new_row_id(), organisation_id=shelter_id, status="open", created_at=created,
                        updated_at=created, case_number=format_case_number(region, created.year,
                                                                           90000 + i),
                        rescue_date=rescue, tracing_result="searching", nationality="CHN",
                        notes="（负载测试数据）", **values)
        db.session.add(person)
        stay = Placement(id=new_row_id(), person_id=person.id, organisation_id=shelter_id,
                         placement_type="temporary_assistance", household_relation="none", admitted_on=rescue,
                         created_at=created, updated_at=created)
        stay.reason = "救助站临时安置（负载测试数据）"
        db.session.add(stay)
        out.append({"id": person.id, "organisation_id": shelter_id, "name": values.get("name"),
                    "id_number": values.get("id_number")})
        if (i + 1) % batch == 0:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    db.session.expunge_all()
    return out


def _refer_to_hospital(people: list[dict], rng: random.Random) -> list[str]:
    """A tenth of the people actively referred to the hospital, with one or two visits each."""
    from victimcare.auth.models import User
    from victimcare.medical import service as medical
    from victimcare.people.models import Person
    from victimcare.referrals import service as referrals
    hospital = _org("hospital")
    caseworker = db.session.scalar(select(User).where(User.username == "caseworker"))
    clinician = db.session.scalar(select(User).where(User.username == "clinician"))
    referred = []
    for row in rng.sample(people, max(1, len(people) // 10)):
        person = db.session.get(Person, row["id"])
        referral = referrals.refer(person, hospital, "体检及后续治疗（负载测试）", caseworker)
        referrals.accept(referral, clinician)
        for k in range(rng.randint(1, 2)):
            medical.add_visit(person, {"visit_date": TODAY - dt.timedelta(days=30 - k), "visit_type": "basic_medical",
                                       "diagnosis": "体检（负载测试）", "notes": "负载测试数据",
                                       "total_cost": Decimal("210.00"), "insurance_paid": Decimal("150.00")},
                              clinician)
        referred.append(row["id"])
    db.session.commit()
    return referred


def _richest_demo_file(seeded: set) -> tuple[str, int]:
    from victimcare.entries import EntryMixin
    from victimcare.people.models import Person
    models = [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, EntryMixin)]

    def entries(person_id):
        return sum(db.session.scalar(select(func.count()).select_from(m).where(m.person_id == person_id))
                   for m in models)
    demo = [p for p in db.session.scalars(select(Person.id)) if p not in seeded]
    richest = max(demo, key=entries)
    return richest, entries(richest)


# -- the server ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, instance: str, args, port: int, log: str):
    env = dict(os.environ, **server_environment(url, instance))
    command = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--bind", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
               "--timeout", "120", "--error-logfile", log, "victimcare:create_app()"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Browser(port).get("/healthz")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gunicorn did not answer; see {log}")


# -- the client ------------------------------------------------------------------------------------------
class FormParser(HTMLParser):
    """The forms of a page: action, method and their fields as a browser would submit them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._form, self._select, self._textarea, self._option = [], None, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                          "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["fields"].append([a["name"], a.get("value") or ("y" if kind == "checkbox" else "")])
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], None, None]  # name, first option, selected option
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select[1] is None:
                self._select[1] = value
            if "selected" in a:
                self._select[2] = value
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            name, first, selected = self._select
            self._form["fields"].append([name, selected if selected is not None else (first or "")])
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._form["fields"].append([self._textarea[0], self._textarea[1].removeprefix("\n")])
            self._textarea = None


def find_form(html: str, *, having: str | None = None, action_ends: str | None = None) -> dict:
    parser = FormParser()
    parser.feed(html)
    for form in parser.forms:
        names = {name for name, _value in form["fields"]}
        if form["method"] == "post" and (having is None or having in names) \
                and (action_ends is None or form["action"].endswith(action_ends)):
            return form
    raise LookupError(f"no form with {having or action_ends}")


def fill(form: dict, **values) -> list[tuple[str, str]]:
    """The form's fields with some replaced (None removes a field, as an unticked box)."""
    fields = [(name, values.get(name, value)) for name, value in form["fields"]]
    names = {name for name, _value in fields}
    fields += [(name, value) for name, value in values.items() if name not in names]
    return [(name, value) for name, value in fields if value is not None]


class Unexpected(Exception):
    pass


class Browser:
    """One user's connection (HTTP/1.1 keep-alive) and cookies."""

    def __init__(self, port: int, stats=None):
        self.port, self.stats, self.cookies = port, stats, {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def _send(self, method, path, body, headers):
        self.conn.request(method, path, body=body, headers=headers)
        reply = self.conn.getresponse()
        return reply, reply.read()

    def request(self, method: str, path: str, form=None, label: str | None = None, expect=(200,)):
        body = urlencode(form).encode() if form is not None else None
        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        begin = time.perf_counter()
        try:
            reply, data = self._send(method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()
            if method != "GET":  # never repeat a write that may have happened
                raise
            reply, data = self._send(method, path, body, headers)
        elapsed = time.perf_counter() - begin
        for cookie in reply.headers.get_all("Set-Cookie") or []:
            name, _sep, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if not value or "expires=thu, 01 jan 1970" in cookie.lower() or "max-age=0" in cookie.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if self.stats is not None and label:
            self.stats.add(label, elapsed, reply.status, reply.status in expect, f"{method} {path}", data)
        if reply.status not in expect:
            raise Unexpected(f"{method} {path} -> {reply.status}")
        text = data.decode("utf-8", "replace") if "text" in (reply.getheader("Content-Type") or "") else ""
        return reply.status, reply, text

    def get(self, path, **kw):
        status, reply, text = self.request("GET", path, **kw)
        return status, text

    def post(self, path, form, **kw):
        return self.request("POST", path, form, **kw)


def location(reply) -> str:
    return urlsplit(reply.getheader("Location") or "").path


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.conflicts = 0
        self.samples = []

    def add(self, label, elapsed, status, ok, what, body):
        with self.lock:
            self.times[label].append(elapsed * 1000)
            if status == 409 and label.endswith("save"):
                self.conflicts += 1
            elif not ok:
                self.errors[(label, status)] += 1
                if len(self.samples) < 8:
                    self.samples.append(f"{what} -> {status}: {body[:300]!r}")

    def error(self, label, message):
        with self.lock:
            self.errors[(label, "exception")] += 1
            if len(self.samples) < 8:
                self.samples.append(f"{label}: {message}")


# -- simulated users -------------------------------------------------------------------------------------
class User:
    def __init__(self, role, account, port, stats, plan, rng, acked):
        self.role, self.account, self.plan, self.rng, self.acked = role, account, plan, rng, acked
        self.browser = Browser(port, stats)
        self.stats = stats

    def login(self):
        b = self.browser
        _status, page = b.get("/login", label="login page")
        form = find_form(page, having="password")
        status, reply, _text = b.post("/login", fill(form, username=self.account["username"], password=PASSWORD),
                                      label="login", expect=(302,))
        target = location(reply)
        if target.rstrip("/") not in ("", "/login") and self.account.get("totp"):
            self._second_factor(target)

    def _second_factor(self, path):
        import pyotp
        b = self.browser
        _status, page = b.get(path, label="login totp page")
        form = find_form(page)
        code_field = next(name for name, _v in form["fields"] if name not in ("csrf_token", "next"))
        b.post(form["action"] or path, fill(form, **{code_field: pyotp.TOTP(self.account["totp"]).now()}),
               label="login totp", expect=(302,))

    def run(self, until: float):
        try:
            self.login()
        except Exception as exc:  # noqa: BLE001 (counted and reported; the user stops)
            self.stats.error("login", repr(exc))
            return
        actions = self.ACTIONS
        names, weights = list(actions), list(actions.values())
        while time.monotonic() < until:
            action = self.rng.choices(names, weights)[0]
            try:
                getattr(self, action)()
            except Unexpected:
                pass  # already counted
            except Exception as exc:  # noqa: BLE001
                self.stats.error(action, repr(exc))

    # shared actions
    def scope(self) -> list[dict]:
        if not hasattr(self, "_scope"):
            people = self.plan["people"]
            self._scope = people if self.account.get("bureau") else \
                [p for p in people if p["organisation_id"] == self.account["organisation_id"]]
        return self._scope

    def view_file(self):
        self.browser.get(f"/people/{self.rng.choice(self.scope())['id']}", label="view file")

    def search_name(self):
        person = self.rng.choice([p for p in self.scope()[:400] if p["name"]])
        self.browser.get("/people/?" + urlencode({"q": person["name"]}), label="search name")

    def search_id(self):
        person = self.rng.choice([p for p in self.scope()[:400] if p["id_number"]])
        self.browser.get("/people/?" + urlencode({"q": person["id_number"]}), label="search id")

    def caseload(self):
        self.browser.get(f"/people/?page={self.rng.randint(1, 20)}", label="caseload")

    def home(self):
        self.browser.get("/", label="home")


class Caseworker(User):
    ACTIONS = {"search_name": 15, "search_id": 10, "caseload": 5, "view_file": 30, "register": 8, "edit": 12,
               "placement": 8}

    def __init__(self, *a, pool: list[str] | None = None):
        super().__init__(*a)
        self.pool = pool or []  # people this user alone admits elsewhere (one admission a day each)

    def register(self):
        b, rng = self.browser, self.rng
        _s, page = b.get("/people/new", label="register form")
        form = find_form(page, having="organisation_id")
        marker = f"load-{new_row_id()[:12]}"
        rescue = TODAY - dt.timedelta(days=rng.randint(0, 30))
        values = _valid_identity(rng, "320102", rescue)
        data = {"name": values.get("name", ""), "sex": values["sex"], "notes": marker,
                "rescue_date": rescue.isoformat(), "rescue_place": "火车站", "contact": "138" + marker[-8:]}
        if values.get("id_number"):
            data.update(id_number=values["id_number"], date_of_birth=values["date_of_birth"].isoformat(),
                        identity_status="identified", identified_method="documents",
                        identified_on=rescue.isoformat())
        else:
            data.update(estimated_age=str(TODAY.year - values["birth_year"]), identity_status="unidentified")
        _s, reply, _t = b.post("/people/new", fill(form, **data), label="register save", expect=(302,))
        person_id = location(reply).rsplit("/", 1)[-1]
        self.acked.append(("register", person_id, {k: data[k] for k in ("name", "notes", "contact")}
                           | {"id_number": data.get("id_number")}))

    def edit(self):
        b = self.browser
        person = self.rng.choice(self.scope())
        _s, page = b.get(f"/people/{person['id']}/edit", label="edit form")
        form = find_form(page, having="version")
        marker = f"edit-{new_row_id()[:12]}"
        base = dict(form["fields"])["version"]
        status, _reply, _t = b.post(f"/people/{person['id']}/edit", fill(form, notes=marker, tracing_notes=marker),
                                    label="edit save", expect=(302, 409))
        if status == 302:
            self.acked.append(("edit", person["id"], {"notes": marker, "version": int(base)}))

    def placement(self):
        if not self.pool:
            return self.view_file()
        b, person_id = self.browser, self.pool.pop()
        _s, page = b.get(f"/people/{person_id}/placements", label="placement page")
        form = find_form(page, having="admitted_on")
        marker = f"stay-{new_row_id()[:12]}"
        data = {"placement_type": "transit_rehabilitation", "admitted_on": TODAY.isoformat(), "reason": marker,
                "transfer": "y", "household_relation": "none", "discharged_on": "", "discharge_reason": ""}
        b.post(f"/people/{person_id}/placements", fill(form, **data), label="placement save", expect=(302,))
        self.acked.append(("placement", person_id, {"reason": marker}))


class Clinician(User):
    ACTIONS = {"medical_view": 40, "visit": 25, "view_referred_file": 20, "home": 15}

    def medical_view(self):
        self.browser.get(f"/people/{self.rng.choice(self.plan['referred'])}/medical", label="medical view")

    def view_referred_file(self):
        self.browser.get(f"/people/{self.rng.choice(self.plan['referred'])}", label="view file")

    def visit(self):
        b, person_id = self.browser, self.rng.choice(self.plan["referred"])
        _s, page = b.get(f"/people/{person_id}/medical", label="medical view")
        form = find_form(page, action_ends="/medical/visits")
        marker = f"visit-{new_row_id()[:12]}"
        data = {"visit_date": TODAY.isoformat(), "visit_type": "psychological_counselling", "diagnosis": marker,
                "notes": "复诊", "total_cost": "300.00", "insurance_paid": "0.00"}
        b.post(f"/people/{person_id}/medical/visits", fill(form, **data), label="visit save", expect=(302,))
        self.acked.append(("visit", person_id, {"diagnosis": marker}))


class Manager(User):
    ACTIONS = {"caseload": 20, "search_name": 10, "view_file": 40, "print_summary": 10, "home": 10}

    def print_summary(self):
        b, person_id = self.browser, self.rng.choice(self.scope())["id"]
        _s, page = b.get(f"/people/{person_id}/print", label="print form")
        form = find_form(page, having="purpose")
        _s, reply, _t = b.post(f"/people/{person_id}/print", fill(form, purpose="负载测试：个案摘要", variant="full",
                                                                   for_agency=None),
                               label="print pdf", expect=(200,))
        if reply.getheader("Content-Type") != "application/pdf":
            self.stats.error("print pdf", f"not a PDF: {reply.getheader('Content-Type')}")


# -- phases ----------------------------------------------------------------------------------------------
def mixed_load(port, plan, args, stats, acked) -> float:
    rng = random.Random(1)
    users, pools = [], collections.defaultdict(list)
    caseworkers = plan["users"]["caseworker"]
    for i, person in enumerate(plan["people"]):
        owners = [k for k, c in enumerate(caseworkers) if c["bureau"] or c["organisation_id"] == person["organisation_id"]]
        if owners and person["id"] not in plan["referred"]:
            pools[owners[i % len(owners)]].append(person["id"])
    for role, cls in (("caseworker", Caseworker), ("clinician", Clinician), ("manager", Manager)):
        for i, account in enumerate(plan["users"][role][:getattr(args, role + "s")]):
            common = (role, account, port, stats, plan, random.Random(rng.random()), acked)
            users.append(cls(*common, pool=pools[i]) if cls is Caseworker else cls(*common))
    begin = time.monotonic()
    until = begin + args.duration
    threads = [threading.Thread(target=u.run, args=(until,)) for u in users]
    for t in threads:
        t.start()
        time.sleep(0.05)  # log-ins (argon2) spread a little, as users arrive
    for t in threads:
        t.join()
    return time.monotonic() - begin


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by gunicorn's master and workers (from /proc): a cost per request that
    the other work on the machine does not skew the way it skews throughput."""
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        total = 0
        for p in [pid, *map(int, children)]:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def closed_loop(make_client, path: str, concurrency: int, seconds: float, label: str) -> tuple[int, float, Stats]:
    stats = Stats()
    clients = [make_client(stats) for _ in range(concurrency)]
    for c in clients:
        c.get(path)  # warm: connection, templates
    count = [0] * concurrency
    until = time.monotonic() + seconds

    def loop(k):
        while time.monotonic() < until:
            try:
                clients[k].get(path, label=label)
                count[k] += 1
            except Unexpected:
                pass
    begin = time.monotonic()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count), time.monotonic() - begin, stats


def ratio_phase(port, plan, args, server_pid: int) -> bool:
    """Closed-loop throughput of /healthz and of two file pages, alternating; True if the target is met."""
    def signed_in(cls, role, accounts):
        sessions = []
        for k in range(args.ratio_concurrency):
            user = cls(role, accounts[k % len(accounts)], port, None, plan, random.Random(k), [])
            user.login()
            sessions.append(user.browser)
        return sessions
    # Managers sign in with a TOTP code, once per 30-second step: each session its own manager.
    sessions = {"manager": signed_in(Manager, "manager", plan["users"]["manager"][args.managers:]),
                "caseworker": signed_in(Caseworker, "caseworker",
                                          [c for c in plan["users"]["caseworker"] if c["bureau"]])}
    targets = [("healthz", "/healthz", None, "GET /healthz (no session)"),
               ("rich", f"/people/{plan['rich_person']}", "manager",
                f"file page, richest demo file ({plan['rich_entries']} entries), as a manager"),
               ("typical", f"/people/{plan['typical_person']}", "caseworker",
                "file page, a typical file (one stay), as a caseworker")]
    totals = {key: [0, 0.0, Stats()] for key, *_rest in targets}
    cpu = dict.fromkeys(totals, 0.0)
    for _round in range(2):
        for key, path, role, _label in targets:
            pool = iter(sessions[role]) if role else None

            def client(stats, pool=pool):
                browser = next(pool) if pool else Browser(port)
                browser.stats = stats
                return browser
            before = server_cpu(server_pid)
            n, t, s = closed_loop(client, path, args.ratio_concurrency, args.ratio_seconds / 2, key)
            cpu[key] += server_cpu(server_pid) - before
            totals[key][0] += n
            totals[key][1] += t
            _merge(totals[key][2], s)
    print(f"\nClosed loop, {args.ratio_concurrency} concurrent clients, 2 rounds x {args.ratio_seconds / 2:.0f} s "
          f"each, alternating, same server:")
    rates, cost, met = {}, {}, True
    for key, _path, _role, label in targets:
        n, t, s = totals[key]
        rates[key] = n / t
        times = next(iter(s.times.values()), [0])
        cost[key] = cpu[key] / (n + 2 * args.ratio_concurrency) * 1000  # the warm-up requests ran too
        ratio = "" if key == "healthz" else (f"\n      ratio to /healthz: throughput {rates[key] / rates['healthz']:.3f}, "
                                             f"gunicorn CPU per request {cost['healthz'] / cost[key]:.3f}")
        print(f"  {label:<62}{rates[key]:>7.1f} req/s  median {statistics.median(times):6.1f} ms"
              f"  p95 {p95(times):6.1f} ms  errors {sum(s.errors.values())}  gunicorn CPU {cost[key]:.2f} ms/req{ratio}")
        met = met and not s.errors and (key == "healthz" or rates[key] / rates["healthz"] >= 0.2)
    print(f"  target: every file page >= 0.2 of /healthz: {'met' if met else 'NOT met'}")
    return met


def _merge(into: Stats, other: Stats) -> None:
    for k, v in other.times.items():
        into.times[k] += v
    into.errors.update(other.errors)


def p95(times) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else (times or [0])[0]


def report(stats: Stats, elapsed: float, args) -> None:
    total = sum(len(v) for v in stats.times.values())
    print(f"\nMixed load: {args.caseworkers} caseworkers, {args.clinicians} clinicians, {args.managers} managers, "
          f"{elapsed:.0f} s: {total} requests, {total / elapsed:.1f} req/s")
    print(f"  {'request':<22}{'count':>7}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for label in sorted(stats.times):
        times = stats.times[label]
        print(f"  {label:<22}{len(times):>7}{statistics.median(times):>11.1f}{p95(times):>9.1f}{max(times):>9.1f}")
    print(f"  edit conflicts (409, expected): {stats.conflicts}")
    print(f"  errors: {sum(stats.errors.values())} {dict(stats.errors) or ''}")
    for sample in stats.samples:
        print("    " + sample)


# -- checks afterwards -----------------------------------------------------------------------------------
def check_writes(url: str, instance: str, acked: list) -> int:
    """Every acknowledged write is in the database with the value sent; returns the number missing."""
    from victimcare import audit
    from victimcare.medical.models import MedicalVisit
    from victimcare.people.models import Person, PersonRevision
    from victimcare.placements.models import Placement
    app = make_app(url, instance)
    lost = []
    with app.app_context():
        latest_edit = {}
        for kind, person_id, want in acked:
            person = db.session.get(Person, person_id)
            if person is None:
                lost.append((kind, person_id, "no such person"))
            elif kind == "register":
                got = {"name": person.name or "", "notes": person.notes, "contact": person.contact,
                       "id_number": person.id_number}
                if got != want:
                    lost.append((kind, person_id, got, want))
            elif kind == "edit":
                revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.person_id == person_id,
                                                                            PersonRevision.section == "identity"))
                if not any(json.loads(r.changes).get("notes", [None, None])[1] == want["notes"] for r in revisions):
                    lost.append((kind, person_id, "no revision with", want["notes"]))
                if want["version"] >= latest_edit.get(person_id, {"version": -1})["version"]:
                    latest_edit[person_id] = want
            elif kind == "placement":
                stays = db.session.scalars(select(Placement).where(Placement.person_id == person_id)).all()
                if not any(s.reason == want["reason"] and s.admitted_on == TODAY and s.is_open for s in stays):
                    lost.append((kind, person_id, want["reason"]))
            elif kind == "visit":
                visits = db.session.scalars(select(MedicalVisit).where(MedicalVisit.person_id == person_id)).all()
                if not any(v.diagnosis == want["diagnosis"] and v.total_cost == Decimal("300.00") for v in visits):
                    lost.append((kind, person_id, want["diagnosis"]))
        for person_id, want in latest_edit.items():  # the last acknowledged edit is the current value
            if db.session.get(Person, person_id).notes != want["notes"]:
                lost.append(("edit (latest)", person_id, want["notes"]))
        kinds = collections.Counter(kind for kind, _p, _w in acked)
        print(f"\nAcknowledged writes: {dict(kinds)}; missing or different in the database: {len(lost)}")
        for item in lost[:10]:
            print("   ", item)
        result = audit.verify()
        rows = db.session.scalar(select(func.count()).select_from(audit.AuditEvent))
        print(f"Audit chain: {'valid' if result.ok else 'BROKEN'} ({result.checked} rows checked of {rows})"
              f"{'' if result.ok else f' at row {result.bad_seq}: {result.reason}'}")
        db.session.remove()
        db.engine.dispose()
    return len(lost) + (0 if result.ok else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--duration", type=float, default=60, help="seconds of mixed load")
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--caseworkers", type=int, default=12)
    parser.add_argument("--clinicians", type=int, default=6)
    parser.add_argument("--managers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--ratio-seconds", type=float, default=20, help="per route, split in two rounds")
    parser.add_argument("--ratio-concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (and print its path)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="victimcare-load-")
    instance = os.path.join(folder, "instance")
    pg, server, failed = None, None, True
    try:
        if args.db == "postgresql":
            from tests.pg import ThrowawayPostgres
            pg = ThrowawayPostgres()
            pg.start()
            url = pg.url
        else:
            url = "sqlite:///" + os.path.join(folder, "load.db")
        begin = time.perf_counter()
        plan = seed(url, instance, args, random.Random(2026))
        print(f"{args.db}: seeded {len(plan['people']):,} people ({len(plan['referred'])} referred to the hospital) "
              f"in {time.perf_counter() - begin:.0f} s")
        port = free_port()
        log = os.path.join(folder, "gunicorn.log")
        server = start_gunicorn(url, instance, args, port, log)
        threads = f" x {args.threads} threads" if args.worker_class == "gthread" else ""
        print(f"gunicorn: {args.workers} {args.worker_class} workers{threads} on 127.0.0.1:{port}; "
              f"load average before the run {os.getloadavg()[0]:.1f} (other work on this machine skews figures)")
        stats, acked = Stats(), []
        elapsed = mixed_load(port, plan, args, stats, acked)
        report(stats, elapsed, args)
        print(f"  load average {os.getloadavg()[0]:.1f}")
        ratio_met = ratio_phase(port, plan, args, server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        server = None
        missing = check_writes(url, instance, acked)
        failed = bool(missing or stats.errors or not ratio_met)
        with open(log, encoding="utf-8", errors="replace") as fh:
            tracebacks = fh.read().count("Traceback")
        if tracebacks:
            print(f"Server log has {tracebacks} traceback(s): {log}")
            args.keep = True
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"Kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
