"""No route without a rule: every URL rule of the app declares who may reach it (access.route /
signed_in / public), and a view that declares nothing is refused (fail closed) and audited."""
from __future__ import annotations

from sqlalchemy import select

from victimcare import access
from victimcare.audit import AuditEvent
from victimcare.extensions import db

# Reachable without signing in, and nothing else: the log-in steps (a second factor, or setting one up,
# before the session exists), the language switch, static files and the load balancer's health check.
PUBLIC = {"auth.login", "auth.login_code", "auth.login_enrol", "main.language", "static", "main.healthz"}


def _rules(app):
    return {r.endpoint: (r, getattr(app.view_functions[r.endpoint], "access_rule", None))
            for r in app.url_map.iter_rules()}


def test_every_route_declares_its_access(app):
    undeclared = sorted(e for e, (_r, rule) in _rules(app).items() if not isinstance(rule, access.RouteRule))
    assert undeclared == [], f"views without an access declaration: {undeclared}"


def test_only_the_log_in_steps_and_static_files_are_public(app):
    public = {e for e, (_r, rule) in _rules(app).items() if rule.public}
    assert public == PUBLIC


def test_each_declaration_names_what_exists(app):
    """A section of the policy, a named rule that exists, and a URL argument the route has; a route
    that names a person's file or entry has it in its URL."""
    for endpoint, (url_rule, rule) in _rules(app).items():
        if rule.public:
            assert rule.section is None and rule.named is None, endpoint
            continue
        assert rule.section is None or rule.section in access.SECTIONS, endpoint
        assert rule.named is None or rule.named in access.NAMED_RULES, endpoint
        assert rule.person is None or rule.person in url_rule.arguments, endpoint
        object_args = {a for a in url_rule.arguments if a.endswith("_id")}
        if rule.section is not None and object_args - {"job_id", "user_id", "report_id"}:
            assert rule.person in object_args, f"{endpoint}: name the file the route works on (person=)"


def test_a_view_without_a_declaration_is_refused_and_audited(app, client, orgs, logged_in):
    def probe():
        return "reached"
    app.add_url_rule("/probe-undeclared", "probe_undeclared", probe)
    assert client.get("/probe-undeclared").status_code == 302  # not signed in: to the log-in page
    user = logged_in("caseworker", orgs["shelter_a"])
    response = client.get("/probe-undeclared")
    assert response.status_code == 403 and "reached" not in response.text
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).all()
    assert len(rows) == 1 and rows[0].user_id == user.id and rows[0].section == "undeclared"
    assert rows[0].details_dict == {"action": "read", "status": 403, "route": True, "rule": "undeclared"}


def test_a_refused_entry_route_names_the_file_in_the_trail(client, orgs, logged_in, make_person):
    """A clinician may not edit placements at all; the trail says whose stay was asked for."""
    import datetime as dt

    from victimcare.placements import service as placements
    person = make_person(orgs["shelter_a"])
    stay = placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": orgs["shelter_a"].id,
                                     "institution_name": None, "household_relation": "none",
                                     "admitted_on": dt.date(2026, 1, 2), "reason": "安置"}, None)
    db.session.commit()
    logged_in("clinician", orgs["hospital"])
    assert client.get(f"/placements/{stay.id}/edit").status_code == 403
    assert client.get(f"/placements/{'f' * 32}/edit").status_code == 403
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied").order_by(AuditEvent.seq)).all()
    assert [(r.object_type, r.object_id, r.details_dict["entry"]) for r in rows] == [
        ("person", person.id, stay.id), (None, None, "f" * 32)]


def test_a_declared_route_refuses_a_role_before_the_view_and_audits_it(client, orgs, logged_in, make_person):
    """A clinician may not edit identity at all: 403 whatever the id, before the person is looked up
    (so the answer does not tell whether the file exists); the trail names the id asked for."""
    person = make_person(orgs["shelter_a"])
    user = logged_in("clinician", orgs["hospital"])
    for person_id in (person.id, "0" * 32):
        response = client.get(f"/people/{person_id}/edit")
        assert response.status_code == 403
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")
                              .order_by(AuditEvent.seq)).all()
    assert [(r.user_id, r.section, r.object_type, r.object_id) for r in rows] == [
        (user.id, "identity", "person", person.id), (user.id, "identity", "person", "0" * 32)]


def test_a_post_needs_the_write_right_a_get_does_not(client, orgs, logged_in, make_person):
    """The DNA page: managers read it, only the police write it (``post="write"``)."""
    from .conftest import csrf_from
    person = make_person(orgs["shelter_a"])
    logged_in("manager", orgs["bureau"])
    page = client.get(f"/people/{person.id}/dna")
    assert page.status_code == 200
    response = client.post(f"/people/{person.id}/dna", data={"csrf_token": csrf_from(page.text),
                                                            "dna_reference": "DNA-FAKE", "version": "1"})
    assert response.status_code == 403
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).one()
    assert row.details_dict["action"] == "write" and row.section == "dna"


def test_reports_are_for_the_case_roles_of_reporting_organisations(client, orgs, make_user):
    """An auditor or administrator who belongs to a shelter neither files nor reads its suspected-
    trafficking reports (reports go to the police station and stay with the filing case workers)."""
    import datetime as dt

    from victimcare.medical import service

    from .conftest import login
    caseworker = make_user("caseworker", orgs["shelter_a"])
    report = service.file_report({"observed_on": dt.date.today(), "place": "站内", "victim_description": "少女",
                                  "circumstances": "神情紧张"}, orgs["police"], caseworker)
    db.session.commit()
    for role in ("auditor", "admin"):
        user = make_user(role, orgs["shelter_a"])
        login(client, user)
        for url in ("/reports/", "/reports/new", f"/reports/{report.id}"):
            assert client.get(url).status_code == 403, (role, url)
        client.post("/logout", data={"csrf_token": _token(client)})
    login(client, caseworker)
    assert client.get(f"/reports/{report.id}").status_code == 200


def _token(client) -> str:
    from .conftest import csrf_from
    return csrf_from(client.get("/").text)
