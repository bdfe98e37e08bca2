"""Identity-section search and caseload latency at scale.

    .venv/bin/python bench/bench_identity.py [--people 100000] [--db sqlite|postgresql] [--explain]

Builds a fresh migrated database and keyring in a temporary folder, fills it with N people
(encrypted name, ID number, date of birth) spread over three shelters under one bureau, then
times, as a bureau-level caseworker, exact search by ID number, search by name and the first
caseload page: through HTTP (Flask test client, logged in) and at the service layer.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import select, text  # noqa: E402

from harness import bench_database, make_app, migrated_app  # noqa: E402,F401 (others import make_app here)
from victimcare.crypto import new_row_id  # noqa: E402
from victimcare.extensions import db  # noqa: E402

PASSWORD = "correct horse battery staple"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文红玉梅兵飞鹏辉玲婷雪琳晨浩宇轩子涵欣怡佳"
SHELTERS = (("甲救助站", "320102"), ("乙救助站", "320104"), ("丙救助站", "320105"))


def id_number(region: str, born: dt.date, rng: random.Random) -> str:
    from victimcare.people.rules import id_check_digit
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_digit(first17)


def populate(n: int, shelters: list[tuple[int, str]], user_id: int, rng: random.Random, batch: int = 5000) -> dict:
    """Insert n people directly as Person objects (no form, no audit rows); returns samples."""
    from victimcare.people.models import Person
    from victimcare.people.rules import format_case_number
    seen_ids, counters, samples = set(), {}, {"id_numbers": [], "names": []}
    start = dt.datetime(2021, 1, 1)
    for i in range(n):
        org_id, region = shelters[i % len(shelters)]
        created = start + dt.timedelta(minutes=i * 25 + rng.randrange(25))  # about 5 years of intake
        born = dt.date(rng.randrange(1940, 2020), rng.randrange(1, 13), rng.randrange(1, 29))
        seq = counters[region, created.year] = counters.get((region, created.year), 0) + 1
        person = Person(id=new_row_id(), organisation_id=org_id, status="open", created_by_id=user_id,
                        created_at=created, updated_at=created, sex=rng.choice(("female", "male")),
                        case_number=format_case_number(region, created.year, seq),
                        rescue_date=created.date(), birth_year=born.year, birth_date_estimated=False,
                        tracing_result="not_started", identity_status="unidentified")
        if rng.random() < 0.9:  # most people give a name
            person.name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        if rng.random() < 0.6:  # identity established for most: ID number and exact date of birth
            number = id_number(region, born, rng)
            while number in seen_ids:
                number = id_number(region, born, rng)
            seen_ids.add(number)
            person.id_number, person.date_of_birth, person.identity_status = number, born, "identified"
        else:
            person.birth_date_estimated = True
        if rng.random() < 0.4:  # a police case number when the police brought them in
            person.police_case_number = f"J{region}{created.year}{i:07d}"
        db.session.add(person)
        if i % 997 == 0:
            if person.id_number:
                samples["id_numbers"].append(person.id_number)
            if person.name:
                samples["names"].append(person.name)
        if (i + 1) % batch == 0:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    db.session.expunge_all()
    return samples


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: template compilation, statement cache
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        times.append((time.perf_counter() - begin) * 1000)
    return times


def explain(query) -> None:
    """Print the plan of the count and of the page query the caseload runs."""
    from sqlalchemy import func
    from victimcare.people.models import Person
    dialect = db.engine.dialect
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    count = select(func.count()).select_from(query.order_by(None).subquery())
    page = query.order_by(Person.created_at.desc(), Person.id).limit(25)
    for label, stmt in (("count", count), ("page", page)):
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        print(f"    -- {label}")
        for row in db.session.execute(text(prefix + sql)):
            print("      ", " | ".join(str(c) for c in row))


def run(n: int, url: str, folder: str, repeats: int, show_plans: bool) -> None:
    from victimcare.auth.models import User
    from victimcare.auth.service import create_organisation, create_user
    from victimcare.people import service

    app = migrated_app(url, folder)  # migrated, then a fresh start against that schema, as in production
    rng = random.Random(20260101)
    with app.app_context():
        bureau = create_organisation("测试市民政局", "bureau", "320100", None)
        shelters = [create_organisation(name, "shelter", region, bureau) for name, region in SHELTERS]
        user = create_user("bench", "Bench Caseworker", "caseworker", bureau, PASSWORD)
        db.session.commit()
        begin = time.perf_counter()
        samples = populate(n, [(s.id, s.region_code) for s in shelters], user.id, rng)
        elapsed = time.perf_counter() - begin
        print(f"{db.engine.dialect.name}: created {n:,} people in {elapsed:.1f} s "
              f"({n / elapsed:,.0f} people/s)")
        with db.engine.begin() as conn:  # planner statistics, as a maintained database has them
            conn.exec_driver_sql("ANALYZE")

    wanted_id = samples["id_numbers"][len(samples["id_numbers"]) // 2]
    wanted_name = samples["names"][len(samples["names"]) // 2]
    cases = {"search by ID number": wanted_id, "search by name": wanted_name, "caseload page 1": None}
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD})
    assert response.status_code == 302, response.text

    rows = []
    for label, q in cases.items():
        def http(q=q):
            reply = client.get("/people/", query_string={"q": q} if q else None)
            assert reply.status_code == 200, reply.status_code
            return reply
        count = re.search(r'class="count">([^<]*)<', http().text).group(1)
        rows.append((label, "HTTP", count, timed(http, repeats)))

    with app.app_context():
        for label, q in cases.items():
            filters = {"q": q} if q else {}

            def layer(filters=filters):
                db.session.remove()  # a fresh session per call, as per request
                caseworker = db.session.scalars(select(User).filter_by(username="bench")).one()
                people, total = service.page_of(service.caseload_query(caseworker, filters), 1, 25)
                return total, [p.name for p in people]  # decrypt names as the list page does
            total = layer()[0]
            rows.append((label, "service", f"{total} result(s)", timed(layer, repeats)))
            if show_plans:
                print(f"  plan for {label}:")
                caseworker = db.session.scalars(select(User).filter_by(username="bench")).one()
                explain(service.caseload_query(caseworker, filters))
        db.session.remove()
        db.engine.dispose()

    print(f"\n{'query':<22}{'layer':<9}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}   results")
    for label, layer, count, times in rows:
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
        print(f"{label:<22}{layer:<9}{statistics.median(times):>10.1f}{p95:>9.1f}{max(times):>9.1f}   {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print query plans of the service queries")
    args = parser.parse_args()
    with bench_database(args.db) as (url, folder):
        run(args.people, url, folder, args.repeats, args.explain)


if __name__ == "__main__":
    main()
