"""The manager's page of possible duplicates (people/duplicate_review.py) on a large caseload.

    .venv/bin/python bench/bench_duplicate_pairs.py [--people 5000] [--db sqlite|postgresql] [--repeats 20]

Builds the database bench_names.py builds (realistic names, homophones, aliases, ID numbers, dates of
birth, places of origin, two bureaus), signs nobody in: asks as a manager of the larger bureau for the
first page of unanswered pairs (the count and 25 pairs, names decrypted as the page does) and for the
reasons of one pair (what answering a pair checks). Prints median, p95 and max in milliseconds.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_names import PASSWORD, build  # noqa: E402
from harness import bench_database, migrated_app, summary  # noqa: E402

from sqlalchemy import select  # noqa: E402

from victimcare.extensions import db  # noqa: E402


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        begin = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - begin) * 1000)
        db.session.rollback()
    return times, result


def run(n: int, kind: str, repeats: int, planted: int) -> None:
    from victimcare.auth.models import Organisation
    from victimcare.auth.service import create_user
    from victimcare.people import duplicate_review as review

    with bench_database(kind) as (url, folder):
        app = migrated_app(url, folder)
        samples, elapsed = build(app, n, random.Random(20261125))
        with app.app_context():
            bureau = db.session.scalars(select(Organisation).where(Organisation.parent_id.is_(None))
                                        .order_by(Organisation.id)).first()
            manager = create_user("bench_manager", "Bench Manager", "manager", bureau, PASSWORD)
            _plant(samples["people"], bureau, manager, planted)
            db.session.commit()
            times, (pairs, total) = timed(lambda: _first_page(review, manager), repeats)
            print(f"{kind}, {n} people (built in {elapsed:.0f} s): {total} pairs in the manager's scope")
            print("  first page (count + 25 pairs, names): median %.1f ms, p95 %.1f ms, max %.1f ms" % summary(times))
            if pairs:
                a, b = pairs[0].a.id, pairs[0].b.id
                times, _ = timed(lambda: review.reasons_for(manager, a, b), repeats)
                print("  one pair's reasons: median %.1f ms, p95 %.1f ms, max %.1f ms" % summary(times))


def _plant(samples: list[dict], bureau, user, count: int) -> None:
    """``count`` files registered again under the same name and date of birth (or birth year and
    county): the pairs the page must find."""
    from victimcare.people.service import register_person
    for sample in samples[:count]:
        register_person({"name": sample["name"], "sex": "female", "date_of_birth": sample["date_of_birth"],
                         "estimated_age": None if sample["date_of_birth"] else 2026 - sample["birth_year"],
                         "origin_code": sample["origin_code"], "identity_status": "unidentified",
                         "tracing_result": "not_started"}, bureau, user)


def _first_page(review, manager):
    pairs, total = review.page(manager, "open", 1, 25)
    for pair in pairs:
        _ = pair.a.name, pair.b.name
    return pairs, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--planted", type=int, default=50, help="files registered twice")
    args = parser.parse_args()
    run(args.people, args.db, args.repeats, args.planted)


if __name__ == "__main__":
    main()
