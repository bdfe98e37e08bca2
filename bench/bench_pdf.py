"""The cost of the app's path to a PDF case summary against bare WeasyPrint on the same HTML.

    .venv/bin/python bench/bench_pdf.py [--pages 5] [--repeats 15]

Builds a fresh migrated SQLite database with the demo, gives the richest demo person with a hospital
referral medical visits until the manager's full summary is about --pages pages, then times
(1) POST /people/<id>/print as the manager (form, access checks, loading and decrypting every section,
    template, WeasyPrint with the restricted fetcher, audit row, commit), and
(2) weasyprint.HTML(string=same_html).write_pdf(): the floor.
Target: the app path within 1.3x of the floor. Writes the PDF and a PNG of page 2 to the temp folder.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_file import add_visits, richest_treated_person  # noqa: E402
from bench_identity import timed  # noqa: E402
from harness import migrated_app, sign_in  # noqa: E402
from victimcare.extensions import db  # noqa: E402


def page_count(data: bytes) -> int:
    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(data)).pages)


def run(wanted_pages: int, repeats: int, folder: str) -> None:
    from weasyprint import HTML

    from victimcare.auth.models import User
    from victimcare.demo import load_demo
    from victimcare.people.models import Person
    from victimcare.reports import summary

    instance = os.path.join(folder, "instance")
    app = migrated_app("sqlite:///" + os.path.join(folder, "bench.db"), folder)
    with app.app_context():
        load_demo(echo=lambda *a: None)
        person_id = richest_treated_person()
        db.session.remove()
    passwords = dict(line.split("\t") for line in open(os.path.join(instance, "demo-credentials.txt"),
                                                       encoding="utf-8").read().splitlines()
                     if line and not line.startswith("#"))
    client = sign_in(app, "manager", passwords["manager"])
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(f"/people/{person_id}/print").text).group(1)
    form = {"csrf_token": token, "purpose": "个案会议（基准测试）", "variant": "full", "recipient_name": "",
            "basis": "", "consent_given_by": "", "consent_given_on": "", "legal_basis": ""}

    def app_path():
        reply = client.post(f"/people/{person_id}/print", data=form)
        assert reply.status_code == 200 and reply.mimetype == "application/pdf", reply.status_code
        return reply.data

    entries = 0
    while page_count(app_path()) < wanted_pages:  # grow the file until the summary is the size wanted
        with app.app_context():
            entries = add_visits(person_id, entries + 8)
            db.session.remove()
    data = app_path()
    with app.test_request_context():
        manager = db.session.scalar(db.select(User).where(User.username == "manager"))
        html, _sections = summary.summary_html(db.session.get(Person, person_id), manager, variant="full",
                                               purpose=form["purpose"])
        db.session.remove()

    def floor():
        return HTML(string=html).write_pdf()

    app_times, floor_times = timed(app_path, repeats), timed(floor, repeats)
    app_ms, floor_ms = statistics.median(app_times), statistics.median(floor_times)
    print(f"summary: {page_count(data)} pages, {entries} file entries, {len(html):,} characters of HTML")
    print(f"{'':<44}{'median ms':>10}{'min ms':>9}")
    print(f"{'app: POST /people/<id>/print (manager)':<44}{app_ms:>10.1f}{min(app_times):>9.1f}")
    print(f"{'floor: HTML(string=html).write_pdf()':<44}{floor_ms:>10.1f}{min(floor_times):>9.1f}")
    print(f"ratio app / floor: {app_ms / floor_ms:.2f}x (target within 1.3x)")
    out = os.path.join(folder, "summary.pdf")
    with open(out, "wb") as fh:
        fh.write(data)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "2", "-l", "2", out, os.path.join(folder, "page")],
                       check=False)
    print(f"PDF and a PNG of page 2 in {folder}")
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="victimcare-bench-pdf-")
    run(args.pages, args.repeats, folder)


if __name__ == "__main__":
    main()
