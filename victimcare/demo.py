"""Demo data: organisations, one user per role, and fictional people. Idempotent."""
from __future__ import annotations

import datetime as dt
import os
import random
import secrets

from flask import current_app
from sqlalchemy import func, select

from . import audit
from .access import ROLES
from .auth.models import Organisation, User
from .auth.service import create_organisation, create_user
from .extensions import db
from .people.models import Person
from .people.rules import id_check_digit
from .people.service import register_person

BUREAU = ("示范市民政局", "bureau", "320100")
CHILDREN = [
    ("示范市救助管理站", "shelter", "320102"),
    ("示范市未成年人救助保护中心", "shelter", "320104"),
    ("示范市第一人民医院（指定医疗机构）", "hospital", "320102"),
    ("示范市公安局城南派出所", "police", "320104"),
    ("示范市教育局学籍管理科", "school_office", "320100"),
    ("示范市法律援助中心", "legal_aid", "320100"),
    ("示范市人力资源和社会保障局就业服务处", "employment_office", "320100"),
    ("示范市民政局监督审计室", "supervision", "320100"),
]
ROLE_HOME = {"caseworker": "示范市救助管理站", "clinician": "示范市第一人民医院（指定医疗机构）",
             "manager": BUREAU[0], "police": "示范市公安局城南派出所", "education": "示范市教育局学籍管理科",
             "employment": "示范市人力资源和社会保障局就业服务处", "legal_aid": "示范市法律援助中心",
             "auditor": "示范市民政局监督审计室", "admin": BUREAU[0]}
DISPLAY = {"caseworker": "王社工", "clinician": "李医生", "manager": "陈科长", "police": "赵警官",
           "education": "孙老师", "employment": "周专员", "legal_aid": "吴律师", "auditor": "郑审计",
           "admin": "系统管理员"}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "秀英丽娟敏静燕艳芳霞玲桂兰红梅萍娜琳雪婷颖慧倩佳欣怡悦琪晨曦露瑶雨涵思梦诗"
ORIGINS = ["530102", "520102", "450102", "510104", "360102", "430102", "420102", "410102", "341102", "320102"]
PLACES = ["城南客运站", "某工业园区出租屋", "长途汽车上", "边境检查站", "城郊村民家中", "火车站广场"]
AGENCIES = ["示范市公安局刑侦支队", "示范市公安局城南派出所", "边防检查站", "铁路公安处"]


def _fake_id_number(rng: random.Random, region: str, birth: dt.date, sex: str) -> str:
    seq = rng.randint(0, 49) * 2 + (0 if sex == "female" else 1) + 100
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


def _ensure_organisations(echo) -> dict[str, Organisation]:
    orgs = {o.name: o for o in db.session.scalars(select(Organisation))}
    if BUREAU[0] not in orgs:
        orgs[BUREAU[0]] = create_organisation(*BUREAU, None)
    for name, kind, region in CHILDREN:
        if name not in orgs:
            orgs[name] = create_organisation(name, kind, region, orgs[BUREAU[0]])
    db.session.flush()
    return orgs


def _ensure_users(orgs, credentials_path: str, echo) -> list[tuple[str, str]]:
    created = []
    for role in ROLES:
        if db.session.scalar(select(User.id).where(User.username == role)):
            continue
        password = secrets.token_urlsafe(12)
        create_user(role, DISPLAY[role], role, orgs[ROLE_HOME[role]], password)
        created.append((role, password))
    if created:
        fd = os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"# demo users created {dt.datetime.now():%Y-%m-%d %H:%M}\n")
            for username, password in created:
                fh.write(f"{username}\t{password}\n")
    return created


def _person_data(rng: random.Random, i: int, today: dt.date) -> dict:
    sex = "female" if rng.random() < 0.8 else "male"
    child = rng.random() < 0.45
    age = rng.randint(3, 15) if child else rng.randint(16, 45)
    rescue = today - dt.timedelta(days=rng.randint(5, 700))
    known_birth = rng.random() < 0.6
    birth = dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
    identified = known_birth and rng.random() < 0.7
    name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice([1, 2])))
    origin = rng.choice(ORIGINS)
    data = {
        "name": name if rng.random() < 0.9 else None,
        "aliases": rng.choice(["", "", f"小{name[-1]}", f"阿{name[-1]}"]),
        "sex": sex, "nationality": "CHN" if rng.random() < 0.9 else rng.choice(["VNM", "MMR", "LAO"]),
        "date_of_birth": birth if known_birth else None,
        "estimated_age": None if known_birth else age,
        "id_number": _fake_id_number(rng, origin, birth, sex) if identified and rng.random() < 0.8 else None,
        "origin_code": origin if rng.random() < 0.7 else None,
        "rescue_date": rescue, "rescue_place": rng.choice(PLACES), "rescuing_agency": rng.choice(AGENCIES),
        "police_case_number": f"A{today.year - 1}{rng.randint(10000, 99999)}",
        "identity_status": "identified" if identified else "unidentified",
        "identified_method": rng.choice(["dna", "documents", "self_report", "face"]) if identified else None,
        "identified_on": rescue + dt.timedelta(days=rng.randint(1, 4)) if identified else None,
        "tracing_result": rng.choice(["searching", "guardian_found", "guardian_not_found", "not_started"]),
        "notes": "（虚构示例数据）" + rng.choice(["身体状况良好，情绪稳定。", "需心理疏导。", "表示希望返回原籍。"]),
    }
    if data["identified_on"] and data["identified_on"] > today:
        data["identified_on"] = today
    return data


def load_demo(echo=print, people: int = 36, seed: int = 20261125) -> None:
    root = current_app.instance_path
    orgs = _ensure_organisations(echo)
    created = _ensure_users(orgs, os.path.join(root, "demo-credentials.txt"), echo)
    shelters = [orgs[CHILDREN[0][0]], orgs[CHILDREN[1][0]]]
    existing = db.session.scalar(select(func.count()).select_from(Person))
    caseworker = db.session.scalar(select(User).where(User.username == "caseworker"))
    rng = random.Random(seed)
    today = dt.date.today()
    added = 0
    if existing == 0:
        for i in range(people):
            data = _person_data(rng, i, today)
            person = register_person(data, shelters[i % 2], caseworker, today=today)
            if i % 3 == 0:
                person.dna_sample_taken = True
                person.dna_reference = f"DNA-{today.year}-{rng.randint(100000, 999999)}"
                person.dna_submitted_on = data["rescue_date"] + dt.timedelta(days=2)
            if i % 9 == 0:
                person.status = "closed"
            added += 1
    audit.record("admin", username="cli", details={"change": "demo", "people": added, "users": len(created)})
    db.session.commit()
    for username, password in created:
        echo(f"  {username:<12} {password}")
    if created:
        echo(f"Demo users created; passwords above are also in {root}/demo-credentials.txt")
    else:
        echo(f"Demo users exist already; their passwords are in {root}/demo-credentials.txt")
    echo(f"Demo people: {added} added, {existing} already present.")
