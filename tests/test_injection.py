"""Script, markup and formulas typed into the file stay text (issue 5, point 3): escaped in every page,
printed literally in PDFs (nothing interpreted, nothing fetched), and defused in CSV and XLSX exports
so that no spreadsheet runs them."""
from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

from victimcare.extensions import db
from victimcare.reports import pdf
from victimcare.reports.export import safe_text, to_csv, to_xlsx

from .hostile_support import any_text, build_world, client_for

SCRIPT = '<script>alert("xss")</script>'
IMG = '"><img src=x onerror=alert(1)>'
FETCH = '<img src="http://127.0.0.1:9/leak.png"><link rel="stylesheet" href="file:///etc/passwd">'
TEMPLATE = "{{7*7}}{% if 1 %}x{% endif %}"
PAYLOAD = f"{SCRIPT}{IMG}{FETCH}{TEMPLATE}"
FORMULAS = ("=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-1+1", "@SUM(1,2)", "\t=1+1", "\r=1+1", "＝1+1",
            " =1+1", "\n=1+1")


def _marked(n: int) -> str:
    """The payload with a number, to tell which field a finding came from."""
    return f"{n}{PAYLOAD}"


@pytest.fixture
def world(app, orgs, make_org, make_user, make_person):
    return build_world(app, orgs, make_org, make_user, make_person)


def _fill_file(w):
    """Every free-text field of the file, through the real services, set to the payload."""
    from victimcare.employment import service as employment
    from victimcare.followups import service as followups
    from victimcare.legal import service as legal
    from victimcare.medical import service as medical
    from victimcare.people import service as people
    from victimcare.placements import service as placements
    from victimcare.referrals import service as referrals
    from victimcare.schooling import service as schooling
    for key in ("stay", "application", "visit", "assessment", "report", "legal", "school", "employment",
                "return", "followup_visit", "pending_referral"):
        w.need(key)
    person = w.person()
    cw = w.users["caseworker"]
    people.update_identity(person, {"name": _marked(1), "aliases": _marked(2), "origin_address": _marked(3),
                                    "contact": _marked(4), "rescue_place": _marked(5), "rescuing_agency": _marked(6),
                                    "police_case_number": _marked(7), "tracing_notes": _marked(8),
                                    "notes": _marked(9)}, cw, person.version)
    db.session.commit()
    people.update_dna(person, {"dna_sample_taken": True, "dna_reference": _marked(10)}, w.users["police"],
                      person.version)
    db.session.commit()
    stay = w.get(placements.Placement, "stay")
    placements.update(stay, person, {"reason": _marked(11)}, cw, stay.version)
    db.session.commit()
    from victimcare.medical.models import DisabilityAssessment, MedicalVisit
    visit = w.get(MedicalVisit, "visit")
    medical.update_visit(visit, {"visit_date": visit.visit_date, "visit_type": visit.visit_type,
                                 "diagnosis": _marked(12), "notes": _marked(13), "total_cost": Decimal("10.00"),
                                 "insurance_paid": Decimal("0.00")}, w.users["clinician"], visit.version)
    db.session.commit()
    assessment = w.get(DisabilityAssessment, "assessment")
    medical.update_assessment(assessment, {"institution": _marked(14), "notes": _marked(15)},
                              w.users["clinician"], assessment.version)
    db.session.commit()
    from victimcare.legal.models import LegalAid
    entry = w.get(LegalAid, "legal")
    legal.update(entry, {"lawyer_name": _marked(16), "details": _marked(17)}, w.users["legal_aid"], entry.version)
    db.session.commit()
    from victimcare.schooling.models import SchoolEnrolment
    entry = w.get(SchoolEnrolment, "school")
    schooling.update(entry, {"school_name": "=1+1" + _marked(18), "mentoring": _marked(19)}, w.users["education"],
                     entry.version)
    db.session.commit()
    from victimcare.employment.models import EmploymentService
    entry = w.get(EmploymentService, "employment")
    employment.update(entry, {"provider": _marked(20), "notes": _marked(21)}, w.users["employment"], entry.version)
    db.session.commit()
    from victimcare.followups.models import FollowupVisit
    visit = w.get(FollowupVisit, "followup_visit")
    followups.record_visit(visit, person, {"done_on": dt.date(2026, 3, 1), "method": "phone",
                                           "living_conditions": _marked(22), "difficulties": _marked(23)},
                           cw, visit.version)
    db.session.commit()
    referrals.refer(person, w.orgs["hospital3"], _marked(24), cw)
    db.session.commit()


