"""Name search by sound, exact ID search and the duplicate check among a million people.

    .venv/bin/python bench/bench_names.py [--people 1000000] [--db sqlite|postgresql] [--repeats 200] [--explain]
                                          [--police-share 0.4]

Builds a fresh migrated database (bench/harness.py) and bulk-inserts --people people with
realistic Chinese names (surnames by frequency, homophone and polyphonic surnames, compound
surnames, some traditional spellings; aliases for some), ID numbers, birth dates and places of
origin from victimcare/regions, spread over two bureaus' shelters (the caseworker's bureau holds 70%).
Values are encrypted and indexed with the app's own functions (the ``Encrypted`` descriptors of
Person and PersonAlias, ``names.index.index_rows`` for the sound keys), inserted with Core
executemany; sound keys are computed once per distinct name.

Then, as a caseworker of the larger bureau, times each kind of search box entry through
``service.caseload_page`` (the count and the first page, best matches first, as the caseload shows
them; names decrypted as the list page does), and the registration duplicate check
``duplicates.possible_duplicates``: median and p95 over --repeats different entries each. Goal: a
median under 20 ms each on SQLite. --explain prints the plan of every query one entry of each kind runs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import analyze, bench_database, migrated_app, summary  # noqa: E402

from sqlalchemy import func, insert, select, text  # noqa: E402

from victimcare.crypto import new_row_id  # noqa: E402
from victimcare.extensions import db  # noqa: E402

PASSWORD = "correct horse battery staple"

# Surnames with their share of the population in per mille (order of the 2020 national ranking),
# plus homophones of common ones (章/张, 柳/刘, 黎/李, 汪/王, 阳/杨, 伍/武/吴), polyphonic surnames
# read differently as surnames (单 shan, 曾 zeng, 解 xie, 仇 qiu, 区 ou, 查 zha, 朴 piao, 盖 ge, 乐 yue,
# 覃 qin, 缪 miao, 翟 zhai, 尉 yu) and compound surnames.
SURNAMES = {
    "王": 71, "李": 70, "张": 67, "刘": 51, "陈": 46, "杨": 32, "黄": 24, "赵": 20, "吴": 20, "周": 19,
    "徐": 14, "孙": 14, "马": 13, "朱": 13, "胡": 12, "郭": 11, "何": 11, "林": 10, "高": 10, "罗": 9,
    "郑": 9, "梁": 8, "谢": 8, "宋": 7, "唐": 7, "许": 6, "韩": 6, "冯": 6, "邓": 6, "曹": 6, "彭": 5,
    "曾": 5, "肖": 5, "田": 5, "董": 5, "袁": 4, "潘": 4, "于": 4, "蒋": 4, "蔡": 4, "余": 4, "杜": 4,
    "叶": 4, "程": 4, "苏": 4, "魏": 3, "吕": 3, "丁": 3, "任": 3, "沈": 3, "姚": 3, "卢": 3, "姜": 3,
    "崔": 3, "钟": 3, "谭": 2, "陆": 2, "汪": 2, "范": 2, "金": 2, "石": 2, "廖": 2, "贾": 2, "夏": 2,
    "韦": 2, "付": 2, "方": 2, "白": 2, "邹": 2, "孟": 2, "熊": 1.5, "秦": 1.4, "邱": 1.4, "江": 1.4,
    "尹": 1.3, "薛": 1.3, "闫": 1.2, "段": 1.2, "雷": 1.2, "侯": 1.1, "龙": 1.1, "史": 1.1, "陶": 1,
    "黎": 1, "贺": 1, "顾": 0.9, "毛": 0.9, "郝": 0.9, "龚": 0.8, "邵": 0.8, "万": 0.8, "钱": 0.8,
    "覃": 0.7, "武": 0.7, "戴": 0.7, "孔": 0.6, "汤": 0.6, "庞": 0.6, "樊": 0.6, "兰": 0.5, "殷": 0.5,
    "施": 0.5, "章": 0.5, "柳": 0.4, "伍": 0.4, "阳": 0.2, "单": 0.3, "解": 0.2, "仇": 0.2, "区": 0.1,
    "查": 0.2, "朴": 0.1, "盖": 0.1, "乐": 0.1, "缪": 0.2, "翟": 0.3, "尉": 0.05,
    "欧阳": 0.2, "司马": 0.05, "诸葛": 0.03, "上官": 0.03,
}
# Characters of given names, weighted; homophone groups (丽莉俐立力, 静晶敬, 娜纳, 芳方, 燕艳雁) and
# polyphonic characters (乐, 长, 朝, 重, 行, 和) included.
GIVEN = {
    "丽": 30, "莉": 12, "俐": 3, "立": 6, "力": 5, "娜": 15, "纳": 2, "芳": 20, "敏": 15, "静": 15,
    "晶": 6, "敬": 2, "婷": 12, "霞": 12, "燕": 12, "艳": 12, "雁": 3, "秀": 12, "英": 14, "梅": 10,
    "玲": 10, "琳": 8, "红": 10, "华": 10, "兰": 8, "云": 8, "雪": 8, "春": 6, "桂": 6, "凤": 6,
    "洁": 6, "慧": 6, "颖": 5, "倩": 5, "娟": 8, "萍": 8, "翠": 4, "杰": 6, "磊": 5, "伟": 8, "强": 6,
    "军": 5, "勇": 4, "涛": 4, "明": 6, "超": 4, "平": 5, "刚": 3, "宇": 4, "浩": 4, "欣": 6, "怡": 5,
    "佳": 6, "子": 6, "涵": 4, "晨": 4, "月": 5, "美": 5, "小": 4, "丹": 5, "乐": 3, "长": 2, "朝": 2,
    "重": 1, "行": 1, "和": 2, "思": 4, "雨": 5, "婉": 3, "琴": 4, "花": 4, "珍": 4, "巧": 3, "彩": 3,
}
TRADITIONAL = str.maketrans("张刘陈杨黄赵吴周马郭罗郑梁谢丽华兰云凤红静晶洁颖倩娟伟军涛欣乐长",
                            "張劉陳楊黃趙吳周馬郭羅鄭梁謝麗華蘭雲鳳紅靜晶潔穎倩娟偉軍濤欣樂長")
TRANSLITERATED = ("阿依古丽·买买提", "古丽娜尔·艾力", "卓玛", "央金拉姆", "阿尔达克·努尔兰", "莎仁高娃")
NICKNAME_PREFIX = ("小", "阿")
# The caseworker's bureau (three shelters, 70% of the people) and a neighbouring bureau.
BUREAUS = (("测试市民政局", "320100", (("甲救助站", "320102"), ("乙救助站", "320104"), ("丙救助站", "320105"))),
           ("邻市民政局", "320200", (("丁救助站", "320205"), ("戊救助站", "320206"))))
BUREAU_SHARE = (0.7, 0.3)
PAGE_SIZE = 25


class Names:
    """A seeded source of realistic names; the same seed gives the same million people."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.surnames, self.surname_weights = list(SURNAMES), list(SURNAMES.values())
        self.given, self.given_weights = list(GIVEN), list(GIVEN.values())

    def surname(self) -> str:
        return self.rng.choices(self.surnames, self.surname_weights)[0]

    def given_name(self) -> str:
        return "".join(self.rng.choices(self.given, self.given_weights, k=self.rng.choice((1, 2, 2, 2))))

    def name(self) -> str:
        roll = self.rng.random()
        if roll < 0.005:
            return self.rng.choice(TRANSLITERATED)
        name = self.surname() + self.given_name()
        return name.translate(TRADITIONAL) if roll < 0.025 else name

    def alias(self, name: str) -> str:
        """Another name she is known by: a nickname, her given name under another family name, or another name."""
        roll, given = self.rng.random(), name[-1]
        if roll < 0.4:
            return self.rng.choice(NICKNAME_PREFIX) + given
        if roll < 0.6:
            return self.surname() + name[1:]  # the buyer's family name
        return self.surname() + self.given_name()


