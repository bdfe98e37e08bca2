"""Support for the hostile-input tests: a world with an object of every kind, one logged-in client
per role, hostile value strategies, and posting that works like a browser at the byte level.

Values are percent-encoded here, from UTF-8 with lone surrogates passed through ("surrogatepass"),
exactly as a broken or malicious client would send them; Werkzeug decides what the app sees."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import quote

from hypothesis import strategies as st
from sqlalchemy import func, literal, select, union_all, update
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from victimcare.extensions import db

from .conftest import PASSWORD, BrowserLikeClient, csrf_from, login

TODAY = dt.date.today()
# Tables a request may write whatever its outcome: the audit trail (views, denials) and log-in sessions.
UNCOUNTED = {"audit_event", "audit_head", "user_session", "key_check"}
OMIT = object()  # a field left out of the post


# -- the world ------------------------------------------------------------------------------------------
@dataclass
class World:
    """Organisations and a user per role at once; people and entries only when a case asks for them
    (``need``/``id``), since building all of them for every case is most of the run time."""
    orgs: dict
    users: dict
    make_person: object
    ids: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def id(self, key: str) -> str:
        self.need(key)
        return self.ids[key]

    def need(self, *keys) -> None:
        for key in keys:
            if key not in self.ids:
                self.ids[key] = _BUILDERS[key](self)
                db.session.commit()

    def get(self, model, key):
        """The object as stored now (refreshed: a request may have changed it since)."""
        obj = db.session.get(model, self.id(key))
        db.session.refresh(obj)
        return obj

    def person(self, key: str = "person"):
        from victimcare.people.models import Person
        return self.get(Person, key)


def build_world(app, orgs, make_org, make_user, make_person) -> World:
    bureau = orgs["bureau"]
    orgs = dict(orgs, legal=make_org("法律援助中心", "legal_aid", "320102", bureau),
                school=make_org("教育局", "school_office", "320102", bureau),
                jobs=make_org("人社局", "employment_office", "320102", bureau),
                hospital2=make_org("第二医院", "hospital", "320102", bureau),
                hospital3=make_org("第三医院", "hospital", "320102", bureau))
    users = {"caseworker": make_user("caseworker", orgs["shelter_a"]),
             "manager": make_user("manager", bureau),
             "clinician": make_user("clinician", orgs["hospital"]),
             "clinician2": make_user("clinician", orgs["hospital2"]),
             "police": make_user("police", orgs["police"]),
             "legal_aid": make_user("legal_aid", orgs["legal"]),
             "education": make_user("education", orgs["school"]),
             "employment": make_user("employment", orgs["jobs"]),
             "auditor": make_user("auditor", orgs["supervision"]),
             "admin": make_user("admin", bureau)}
    return World(orgs, users, make_person)


# Partner organisation -> the role of its user in the world.
PARTNERS = {"hospital": "clinician", "police": "police", "legal": "legal_aid", "school": "education",
            "jobs": "employment"}


def _person(w):
    return w.make_person(w.orgs["shelter_a"], by=w.users["caseworker"], date_of_birth=dt.date(2009, 6, 1),
                         rescue_date=dt.date(2025, 12, 1)).id


def _newcomer(w):
    return w.make_person(w.orgs["shelter_a"], by=w.users["caseworker"], date_of_birth=dt.date(2008, 3, 3),
                         rescue_date=dt.date(2025, 11, 1)).id


def _referral(org: str, accept: bool = True):
    def build(w):
        from victimcare.referrals import service as referrals
        referral = referrals.refer(w.person(), w.orgs[org], "purpose", w.users["caseworker"])
        if accept:
            referrals.accept(referral, w.users[PARTNERS[org]])
        return referral.id
    return build


def _stay(w):
    from victimcare.placements import service as placements
    return placements.admit(w.person(), {"placement_type": "temporary_assistance",
                                         "organisation_id": w.orgs["shelter_a"].id, "household_relation": "none",
                                         "admitted_on": dt.date(2026, 1, 10), "reason": "r"},
                            w.users["caseworker"]).id


def _application(w):
    from victimcare.placements import residence
    from victimcare.placements import service as placements
    w.need("stay")
    person = w.person()
    stays = placements.stays_of(person)
    values = residence.prefill(person, residence.state_of(person, stays=stays), stays)
    values["statement"] = "statement"
    return residence.draft(person, values, w.users["caseworker"]).id


def _visit(w):
    from victimcare.medical import service as medical
    w.need("referral:hospital")
    return medical.add_visit(w.person(), {"visit_date": dt.date(2026, 2, 1), "visit_type": "basic_medical",
                                          "diagnosis": "d", "notes": "n", "total_cost": Decimal("100.00"),
                                          "insurance_paid": Decimal("40.00")}, w.users["clinician"]).id


def _assessment(w):
    from victimcare.medical import service as medical
    w.need("referral:hospital")
    return medical.add_assessment(w.person(), {"category": "visual", "grade": 2, "institution": "i",
                                               "assessed_on": dt.date(2026, 2, 2), "notes": None},
                                  w.users["clinician"]).id


def _report(w):
    from victimcare.medical import service as medical
    return medical.file_report({"observed_on": dt.date(2026, 3, 1), "observed_time": None, "place": "p",
                                "victim_description": "v", "circumstances": "c", "reporter_contact": "123"},
                               w.orgs["police"], w.users["clinician"]).id


def _legal(w):
    from victimcare.legal import service as legal
    w.need("referral:legal")
    return legal.create(w.person(), {"application_date": dt.date(2026, 2, 1), "agency_id": w.orgs["legal"].id,
                                     "lawyer_name": "l", "green_channel": True, "matter": "compensation",
                                     "details": "d", "status": "applied", "outcome": None, "outcome_date": None},
                        w.users["legal_aid"]).id


def _school(w):
    from victimcare.schooling import service as schooling
    w.need("referral:school")
    return schooling.create(w.person(), {"school_name": "s", "grade": "j3", "enrolment_date": dt.date(2026, 3, 1),
                                         "transfer_state": "pending", "transfer_date": None,
                                         "record_state": "pending", "record_date": None, "mentoring": None,
                                         "counselling_notes": None}, w.users["education"]).id


def _employment(w):
    from victimcare.employment import service as employment
    w.need("referral:jobs")
    return employment.create(w.person(), {"kind": "vocational_training", "wish_confirmed": True, "provider": "p",
                                          "place": "local", "start_date": dt.date(2026, 7, 1), "end_date": None,
                                          "outcome": "ongoing", "notes": None}, w.users["employment"]).id


def _return(w):
    from victimcare.followups import service as followups
    return followups.record_return(w.person(), {"kind": "family", "return_date": dt.date(2026, 2, 1),
                                                "wish_confirmed": True, "wish_expressed_by": "person",
                                                "destination": "home"}, w.users["caseworker"]).id


def _followup_visit(w):
    from victimcare.followups.models import PersonReturn
    ret = w.get(PersonReturn, "return")
    return sorted(ret.visits, key=lambda v: v.months)[0].id


_BUILDERS = {"person": _person, "newcomer": _newcomer, "stay": _stay, "application": _application,
             "visit": _visit, "assessment": _assessment, "report": _report, "legal": _legal, "school": _school,
             "employment": _employment, "return": _return, "followup_visit": _followup_visit,
             "pending_referral": _referral("hospital2", accept=False),
             **{f"referral:{org}": _referral(org) for org in PARTNERS}}


def _unlock(user) -> None:
    from victimcare.auth.models import User
    db.session.execute(update(User).where(User.id == user.id).values(locked_until=None, failed_logins=0))
    db.session.commit()


def client_for(app, w: World, role: str):
    """A client logged in as the world's user of that role, and its CSRF token (valid all session)."""
    if role not in w.clients:
        client = BrowserLikeClient(app, app.response_class, use_cookies=True)
        if role.startswith("pending:"):  # the password step done, the code step to come
            user = w.users[role.split(":")[1]]
            _unlock(user)  # wrong codes of earlier examples locked the account
            client.post("/login", data={"csrf_token": csrf_from(client.get("/login").text),
                                        "username": user.username, "password": PASSWORD})
            w.tokens[role] = csrf_from(client.get("/login/code").text)
        elif role != "anonymous":
            response = login(client, w.users[role])
            assert response.status_code == 302, response.text
            w.tokens[role] = csrf_from(client.get("/account/password").text)
        else:
            w.tokens[role] = csrf_from(client.get("/login").text)
        w.clients[role] = client
    return w.clients[role], w.tokens[role]


