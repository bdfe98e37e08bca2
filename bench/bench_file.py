"""A person's file page with every section and ~50 entries, among 100,000 people.

    .venv/bin/python bench/bench_file.py [--people 100000] [--entries 50] [--db sqlite|postgresql] [--repeats 50]

Builds a fresh migrated database, loads the demo (36 people with entries in every section, written
through the real services), adds --people more people (as in bench_identity.py), then gives one demo
person with an active hospital referral enough medical visits to reach --entries entries across the
sections. Times GET /people/<id> (the file page: identity plus a card per readable section) as the
manager, who reads every section, and as the caseworker. The target is a median under 50 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from sqlalchemy import func, select  # noqa: E402

from bench_identity import populate, timed  # noqa: E402
from harness import bench_database, migrated_app, sign_in  # noqa: E402
from victimcare.extensions import db  # noqa: E402


def entry_models():
    from victimcare.entries import EntryMixin
    return [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, EntryMixin)]


def entries_of(person_id: str) -> int:
    return sum(db.session.scalar(select(func.count()).select_from(model).where(model.person_id == person_id))
               for model in entry_models())


def richest_treated_person():
    from victimcare.auth.models import Organisation
    from victimcare.referrals.models import Referral
    rows = db.session.execute(select(Referral.person_id).join(Organisation, Referral.organisation_id == Organisation.id)
                              .where(Referral.status == "active", Organisation.kind == "hospital")).scalars().all()
    return max(rows, key=entries_of)


def add_visits(person_id: str, wanted: int) -> int:
    from victimcare.auth.models import User
    from victimcare.medical import service as medical
    from victimcare.people.models import Person
    person = db.session.get(Person, person_id)
    clinician = db.session.scalar(select(User).where(User.username == "clinician"))
    day = dt.date.today() - dt.timedelta(days=wanted)
    while entries_of(person_id) < wanted:
        medical.add_visit(person, {"visit_date": day, "visit_type": "basic_medical", "diagnosis": "复诊（基准测试）",
                                   "notes": "基准测试数据", "total_cost": Decimal("320.50"),
                                   "insurance_paid": Decimal("200.00")}, clinician)
        db.session.flush()
        day += dt.timedelta(days=1)
    db.session.commit()
    return entries_of(person_id)


def run(n: int, wanted: int, url: str, folder: str, repeats: int) -> None:
    import random

    from victimcare.auth.models import Organisation
    from victimcare.demo import load_demo

    instance = os.path.join(folder, "instance")
    app = migrated_app(url, folder)
    with app.app_context():
        load_demo(echo=lambda *a: None)
        shelters = db.session.scalars(select(Organisation).where(Organisation.kind == "shelter")).all()
        populate(n, [(s.id, s.region_code) for s in shelters], None, random.Random(7))
        person_id = richest_treated_person()
        total = add_visits(person_id, wanted)
        db.session.remove()  # ends its transaction: on SQLite every transaction holds the write lock
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        people = db.session.scalar(select(func.count()).select_from(db.Model.metadata.tables["person"]))
        print(f"{db.engine.dialect.name}: {people:,} people; the file measured has {total} entries")
        db.session.remove()
    passwords = dict(line.split("\t") for line in open(os.path.join(instance, "demo-credentials.txt"),
                                                       encoding="utf-8").read().splitlines()
                     if line and not line.startswith("#"))
    print(f"\n{'GET /people/<id> as':<22}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'cards':>7}")
    for role in ("manager", "caseworker"):
        client = sign_in(app, role, passwords[role])

        def page(client=client):
            reply = client.get(f"/people/{person_id}")
            assert reply.status_code == 200, reply.status_code
            return reply
        cards = page().text.count('<section class="card')
        times = timed(page, repeats)
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
        print(f"{role:<22}{statistics.median(times):>10.1f}{p95:>9.1f}{max(times):>9.1f}{cards:>7}")
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    with bench_database(args.db) as (url, folder):
        run(args.people, args.entries, url, folder, args.repeats)


if __name__ == "__main__":
    main()
