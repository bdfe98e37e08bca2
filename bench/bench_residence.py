"""Residence registration list latency for a bureau with many people in scope.

    .venv/bin/python bench/bench_residence.py [--people 10000] [--db sqlite|postgresql] [--repeats 30]

Builds a fresh migrated database (people as in bench_identity.py), gives every person one to three
stays over the last year (transfers on the same day, the next day, or after a gap; some family
placements; about a third discharged), drafts or submits an application for some, then times,
as the bureau's caseworker, GET /residence/ (HTTP, logged in), the service's residence_rows(), and
the home-page figure residence_due_count(). The target is under 200 ms for 10,000 people.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from sqlalchemy import func, select  # noqa: E402

from bench_identity import PASSWORD, SHELTERS, populate, timed  # noqa: E402
from harness import bench_database, migrated_app  # noqa: E402
from victimcare.crypto import new_row_id  # noqa: E402
from victimcare.extensions import db  # noqa: E402


def add_stays(rng: random.Random, today: dt.date, batch: int = 5000) -> int:
    from victimcare.people.models import Person
    from victimcare.placements.models import Placement, ResidenceApplication
    from victimcare.placements.rules import residence_due_date
    count = 0
    people = db.session.execute(select(Person.id, Person.organisation_id, Person.sex)).all()
    for i, (person_id, org_id, sex) in enumerate(people):
        admitted = today - dt.timedelta(days=rng.randrange(1, 365))
        start = admitted
        for n in range(rng.choice((1, 1, 2, 3))):
            kind = rng.choice(("temporary_assistance", "temporary_assistance", "transit_rehabilitation",
                               "child_welfare", "family_foster"))
            length = rng.randrange(5, 200)
            discharged = admitted + dt.timedelta(days=length)
            last = discharged >= today or rng.random() < 0.3
            stay = Placement(id=new_row_id(), person_id=person_id, organisation_id=org_id, placement_type=kind,
                             household_relation="foster_family" if kind == "family_foster" else "none",
                             admitted_on=admitted, discharged_on=None if last and rng.random() < 0.7 else
                             min(discharged, today))
            db.session.add(stay)
            count += 1
            if last or stay.discharged_on is None:
                break
            admitted = stay.discharged_on + dt.timedelta(days=rng.choice((0, 0, 1, 3)))
            if admitted > today:
                break
        if rng.random() < 0.1:
            status = rng.choice(("drafted", "submitted", "registered"))
            application = ResidenceApplication(
                id=new_row_id(), person_id=person_id, status=status, stay_started=start,
                due_on=residence_due_date(start), drafted_on=today, sex=sex, identity_status="unidentified")
            application.name = "某某"
            db.session.add(application)
        if (i + 1) % batch == 0:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    db.session.expunge_all()
    return count


def run(n: int, url: str, folder: str, repeats: int) -> None:
    from victimcare.auth.models import User
    from victimcare.auth.service import create_organisation, create_user
    from victimcare.placements import residence

    app = migrated_app(url, folder)
    rng = random.Random(20261125)
    with app.app_context():
        bureau = create_organisation("测试市民政局", "bureau", "320100", None)
        shelters = [create_organisation(name, "shelter", region, bureau) for name, region in SHELTERS]
        create_user("bench", "Bench Caseworker", "caseworker", bureau, PASSWORD)
        db.session.commit()
        populate(n, [(s.id, s.region_code) for s in shelters], None, rng)
        stays = add_stays(rng, dt.date.today())
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        from victimcare.placements.models import ResidenceApplication
        apps = db.session.scalar(select(func.count()).select_from(ResidenceApplication))
        print(f"{db.engine.dialect.name}: {n:,} people, {stays:,} stays, {apps:,} applications")

    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "bench",
                                       "password": PASSWORD}).status_code == 302

    def http():
        reply = client.get("/residence/")
        assert reply.status_code == 200, reply.status_code
        return reply
    results = [("GET /residence/", "HTTP", timed(http, repeats))]
    with app.app_context():
        def layer():
            db.session.remove()
            user = db.session.scalars(select(User).filter_by(username="bench")).one()
            return residence.residence_rows(user)
        rows = layer()
        counts = residence.counts(rows)
        results.append(("residence_rows()", "service", timed(layer, repeats)))

        def due_count():
            db.session.remove()
            user = db.session.scalars(select(User).filter_by(username="bench")).one()
            return residence.residence_due_count(user)
        results.append(("residence_due_count()", "service", timed(due_count, repeats)))
        db.session.remove()
        db.engine.dispose()
    print(f"on the list: {len(rows):,} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"\n{'what':<24}{'layer':<9}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}")
    for label, layer_name, times in results:
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
        print(f"{label:<24}{layer_name:<9}{statistics.median(times):>10.1f}{p95:>9.1f}{max(times):>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with bench_database(args.db) as (url, folder):
        run(args.people, url, folder, args.repeats)


if __name__ == "__main__":
    main()