def _encrypted(model, field_name: str, row_id: str, value) -> dict:
    """The stored columns (ciphertext, blind index) of one value, computed by the model's own
    ``Encrypted`` descriptor, as saving the object would."""
    class Row:
        __tablename__ = model.__tablename__
        id = row_id
    row = Row()
    field = model.__dict__[field_name]
    field.__set__(row, value)
    out = {field.column: getattr(row, field.column)}
    if field.index:
        out[field.index] = getattr(row, field.index)
    return out


def _counties(rng: random.Random) -> list[str]:
    from victimcare import regions
    counties, todo = [], list(regions.children())
    while todo:
        division = todo.pop()
        todo += regions.children(division.code)
        if division.is_county_level:
            counties.append(division.code)
    counties.sort()
    # People come from some places far more than others: a few hundred source counties dominate.
    return rng.sample(counties, 400) + counties


def _id_number(county: str, born: dt.date, rng: random.Random) -> str:
    from victimcare.people.rules import id_check_digit
    first17 = f"{county}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_digit(first17)


class SoundKeys:
    """names.index.index_rows, with the sound keys of each distinct name computed once."""

    def __init__(self):
        from victimcare.crypto import keyring
        self.kr, self.cache = keyring(), {}

    def digests(self, name: str) -> list[tuple[str, str]]:
        from victimcare.names.index import index_rows
        found = self.cache.get(name)
        if found is None:
            found = self.cache[name] = [(r["kind"], r["bidx"]) for r in index_rows("-", name, [], self.kr)]
        return found

    def rows(self, person_id: str, name: str | None, aliases: list[tuple[str, str]]) -> list[dict]:
        rows = [{"person_id": person_id, "alias_id": None, "kind": k, "bidx": d}
                for k, d in (self.digests(name) if name else [])]
        for alias_id, alias in aliases:
            rows += [{"person_id": person_id, "alias_id": alias_id, "kind": k, "bidx": d}
                     for k, d in self.digests(alias)]
        return rows


