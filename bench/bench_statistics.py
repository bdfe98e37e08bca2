"""Statistics page latency for a bureau with many people in scope.

    .venv/bin/python bench/bench_statistics.py [--people 10000] [--db sqlite|postgresql] [--repeats 20]

Builds a fresh migrated database (people as in bench_identity.py, stays as in bench_residence.py),
adds returns with their follow-up visits, medical visits, training and legal-aid entries and some
closures for part of the people, then times, as the bureau's manager, GET /statistics/ (HTTP, logged
in, this year, each breakdown), statistics.compute(), and the XLSX export.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from sqlalchemy import select, update  # noqa: E402

from bench_identity import PASSWORD, SHELTERS, populate, timed  # noqa: E402
from harness import bench_database, migrated_app, sign_in  # noqa: E402
from bench_residence import add_stays  # noqa: E402
from victimcare.crypto import new_row_id  # noqa: E402
from victimcare.extensions import db  # noqa: E402

ORIGINS = ("510104", "440300", "320102", "530102", "450103", "420106", "110101", None)


def add_services(rng: random.Random, today: dt.date, offices: dict, batch: int = 5000) -> dict:
    from victimcare.employment.models import EmploymentService
    from victimcare.followups.models import CaseStatusChange, FollowupVisit, PersonReturn
    from victimcare.followups.rules import add_months
    from victimcare.legal.models import LegalAid
    from victimcare.medical.models import MedicalVisit
    from victimcare.people.models import Person
    counts = dict.fromkeys(("returns", "medical", "training", "legal", "closed"), 0)
    people = db.session.execute(select(Person.id)).scalars().all()
    for i, person_id in enumerate(people):
        db.session.execute(update(Person).where(Person.id == person_id).values(
            origin_code=rng.choice(ORIGINS), rescue_date=today - dt.timedelta(days=rng.randrange(0, 900))))
        day = today - dt.timedelta(days=rng.randrange(0, 400))
        if rng.random() < 0.3:
            db.session.add(MedicalVisit(id=new_row_id(), person_id=person_id, organisation_id=offices["hospital"],
                                        visit_date=day, visit_type=rng.choice(("basic_medical",
                                                                               "psychological_counselling")),
                                        total_cost=Decimal("100.00"), insurance_paid=Decimal("60.00"),
                                        self_pay=Decimal("40.00")))
            counts["medical"] += 1
        if rng.random() < 0.2:
            db.session.add(EmploymentService(id=new_row_id(), person_id=person_id, office_id=offices["employment"],
                                             kind="vocational_training", place="local", start_date=day,
                                             outcome="ongoing"))
            counts["training"] += 1
        if rng.random() < 0.1:
            db.session.add(LegalAid(id=new_row_id(), person_id=person_id, office_id=offices["legal"],
                                    agency_id=offices["legal"], application_date=day, matter="compensation",
                                    status=rng.choice(("applied", "accepted", "concluded"))))
            counts["legal"] += 1
        if rng.random() < 0.15:
            ret_id = new_row_id()
            db.session.add(PersonReturn(id=ret_id, person_id=person_id, kind="family", return_date=day))
            for months in (1, 3, 6, 12):
                due = add_months(day, months)
                db.session.add(FollowupVisit(id=new_row_id(), person_id=person_id, return_id=ret_id, months=months,
                                             due_date=due, done_on=due if rng.random() < 0.6 and due < today
                                             else None))
            counts["returns"] += 1
            if rng.random() < 0.3:
                db.session.add(CaseStatusChange(id=new_row_id(), person_id=person_id, action="close"))
                db.session.execute(update(Person).where(Person.id == person_id).values(status="closed"))
                counts["closed"] += 1
        if (i + 1) % batch == 0:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    db.session.expunge_all()
    return counts


def run(n: int, url: str, folder: str, repeats: int) -> None:
    from victimcare.auth.models import User
    from victimcare.auth.service import create_organisation, create_user
    from victimcare.reports import statistics as st

    app = migrated_app(url, folder)
    rng = random.Random(20261125)
    today = dt.date.today()
    with app.app_context():
        bureau = create_organisation("测试市民政局", "bureau", "320100", None)
        shelters = [create_organisation(name, "shelter", region, bureau) for name, region in SHELTERS]
        offices = {"hospital": create_organisation("指定医院", "hospital", "320102", bureau).id,
                   "employment": create_organisation("就业服务中心", "employment_office", "320102", bureau).id,
                   "legal": create_organisation("法律援助中心", "legal_aid", "320102", bureau).id}
        create_user("bench", "Bench Manager", "manager", bureau, PASSWORD)
        db.session.commit()
        populate(n, [(s.id, s.region_code) for s in shelters], None, rng)
        stays = add_stays(rng, today)
        counts = add_services(rng, today, offices)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"{db.engine.dialect.name}: {n:,} people, {stays:,} stays, "
              + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

    client = sign_in(app, "bench", PASSWORD)

    results = []
    for dimension in st.DIMENSIONS:
        def http(dimension=dimension):
            reply = client.get(f"/statistics/?breakdown={dimension}")
            assert reply.status_code == 200, reply.status_code
            return reply
        results.append((f"GET /statistics/ {dimension}", "HTTP", timed(http, repeats)))

    def export():
        reply = client.get("/statistics/export.xlsx")
        assert reply.status_code == 200, reply.status_code
    results.append(("GET export.xlsx", "HTTP", timed(export, max(3, repeats // 4))))
    with app.app_context():
        def layer():
            db.session.remove()
            user = db.session.scalars(select(User).filter_by(username="bench")).one()
            return st.compute(user, st.this_year(today), today)
        stats = layer()
        results.append(("statistics.compute()", "service", timed(layer, repeats)))
        db.session.remove()
        db.engine.dispose()
    print("totals: " + ", ".join(f"{k} {stats.totals[k]}" for k in stats.figures))
    print(f"cells (distinct organisation x origin x sex x birth year): {len(stats.cells):,}")
    print(f"\n{'what':<34}{'layer':<9}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}")
    for label, layer_name, times in results:
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
        print(f"{label:<34}{layer_name:<9}{statistics.median(times):>10.1f}{p95:>9.1f}{max(times):>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with bench_database(args.db) as (url, folder):
        run(args.people, url, folder, args.repeats)


if __name__ == "__main__":
    main()