def _pages(w):
    pid = w.id("person")
    caseworker = [f"/people/{pid}{s}" for s in ("", "/edit", "/history", "/placements", "/residence", "/legal",
                                                "/schooling", "/employment", "/followups", "/referrals", "/case",
                                                "/disclosures")] + \
        ["/people/", f"/people/?q={pid}", "/residence/", f"/followups/visits/{w.id('followup_visit')}",
         f"/placements/{w.id('stay')}/edit", f"/residence/applications/{w.id('application')}/edit"]
    return {"caseworker": caseworker,
            "manager": [f"/people/{pid}", f"/people/{pid}/medical", f"/people/{pid}/dna", f"/people/{pid}/history"],
            "clinician": [f"/people/{pid}/medical", f"/medical/visits/{w.id('visit')}/edit", "/reports/",
                          f"/reports/{w.id('report')}"],
            "clinician2": ["/referrals/", f"/people/{pid}"],
            "education": ["/schooling/ledger", f"/schooling/{w.id('school')}/edit"],
            "legal_aid": [f"/legal/{w.id('legal')}/edit"],
            "admin": ["/admin/users", "/admin/organisations"]}


def test_markup_is_text_in_every_page(app, world, make_org, make_user):
    _fill_file(world)
    make_user("caseworker", make_org(_marked(25), "shelter", "320102", world.orgs["bureau"]))
    shown = 0
    for role, urls in _pages(world).items():
        client, _token = client_for(app, world, role)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (role, url, response.status_code)
            html = response.text
            for raw in (SCRIPT, "<img src=x", "<img src=\"http", "<link rel=\"stylesheet\" href=\"file"):
                assert raw not in html, (role, url, raw)
            assert "{{7*7}}" not in html or "49" not in html.split("{{7*7}}")[0][-3:]
            if "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html:
                shown += 1
                assert "{{7*7}}{% if 1 %}x{% endif %}" in html, (role, url)  # a template is not run either
    assert shown >= 20, "the payload should be visible (as text) on most of these pages"


def _pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def fetched(monkeypatch):
    """Every URL the PDF renderer asks for."""
    urls = []
    original = pdf.AppOnlyFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original(self, url, headers)
    monkeypatch.setattr(pdf.AppOnlyFetcher, "fetch", spy)
    return urls


def test_markup_is_text_in_pdfs(app, world, fetched):
    _fill_file(world)
    client, token = client_for(app, world, "caseworker")
    response = client.post(f"/people/{world.id('person')}/print", data={
        "csrf_token": token, "purpose": _marked(30)[:300], "variant": "full"})
    assert response.status_code == 200 and response.mimetype == "application/pdf", response.status_code
    text = _pdf_text(response.data)
    assert SCRIPT in text and "{{7*7}}" in text and "onerror=alert(1)" in text
    assert "30<script>" in text  # the purpose, printed on every page, is text too

    police, _t = client_for(app, world, "caseworker")
    application = police.get(f"/residence/applications/{world.id('application')}.pdf")
    assert application.status_code == 200 and application.mimetype == "application/pdf"
    education, _t = client_for(app, world, "education")
    ledger = education.get("/ledgers/school.pdf")
    assert ledger.status_code == 200 and ledger.mimetype == "application/pdf", ledger.status_code
    assert "18<script>" in _pdf_text(ledger.data).replace("\n", "")

    static = app.static_folder
    assert all(u.startswith("data:") or u.startswith(f"file://{static}/") for u in fetched), fetched


def test_pdf_renderer_fetches_nothing_outside(app, fetched):
    """Markup that did reach the renderer (it cannot, escaped) would still fetch nothing: the fetcher
    refuses the network and files outside static/, and the document renders without them."""
    content = pdf.render_pdf(f"<p>x</p>{FETCH}<img src=\"file:///etc/hostname\">")
    assert content.startswith(b"%PDF")
    assert len(fetched) == 3  # asked for, and refused
    assert "root:" not in _pdf_text(content)


