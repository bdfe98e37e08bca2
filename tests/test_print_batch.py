"""Batch printing from the caseload filters: a job in the database, a chunk per request."""
from __future__ import annotations

import io
from urllib.parse import urlencode

from pypdf import PdfReader
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.reports import summary

from .conftest import csrf_from


def start(client, filters: dict, **values):
    client.get("/language/en")
    url = "/print/batch?" + urlencode(filters)
    page = client.get(url)
    data = {"csrf_token": csrf_from(page.text), "purpose": "季度个案会议", "variant": "full",
            "filters": urlencode(filters), **values}
    return page, client.post("/print/batch", data=data)


def run(client, location: str) -> str:
    for _ in range(50):
        page = client.get(location)
        assert page.status_code == 200
        if "Refresh" not in page.headers:
            return page.text
    raise AssertionError("the job never finished")


def test_batch_prints_the_filtered_list_in_chunks_and_audits_each_person(client, orgs, make_person, logged_in):
    from victimcare.followups.service import close_file
    closed = make_person(orgs["shelter_a"], name="不打印")
    close_file(closed, "结案", None)
    db.session.commit()
    people = [make_person(orgs["shelter_a"], name=f"甲{i}") for i in range(summary.CHUNK + 2)]
    make_person(orgs["shelter_b"], name="乙站")  # filtered out by organisation
    logged_in("manager", orgs["bureau"])
    page, response = start(client, {"status": "open", "organisation_id": orgs["shelter_a"].id})
    assert "7 people" in page.text
    assert response.status_code == 302
    location = response.headers["Location"]
    first = client.get(location)
    assert first.headers["Refresh"] == "1" and f"{summary.CHUNK} of {len(people)}" in first.text
    final = run(client, location)
    assert f"{len(people)} of {len(people)}" in final and location + ".pdf" in final
    pdf = client.get(location + ".pdf")
    assert pdf.mimetype == "application/pdf" and pdf.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(pdf.data))
    text = "".join("".join(p.extract_text().split()) for p in reader.pages)
    for p in people:
        assert p.case_number in text
    assert "不打印" not in text and "乙站" not in text and closed.case_number not in text
    assert "第1页/共" in text and "季度个案会议" in text
    printed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "print",
                                                          AuditEvent.object_type == "person")).all()
    assert sorted(e.object_id for e in printed) == sorted(p.id for p in people)
    job = db.session.scalars(select(summary.PrintJob)).one()
    assert all(e.details_dict["job"] == job.id for e in printed)
    assert job.pages == len(reader.pages)


def test_batch_size_is_limited_with_a_clear_message(client, orgs, make_person, logged_in, monkeypatch):
    monkeypatch.setattr(summary, "BATCH_LIMIT", 2)
    for i in range(3):
        make_person(orgs["shelter_a"], name=f"甲{i}")
    logged_in("caseworker", orgs["shelter_a"])
    page, response = start(client, {})
    assert "A batch prints at most 2 people; this list has 3." in page.text
    assert response.status_code == 400
    assert not db.session.scalars(select(summary.PrintJob)).all()


def test_batch_needs_a_purpose(client, orgs, make_person, logged_in):
    make_person(orgs["shelter_a"])
    logged_in("caseworker", orgs["shelter_a"])
    _page, response = start(client, {}, purpose="")
    assert response.status_code == 400 and 'class="error"' in response.text
    assert not db.session.scalars(select(summary.PrintJob)).all()


def test_a_job_belongs_to_the_user_who_started_it(client, orgs, make_person, logged_in):
    make_person(orgs["shelter_a"])
    logged_in("caseworker", orgs["shelter_a"])
    _page, response = start(client, {})
    location = response.headers["Location"]
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    other = logged_in("caseworker", orgs["shelter_a"])
    assert other and client.get(location).status_code == 404
    assert client.get(location + ".pdf").status_code == 404