# -- counting rows --------------------------------------------------------------------------------------
def row_counts() -> dict[str, int]:
    """Committed rows per table. The session is rolled back first, as the end of a real request does
    (the test's app context outlives each request, so nothing else would)."""
    db.session.rollback()
    tables = [t for t in db.metadata.sorted_tables if t.name not in UNCOUNTED]
    query = union_all(*(select(literal(t.name), func.count()).select_from(t) for t in tables))
    counts = dict(db.session.execute(query).all())
    db.session.rollback()
    return counts


def deltas(before: dict, after: dict) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


# -- posting --------------------------------------------------------------------------------------------
def encode(pairs: list[tuple[str, str]]) -> bytes:
    """application/x-www-form-urlencoded, lone surrogates included as their (invalid) UTF-8 bytes."""
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
                    for k, v in pairs).encode("ascii")


def as_received(body: bytes) -> dict[str, list[str]]:
    """What Werkzeug makes of a body: the values the app sees (and should show back)."""
    request = Request(EnvironBuilder(method="POST", data=body,
                                     content_type="application/x-www-form-urlencoded").get_environ())
    return {k: request.form.getlist(k) for k in request.form}


def query_string(pairs: list[tuple[str, str]]) -> str:
    return encode(pairs).decode("ascii")


# -- strategies -----------------------------------------------------------------------------------------
PAYLOADS = (
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<b>bold</b>", "{{7*7}}", "{% if 1 %}x{% endif %}",
    "%(x)s", "%s%s%s%n", "{0.__class__}", "${7*7}", "' OR '1'='1", "'; DROP TABLE person; --", "1; SELECT pg_sleep(5)",
    "\x00", "a\x00b", "\u202eevil\u202c", "\u200b", "\ufeff", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1,2)",
    "\t=1+1", "\r=1+1", "＝1+1", "../../../etc/passwd", "%00", "\\x00", "𝕏𝕐", "\r\n", " ", "", "\U0010ffff",
    "\ud800", "a\udfffb", "NaN", "Infinity", "-0", "1e309", "0x1F", "٣٢٠١٠٢", "３２０１０２", "²", "\x1c\x1d\x1e",
    "\u0085", "\u2028", "javascript:alert(1)", "<!--", "]]>", "\\", "'", '"',
)
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.characters(min_codepoint=0x7F, max_codepoint=0x9F)
SURROGATE = st.characters(categories=["Cs"])
ANY_CHAR = st.characters(codec=None, categories=None) | CONTROL | SURROGATE


