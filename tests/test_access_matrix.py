"""The access matrix: every role requests every route of the app (GET, and POST with a valid CSRF token
and an otherwise empty form), for every relation to the object the route names, with real ids
(tests/route_matrix_support.py builds the world).

The expected status of each cell comes from an oracle written here from the policy tables
(access.POLICY, access.SCOPE), the route's declared rule, and the rules beyond the table restated from
DOMAIN.md, never by asking access.can: the role may not use the route -> 403; the object is outside the
user's reach -> 404 (existence stays hidden); in reach but the section is closed to them (a pending
referral beyond the summary, another office's entry) -> 403; otherwise the page answers (not 401, 403,
404, 405 or 500). Every 403/404 adds exactly one "denied" row to the audit trail, every other cell none."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from victimcare import access, create_app
from victimcare.audit import AuditEvent
from victimcare.extensions import db

from .conftest import BrowserLikeClient, _empty_database, csrf_from, login
from .route_matrix_support import RELATIONS, build_world

OK = "ok"
CASE_ROLES = ("caseworker", "clinician", "education")   # the roles that file suspected-trafficking reports
REPORTING_KINDS = ("hospital", "school_office", "shelter")
PARTNER_ROLES = tuple(r for r, scope in access.SCOPE.items() if scope == "referral")


def _kind(user) -> str:
    return user.organisation.kind


# The rules beyond the role table, restated from DOMAIN.md and the modules' docstrings, by role and
# the kind of the user's organisation.
NAMED = {
    "reports": lambda role, user: _files_reports(role, user) or _is_station(role, user),
    "file_report": lambda role, user: _files_reports(role, user),
    "statistics": lambda role, user: role in ("manager", "caseworker") and _kind(user) in ("bureau", "shelter"),
    "medical_ledger": lambda role, user: role == "manager" or (role == "clinician" and _kind(user) == "hospital"),
    "transfer_partners": lambda role, user: role in ("manager", "admin"),
    "referral_partner": lambda role, user: role in PARTNER_ROLES,
    "referral_work_list": lambda role, user: role in PARTNER_ROLES or role in ("caseworker", "manager"),
    "civil_affairs": lambda role, user: role in ("caseworker", "manager"),
    "registering_police": lambda role, user: _is_station(role, user),
    "duplicate_review": lambda role, user: role == "manager",
}


def _files_reports(role, user) -> bool:
    return role in CASE_ROLES and _kind(user) in REPORTING_KINDS


def _is_station(role, user) -> bool:
    return role == "police" and _kind(user) == "police"


# What each URL argument names: (blueprint, argument) where the name is ambiguous, else the argument.
ARG_KIND = {("medical", "visit_id"): "medical_visit", ("followups", "visit_id"): "followup_visit",
            ("legal", "entry_id"): "legal", ("schooling", "entry_id"): "schooling",
            ("employment", "entry_id"): "employment", "person_id": "person", "stay_id": "stay",
            "application_id": "application", "assessment_id": "assessment", "referral_id": "referral",
            "report_id": "report", "job_id": "job", "user_id": "user", "attachment_id": "attachment"}
FIXED_ARGS = {"code": "en", "fmt": "csv", "filename": "css/app.css"}
# Entries that only the office which wrote them may change (entries.require_own_organisation).
OWN_OFFICE = {"medical.edit_visit": "organisation_id", "medical.edit_assessment": "organisation_id",
              "legal.edit": "office_id", "schooling.edit": "office_id", "employment.edit": "office_id"}
# Cells that end the session: after every other cell, and the user signs in again after each.
LAST = ("auth.logout", "auth.sign_out_everywhere")
PUBLIC = "public"  # any answer but a server error (a log-in step may send a signed-in user elsewhere)


# -- the oracle ---------------------------------------------------------------------------------------
def refused_outright(world, role, method, rule) -> bool:
    """The role may not use the route at all: the role table, or the route's named rule, says no."""
    action = rule.post if method == "POST" and rule.post else rule.action
    if rule.section is not None and action[0] not in access.POLICY[role].get(rule.section, ""):
        return True
    return rule.named is not None and not NAMED[rule.named](role, world.users[role])


def expected(world, role, endpoint, method, rule, kind, obj):
    if rule.public:
        return PUBLIC
    if refused_outright(world, role, method, rule):
        return 403
    user = world.users[role]
    if kind is None or kind == "user":
        return OK
    if kind == "job":
        return OK if obj.user_id == user.id else 404
    if kind == "report":
        return _report(role, user, method, obj)
    if endpoint in ("referrals.accept", "referrals.decline"):
        return OK if obj.organisation_id == user.organisation_id else 404
    person = world.people_by_id[obj.id if kind == "person" else obj.person_id]
    reach = _reach(world, role, user, person, rule.section)
    if reach != OK:
        return reach
    if endpoint in OWN_OFFICE and getattr(obj, OWN_OFFICE[endpoint]) != user.organisation_id:
        return 403
    if endpoint == "placements.register_hukou" and obj.police_organisation_id != user.organisation_id:
        return 403
    return OK