def _formula_like(value) -> bool:
    """Would a spreadsheet run this cell? Text starting (after spaces, in any width) with = + - @, or
    with a tab, CR or LF."""
    if not isinstance(value, str) or not value:
        return False
    if value[0] in "\t\r\n":
        return True
    head = unicodedata.normalize("NFKC", value.lstrip(" \u3000"))[:1]
    return head in ("=", "+", "-", "@")


def _no_surrogates(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _xlsx_cells(content: bytes):
    book = load_workbook(io.BytesIO(content))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            yield from row


def _assert_inert_xlsx(content: bytes, expect: str | None = None) -> None:
    seen = False
    for cell in _xlsx_cells(content):
        assert cell.data_type != "f", (cell.coordinate, cell.value)
        assert not _formula_like(cell.value), (cell.coordinate, cell.value)
        seen = seen or (expect is not None and isinstance(cell.value, str) and expect in cell.value)
    assert expect is None or seen, f"{expect!r} is not in the export"


def _formula_orgs(w, make_org, make_person, kind):
    """Organisations of ``kind`` named like formulas (names reach the exports), each with a person."""
    orgs = []
    for i, name in enumerate(FORMULAS):
        org = make_org(f"{name}·{i}", kind, "320102", w.orgs["bureau"])
        orgs.append(org)
        if kind == "shelter":
            make_person(org, by=w.users["caseworker"], rescue_date=dt.date(2026, 1, 5))
    return orgs


def test_formulas_are_defused_in_statistics_exports(app, world, make_org, make_person):
    _formula_orgs(world, make_org, make_person, "shelter")
    client, _token = client_for(app, world, "manager")
    period = "date_from=2026-01-01&date_to=2026-12-31&breakdown=organisation"
    response = client.get(f"/statistics/export.csv?{period}")
    assert response.status_code == 200, response.status_code
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    cells = [c for row in rows for c in row]
    assert any("HYPERLINK" in c for c in cells)
    assert not [c for c in cells if _formula_like(c)]
    response = client.get(f"/statistics/export.xlsx?{period}")
    assert response.status_code == 200, response.status_code
    _assert_inert_xlsx(response.data, expect="HYPERLINK")


def test_formulas_are_defused_in_ledger_exports(app, world, make_org, make_user):
    from victimcare.medical import service as medical
    from victimcare.referrals import service as referrals
    _fill_file(world)  # the school name starts with "=1+1"
    hospital = make_org("=HYPERLINK(\"http://evil\")\x01\x0b", "hospital", "320102", world.orgs["bureau"])
    clinician = make_user("clinician", hospital)
    referral = referrals.refer(world.person(), hospital, "p", world.users["caseworker"])
    referrals.accept(referral, clinician)
    medical.add_visit(world.person(), {"visit_date": dt.date(2026, 2, 3), "visit_type": "basic_medical",
                                       "diagnosis": None, "notes": None, "total_cost": Decimal("1.00"),
                                       "insurance_paid": Decimal("0.00")}, clinician)
    db.session.commit()
    manager, _t = client_for(app, world, "manager")
    response = manager.get("/ledgers/medical.xlsx?date_from=2026-01-01&date_to=2026-12-31")
    assert response.status_code == 200, response.status_code
    _assert_inert_xlsx(response.data, expect="HYPERLINK")
    education, _t = client_for(app, world, "education")
    response = education.get("/ledgers/school.xlsx")
    assert response.status_code == 200, response.status_code
    _assert_inert_xlsx(response.data, expect="=1+1")


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(any_text(30), st.sampled_from(FORMULAS)), min_size=1, max_size=6)
       .map(lambda values: [_no_surrogates(v) for v in values]))
def test_any_text_exports_inert(app, values):
    """Whatever text reaches an export: CSV and XLSX are written, and no cell is a formula. (Lone
    surrogates never reach one: Werkzeug leaves undecodable escapes as they are, and neither
    database driver would store them.)"""
    assert not any(_formula_like(safe_text(v)) for v in values)
    rows = list(csv.reader(io.StringIO(to_csv(["h"], [values]).decode("utf-8-sig"), newline="")))
    assert not any(_formula_like(c) for row in rows for c in row)
    _assert_inert_xlsx(to_xlsx({"s": (["h"], [values])}))