def any_text(max_size: int = 40):
    """Short text of any kind: payloads, control characters, lone surrogates, any Unicode."""
    return st.one_of(st.sampled_from(PAYLOADS), st.text(ANY_CHAR, max_size=max_size),
                     st.builds(lambda a, b: a + b, st.sampled_from(PAYLOADS), st.text(ANY_CHAR, max_size=8)))


def too_long(limit: int):
    return st.builds(lambda n, c: c * n, st.sampled_from([limit + 1, limit * 3 + 7, 100_000]),
                     st.sampled_from(["x", "中", "\x00", "<", "𝕏"]))


BAD_DATES = ("2026-02-30", "0000-01-01", "0001-01-01", "99999-01-01", "2026-13-01", "2026-00-10", "2026-1-1",
             "2026/01/01", "01.01.2026", "9999-12-31", "1800-01-01", "-2026-01-01", "2026-01-01T00:00",
             "2026-01-01 extra", "２０２６-０１-０１", "١٩٩٠-٠١-٠١", "today", "NaN", "1e9", "")
BAD_NUMBERS = ("-1", "121", "99999999999999999999999999", "-99999999999999999999", "1.5", "1e3", "NaN", "inf",
               "0x10", "٣", "３", "²", "", " ", "+5", "9" * 400, "2147483648", "9223372036854775808")