def _reach(world, role, user, person, section):
    scope = access.SCOPE[role]
    if scope == "subtree":
        return OK if person.organisation.path.startswith(user.organisation.path) else 404
    if scope == "referral":
        statuses = {status for referral_id, status in world.referral_status.items()
                    if world.referral_person[referral_id] == (person.id, user.organisation_id)}
        if "active" in statuses:
            return OK
        if "pending" in statuses:
            return OK if section == "summary" else 403
    return 404


def _report(role, user, method, report):
    station = _is_station(role, user) and report.police_organisation_id == user.organisation_id
    reporter = _files_reports(role, user) and report.reporter_organisation_id == user.organisation_id
    if not (station or reporter):
        return 404
    return 403 if method == "POST" and not station else OK


# -- the cells ----------------------------------------------------------------------------------------
def _object_arg(endpoint, arguments):
    blueprint = endpoint.split(".")[0]
    objects = [a for a in arguments if a not in FIXED_ARGS]
    assert len(objects) <= 1, f"{endpoint}: the matrix handles one object per URL, not {objects}"
    if not objects:
        return None, None
    arg = objects[0]
    kind = ARG_KIND.get((blueprint, arg)) or ARG_KIND.get(arg)
    assert kind, f"{endpoint}: the matrix has no object for <{arg}>; add it to ARG_KIND and the world"
    return arg, kind


def _objects(world, role, kind):
    """(label, object) for every relation the world holds an object of this kind in."""
    if kind == "person":
        return [(r, world.people[r]) for r in RELATIONS]
    if kind == "referral":
        return [(r, _referral(world, role, r)) for r in RELATIONS]
    if kind == "report":
        return list(world.reports.items())
    if kind == "job":
        return list(world.jobs.items())
    if kind == "user":
        return [("bystander", world.users["bystander"])]
    return [(relation, obj) for (k, relation), obj in world.objects.items() if k == kind]


def _referral(world, role, relation):
    """The person's referral to the user's own organisation where there is one, else another."""
    own = world.orgs_by_id[world.users[role].organisation_id]
    for (rel, key), referral in world.referrals.items():
        if rel == relation and world.orgs[key] is own:
            return referral
    return next(r for (rel, _key), r in world.referrals.items() if rel == relation)


def cells(app, world, role):
    for url_rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in LAST, r.endpoint, r.rule)):
        endpoint = url_rule.endpoint
        rule = getattr(app.view_functions[endpoint], "access_rule", None)
        assert rule is not None, f"{endpoint} declares no access rule"
        arg, kind = _object_arg(endpoint, url_rule.arguments)
        targets = _objects(world, role, kind) if kind else [("-", None)]
        for method in ("GET", "POST"):
            if method not in url_rule.methods:
                continue
            for label, obj in targets:
                values = {a: FIXED_ARGS[a] for a in url_rule.arguments if a in FIXED_ARGS}
                if arg:
                    values[arg] = obj.id
                url = url_rule.build(values, append_unknown=False)[1]
                yield (endpoint, method, label, url,
                       expected(world, role, endpoint, method, rule, kind, obj))


def _denials() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "denied"))


def _verdict(response, want, added, ends_session=False) -> str | None:
    status = response.status_code
    if want == PUBLIC:
        return f"public page answered {status}" if status >= 500 or added else None
    if want == OK:
        lost = status == 302 and "/login" in response.headers.get("Location", "") and not ends_session
        if status in (401, 403, 404, 405, 500) or lost:
            return f"expected an answer, got {status}"
        if added:
            return f"answered {status} but added {added} denied audit rows"
        return None
    if status != want:
        return f"expected {want}, got {status}"
    if added != 1:
        return f"{status} with {added} denied audit rows, not 1"
    return None


@pytest.fixture(scope="module")
def matrix(migrated, test_config):
    """One app and one world for every role's run (the world takes longer to build than a role's
    denials take to check); emptied at the end like the per-test ``app`` fixture does."""
    app = create_app(dict(test_config))
    app.test_client_class = BrowserLikeClient
    with app.app_context():
        yield app, build_world()
        db.session.remove()
        _empty_database()
        db.engine.dispose()


def _sign_in(client, user) -> str:
    """Sign in (the conftest helper passes a second factor where the role needs one); a CSRF token."""
    response = login(client, user)
    assert response.status_code == 302 and "/login" not in response.headers["Location"], user.role
    return csrf_from(client.get("/").text)


@pytest.mark.parametrize("role", access.ROLES)
def test_every_route_for_every_role_and_relation(matrix, role):
    app, world = matrix
    client = app.test_client()
    started = time.perf_counter()
    token = _sign_in(client, world.users[role])
    wrong, count, denied = [], 0, _denials()
    for endpoint, method, label, url, want in cells(app, world, role):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": token})
        response.close()
        count += 1
        before, denied = denied, _denials()
        problem = _verdict(response, want, denied - before, endpoint in LAST)
        if problem:
            wrong.append(f"{role} {method} {endpoint} [{label}] {url}: {problem}")
        if method == "POST" and endpoint == "referrals.accept":
            world.restore_referrals()  # a partner's accept changes the world for the cells after it
        if endpoint in LAST:
            token = _sign_in(client, world.users[role])
            denied = _denials()
    elapsed = time.perf_counter() - started
    print(f"\n{role}: {count} cells in {elapsed:.1f} s")
    assert not wrong, "\n".join(wrong)
