"""The tamper-evident audit trail: chain verification, concurrent appends, the auditor's page."""
import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select, text

from victimcare import audit
from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.rules import id_check_digit

from .conftest import post_form


def _append(n, **kwargs):
    for i in range(n):
        audit.record("view", object_type="person", object_id=f"p{i}", section="identity",
                     username=kwargs.get("username", "alice"), details={"i": i})
    db.session.commit()


def _sql(statement, **params):
    db.session.execute(text(statement), params)
    db.session.commit()
    db.session.expunge_all()


@pytest.fixture
def chain(app):
    _append(5)
    assert audit.verify().ok
    return app


def test_fresh_chain_verifies(chain):
    result = audit.verify()
    assert result.ok and result.checked == 5


def test_empty_chain_verifies(app):
    assert audit.verify().ok


@pytest.mark.parametrize("column, value", [("details", '{"i":99}'), ("action", "print"),
                                           ("username", "mallory"), ("object_id", "p9")])
def test_edited_row_is_named(chain, column, value):
    _sql(f"UPDATE audit_event SET {column} = :v WHERE seq = 3", v=value)
    result = audit.verify()
    assert not result.ok and result.bad_seq == 3 and "edited" in result.reason
    assert result.checked == 2


def test_edited_row_with_recomputed_mac_still_breaks_the_next_link(chain):
    """Without the audit key a forger cannot fix the MAC; with a plain hash he could."""
    _sql("UPDATE audit_event SET details = :v, mac = :m WHERE seq = 3", v='{"i":99}', m="f" * 64)
    assert audit.verify().bad_seq == 3


def test_deleted_middle_row_is_named(chain):
    _sql("DELETE FROM audit_event WHERE seq = 3")
    result = audit.verify()
    assert not result.ok and result.bad_seq == 3 and "deleted" in result.reason


def test_deleted_last_row_is_detected(chain):
    _sql("DELETE FROM audit_event WHERE seq = 5")
    result = audit.verify()
    assert not result.ok and result.bad_seq == 5


def test_deleted_first_row_is_detected(chain):
    _sql("DELETE FROM audit_event WHERE seq = 1")
    assert audit.verify().bad_seq == 1


def test_swapped_rows_are_detected(chain):
    _sql("UPDATE audit_event SET seq = -2 WHERE seq = 2")
    _sql("UPDATE audit_event SET seq = 2 WHERE seq = 4")
    _sql("UPDATE audit_event SET seq = 4 WHERE seq = -2")
    result = audit.verify()
    assert not result.ok and result.bad_seq == 2


def test_audit_verify_command(chain):
    runner = chain.test_cli_runner()
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 0 and "intact: 5 rows" in result.output
    _sql("UPDATE audit_event SET details = '{}' WHERE seq = 4")
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code != 0 and "row 4" in result.output


def test_unknown_action_is_refused(app):
    with pytest.raises(ValueError):
        audit.record("delete")


def test_concurrent_appends_keep_one_chain(app):
    db.session.remove()  # hold no transaction (on SQLite that would be the write lock)
    errors = []
    start = threading.Barrier(4)

    def writer(name):
        try:
            with app.app_context():
                start.wait()
                for i in range(25):
                    audit.record("view", username=name, details={"i": i})
                    db.session.commit()
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"user{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, 101))
    assert db.session.scalar(select(func.count(func.distinct(AuditEvent.prev_mac)))) == 100
    assert audit.verify().ok


# -- the auditor's page -----------------------------------------------------------
def test_auditor_sees_and_filters_the_trail(client, orgs, logged_in):
    logged_in("auditor", orgs["supervision"], username="auditor1")
    audit.record("export", username="alice", details={"rows": 3})
    audit.record("view", username="bob")
    old = audit.record("print", username="carol")
    db.session.commit()
    _sql("UPDATE audit_event SET ts = :ts WHERE seq = :seq", ts=dt.datetime(2020, 1, 1, 12), seq=old.seq)

    page = client.get("/audit/")
    assert page.status_code == 200
    assert all(f"<td>{u}</td>" in page.text for u in ("alice", "bob", "carol", "auditor1"))

    by_user = client.get("/audit/?username=alice").text
    assert "<td>alice</td>" in by_user and "<td>bob</td>" not in by_user

    by_action = client.get("/audit/?action=export").text
    assert 'class="action-export"' in by_action and 'class="action-view"' not in by_action
    assert 'class="action-login"' not in by_action

    recent = client.get(f"/audit/?since={dt.date.today() - dt.timedelta(days=1)}").text
    assert "<td>bob</td>" in recent and "<td>carol</td>" not in recent
    old_day = client.get("/audit/?since=2020-01-01&until=2020-01-01").text  # 20:00 in Shanghai
    assert "<td>carol</td>" in old_day and "<td>bob</td>" not in old_day
    assert "<td>carol</td>" not in client.get("/audit/?until=2019-12-31").text


@pytest.mark.parametrize("role, org", [("caseworker", "shelter_a"), ("admin", "bureau"), ("manager", "bureau")])
def test_others_are_refused_and_the_refusal_is_audited(client, orgs, logged_in, role, org):
    user = logged_in(role, orgs[org])
    assert client.get("/audit/").status_code == 403
    denial = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).one()
    assert (denial.username, denial.section, denial.details_dict["status"]) == (user.username, "audit", 403)
    assert audit.verify().ok


def test_audit_rows_never_hold_a_name_or_id_number(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    name, id17 = "赵秀英", "53010220090314004"
    id_number = id17 + id_check_digit(id17)
    response = post_form(client, "/people/new", {
        "organisation_id": orgs["shelter_a"].id, "name": name, "aliases": "小英", "sex": "female",
        "date_of_birth": "2009-03-14", "id_number": id_number, "nationality": "CHN",
        "identity_status": "unidentified", "identified_method": "", "tracing_result": "not_started",
        "contact": "13912345678"})
    assert response.status_code == 302, response.text
    client.get(response.headers["Location"])
    for query in (name, id_number, "小英"):
        found = client.get("/people/", query_string={"q": query})
        assert name in found.text, query
    rows = db.session.scalars(select(AuditEvent)).all()
    assert {r.action for r in rows} >= {"create", "view", "search"}
    assert sum(r.action == "search" for r in rows) == 3
    secrets = (name, id_number, id17, "小英", "13912345678", "2009-03-14")
    for row in rows:  # details are ASCII JSON: look at the decoded text too
        stored = [v for c in AuditEvent.__table__.columns if isinstance(v := getattr(row, c.name), str)]
        stored.append(json.dumps(row.details_dict, ensure_ascii=False))
        assert not any(s in v for v in stored for s in secrets), row.details
    assert audit.verify().ok