BAD_MONEY = ("-1", "-0.01", "1.234", "1000000.01", "99999999999999999999.99", "1e9", "1E2", "NaN", "sNaN", "Infinity",
             "-Infinity", "0x10", "1,000.00", "１２", "٣", "1_000", ".5", "5.", "", " ", "9" * 500, "0.001")


@dataclass(frozen=True)
class Kind:
    """A form field's kind: what a valid value looks like and what an attacker sends instead."""
    valid: object           # a strategy; callables drawn from it are called with the world at post time
    hostile: object
    text: bool = False      # free text that the form must show back as typed

    def strategy(self, mode: str):
        if mode == "valid":
            return self.valid
        return st.one_of(self.valid, self.hostile, st.just(OMIT))


def Text(limit: int, required: bool = False, valid=None) -> Kind:
    ok = valid if valid is not None else any_text(min(limit, 40))
    if required and valid is None:
        ok = st.builds(lambda a, b: (a + b)[:limit], st.text(st.characters(categories=["L", "N"]), min_size=1,
                                                              max_size=5), ok)
    return Kind(ok, too_long(limit) | any_text(60), text=True)


def Secret(limit: int, valid) -> Kind:
    """A one-time code: never shown back (like a password)."""
    return Kind(valid, any_text(40) | too_long(limit))


def Password() -> Kind:
    return Kind(st.sampled_from(["correct horse battery staple", "another long passphrase 42"]),
                any_text(40) | too_long(256))


def Date(start: dt.date, end: dt.date = TODAY) -> Kind:
    return Kind(st.dates(start, end).map(dt.date.isoformat),
                st.sampled_from(BAD_DATES) | st.dates().map(dt.date.isoformat) | any_text(12))


def Choice(values) -> Kind:
    """``values``: a list, or a callable world -> list (ids known only once the world exists)."""
    ok = st.just(lambda w: [str(v) for v in values(w)]) if callable(values) else st.sampled_from(
        [str(v) for v in values])
    return Kind(ok, st.sampled_from(["", "0", "-1", "99999999999999999999", "none", "<script>", "\x00",
                                     "1 OR 1=1", "Female", " female"]) | any_text(10))


def Integer(lo: int, hi: int) -> Kind:
    return Kind(st.integers(lo, hi).map(str), st.sampled_from(BAD_NUMBERS) | st.integers().map(str) | any_text(8))


def Money() -> Kind:
    return Kind(st.decimals(0, 500, places=2, allow_nan=False).map(str),
                st.sampled_from(BAD_MONEY) | st.decimals(places=2, allow_nan=True).map(str) | any_text(8))


def Bool() -> Kind:
    return Kind(st.sampled_from(["y", OMIT]), st.sampled_from(["n", "0", "false", "", "\x00"]) | any_text(5))


def Version(key: str, model) -> Kind:
    return Kind(st.just(lambda w: str(w.get(model, key).version)),
                st.sampled_from(["", "0", "-1", "abc", "1\x00", "99999999999999999999", "1.0"]))


def Fixed(value) -> Kind:
    return Kind(st.just(value), st.sampled_from(["", "x", "\x00"]) | any_text(8))


def resolve(value, w: World) -> str:
    if callable(value):
        value = value(w)
        if isinstance(value, list):  # a choice among world ids: the first
            value = value[0]
    return value


# -- what a response shows -------------------------------------------------------------------------------
_ERROR_MARK = re.compile(r'class="error"|class="flash flash-error"')


def shows_error(html: str) -> bool:
    return bool(_ERROR_MARK.search(html))