def populate(n: int, shelters: list[list[tuple[int, str]]], user_id: int, rng: random.Random,
             police_share: float = 0.4, batch: int = 20_000) -> dict:
    """Insert n people, their aliases and sound keys with Core executemany; returns samples of the
    people in the first bureau (the caseworker's) for the queries."""
    from victimcare.names.models import NameSoundKey
    from victimcare.people.models import Person, PersonAlias
    from victimcare.people.rules import format_case_number
    names, sounds, counties = Names(rng), SoundKeys(), _counties(rng)
    counters, seen_ids = {}, set()
    samples = {"people": []}
    start, today = dt.datetime(2021, 1, 1), dt.date.today()
    people, aliases, keys = [], [], []
    for i in range(n):
        bureau = 0 if rng.random() < BUREAU_SHARE[0] else 1
        org_id, region = rng.choice(shelters[bureau])
        created = start + dt.timedelta(seconds=i * (5 * 365 * 86400 // max(n, 1)) + rng.randrange(60))
        age = min(int(rng.lognormvariate(3.0, 0.4)), 70)  # mostly 12-35
        born = today - dt.timedelta(days=age * 365 + rng.randrange(365))
        seq = counters[region, created.year] = counters.get((region, created.year), 0) + 1
        person_id, origin = new_row_id(), rng.choice(counties) if rng.random() < 0.8 else None
        row = {"id": person_id, "case_number": format_case_number(region, created.year, seq),
               "organisation_id": org_id, "status": "open", "sex": "female" if rng.random() < 0.8 else "male",
               "birth_year": born.year, "birth_date_estimated": False, "origin_code": origin,
               "rescue_date": created.date(), "identity_status": "unidentified", "identified_method": None,
               "identified_on": None, "tracing_result": "not_started", "dna_sample_taken": False,
               "dna_submitted_on": None, "version": 1, "created_at": created, "created_by_id": user_id,
               "updated_at": created, "name_enc": None, "name_bidx": None, "id_number_enc": None,
               "id_number_bidx": None, "date_of_birth_enc": None, "date_of_birth_bidx": None,
               "police_case_number_enc": None, "police_case_number_bidx": None}
        name = names.name() if rng.random() < 0.95 else None
        if name:
            row.update(_encrypted(Person, "name", person_id, name))
        number = None
        if rng.random() < 0.6:  # identity established: ID number and exact date of birth
            number = _id_number(origin or region, born, rng)
            while number in seen_ids:
                number = _id_number(origin or region, born, rng)
            seen_ids.add(number)
            row.update(_encrypted(Person, "id_number", person_id, number))
            row.update(_encrypted(Person, "date_of_birth", person_id, born))
            row["identity_status"] = "identified"
        else:
            row["birth_date_estimated"] = True
        if rng.random() < police_share:  # a police case number when the police brought her in
            row.update(_encrypted(Person, "police_case_number", person_id, f"J{region}{created.year}{i:07d}"))
        people.append(row)
        own_aliases = []
        if name and rng.random() < 0.15:
            for _ in range(rng.choice((1, 1, 2))):
                alias_id, alias = new_row_id(), names.alias(name)
                aliases.append({"id": alias_id, "person_id": person_id, "created_at": created, "removed_at": None,
                                **_encrypted(PersonAlias, "name", alias_id, alias)})
                own_aliases.append((alias_id, alias))
        keys += sounds.rows(person_id, name, own_aliases)
        if bureau == 0 and name and i % max(n // 2000, 1) == 0:
            samples["people"].append({"name": name, "aliases": [a for _, a in own_aliases], "id_number": number,
                                      "date_of_birth": born if number else None, "origin_code": origin,
                                      "birth_year": born.year})
        if len(people) >= batch:
            _flush(people, aliases, keys, Person, PersonAlias, NameSoundKey)
    _flush(people, aliases, keys, Person, PersonAlias, NameSoundKey)
    samples["distinct_names"] = len(sounds.cache)
    return samples


def _flush(people, aliases, keys, Person, PersonAlias, NameSoundKey) -> None:
    for model, rows in ((Person, people), (PersonAlias, aliases), (NameSoundKey, keys)):
        if rows:
            db.session.execute(insert(model.__table__), rows)
            rows.clear()
    db.session.commit()


def query_sets(samples: list[dict], repeats: int, rng: random.Random) -> dict[str, list]:
    """``repeats`` different entries of each kind, from people in the caseworker's scope."""
    from pypinyin import Style, lazy_pinyin

    from victimcare.names.sound import is_pinyin
    chosen = rng.sample(samples, min(repeats * 3, len(samples)))
    han = [p["name"] for p in chosen if "·" not in p["name"]]

    def spoken(name: str, i: int) -> str:
        syllables = lazy_pinyin(name, style=Style.TONE if i % 3 == 2 else Style.NORMAL)
        family, given = syllables[0], "".join(syllables[1:])
        return (f"{family} {given}", f"{family}{given}", f"{family.capitalize()} {given.capitalize()}")[i % 3]

    initials = [a for a in ("".join(s[0] for s in lazy_pinyin(n)) for n in han)
                if 2 <= len(a) <= 6 and not is_pinyin(a)]
    with_number = [p for p in chosen if p["id_number"]]
    duplicates = []
    this_year = dt.date.today().year
    checkable = [p for p in chosen if p["date_of_birth"] or p["origin_code"]]  # else no rule applies
    for i, p in enumerate(checkable[:repeats]):  # half as typed again, half without the ID number
        known = p["date_of_birth"] is not None
        duplicates.append({"name": p["name"], "aliases": "\n".join(p["aliases"]), "sex": "female",
                           "id_number": p["id_number"] if i % 2 else None, "date_of_birth": p["date_of_birth"],
                           "estimated_age": None if known else this_year - p["birth_year"],
                           "origin_code": p["origin_code"]})
    return {
        "ID number": [p["id_number"] for p in with_number][:repeats],
        "pinyin name": [spoken(name, i) for i, name in enumerate(han)][:repeats],
        "Chinese name": han[:repeats],
        "initials": initials[:repeats],
        "duplicate check": duplicates,
    }


def timed_each(fn, entries: list) -> tuple[list[float], list]:
    fn(entries[0])  # warm-up
    times, results = [], []
    for entry in entries:
        begin = time.perf_counter()
        results.append(fn(entry))
        times.append((time.perf_counter() - begin) * 1000)
    return times, results


def explain(fn, entry) -> None:
    """Print the plan of every SELECT that one call of ``fn(entry)`` runs, as it ran it."""
    from sqlalchemy import event
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        fn(entry)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    for statement, parameters in statements:
        if "FROM user_account" in statement and "person" not in statement:
            continue  # loading the caseworker
        print("    --", " ".join(statement.split())[:160], "...")
        # The session's connection: on SQLite every transaction takes the write lock (database.py).
        for row in db.session.connection().exec_driver_sql(prefix + statement, parameters):
            print("      ", " | ".join(str(c) for c in row))
    db.session.remove()


def build(app, n: int, rng: random.Random, police_share: float = 0.4) -> tuple[dict, float]:
    from victimcare.auth.service import create_organisation, create_user
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.begin() as conn:  # a bigger page cache for the bulk load only
                conn.exec_driver_sql("PRAGMA cache_size=-400000")
        shelters = []
        for bureau_name, code, units in BUREAUS:
            bureau = create_organisation(bureau_name, "bureau", code, None)
            shelters.append([(create_organisation(name, "shelter", region, bureau).id, region)
                             for name, region in units])
            if code == BUREAUS[0][1]:
                user = create_user("bench", "Bench Caseworker", "caseworker", bureau, PASSWORD)
        db.session.commit()
        begin = time.perf_counter()
        samples = populate(n, shelters, user.id, rng, police_share)
        analyze()
        return samples, time.perf_counter() - begin


def run(n: int, url: str, folder: str, repeats: int, show_plans: bool, police_share: float) -> None:
    from victimcare.auth.models import User
    from victimcare.names.models import NameSoundKey
    from victimcare.people import duplicates, service
    from victimcare.people.models import PersonAlias

    app = migrated_app(url, folder)
    rng = random.Random(20261125)
    samples, elapsed = build(app, n, rng, police_share)
    with app.app_context():
        aliases = db.session.scalar(select(func.count()).select_from(PersonAlias))
        keys = db.session.scalar(select(func.count()).select_from(NameSoundKey))
        size = ""
        if db.engine.dialect.name == "sqlite":
            size = f", database {os.path.getsize(db.engine.url.database) / 2**20:,.0f} MiB"
        else:
            size = ", database " + db.session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        print(f"{db.engine.dialect.name}: built {n:,} people, {aliases:,} aliases, {keys:,} sound keys "
              f"({samples['distinct_names']:,} distinct names) in {elapsed:.0f} s "
              f"({n / elapsed:,.0f} people/s){size}")

        def caseworker():
            db.session.remove()  # a fresh session per call, as per request
            return db.session.scalars(select(User).filter_by(username="bench")).one()

        def search(q):
            if hasattr(service, "caseload_page"):  # ranked: best matches first, as the caseload lists them
                rows, total = service.caseload_page(caseworker(), {"q": q}, 1, PAGE_SIZE)
                people = [person for person, _rank in rows]
            else:
                people, total = service.page_of(service.caseload_query(caseworker(), {"q": q}), 1, PAGE_SIZE)
            [p.name for p in people]  # decrypt names as the list page does
            return total

        def duplicate_check(data):
            return len(duplicates.possible_duplicates(caseworker(), data))

        rows = []
        for label, entries in query_sets(samples["people"], repeats, rng).items():
            fn = duplicate_check if label == "duplicate check" else search
            times, results = timed_each(fn, entries)
            rows.append((label, len(entries), times, results))
            if show_plans:
                print(f"  plans for {label}:")
                explain(fn, entries[len(entries) // 2])
        db.session.remove()
        db.engine.dispose()

    print(f"\n{'query (count + first page)':<28}{'n':>5}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}"
          f"   results (median / max)")
    for label, count, times, results in rows:
        median, p95, worst = summary(times)
        results = sorted(results)
        print(f"{label:<28}{count:>5}{median:>11.1f}{p95:>9.1f}{worst:>9.1f}   "
              f"{results[len(results) // 2]} / {results[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--explain", action="store_true", help="print the plan of the first entry of each search")
    parser.add_argument("--police-share", type=float, default=0.4,
                        help="share of people with a police case number (0: see what an unused index does)")
    args = parser.parse_args()
    with bench_database(args.db) as (url, folder):
        run(args.people, url, folder, args.repeats, args.explain, args.police_share)


if __name__ == "__main__":
    main()
