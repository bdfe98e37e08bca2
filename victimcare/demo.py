"""Demo data: organisations, one user per role, and fictional people with a file in every section.

Idempotent: organisations and users are added when missing; the people and everything in their files
only when there are no people yet. Deterministic (seeded), dates relative to today. Every entry goes
through the sections' own service functions, so the history and the audit trail hold them as if they
had been typed in; the data is chosen to pass the rules the forms apply (checked here, and a refusal
stops the demo rather than being skipped)."""
from __future__ import annotations

import datetime as dt
import os
import random
import secrets
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from sqlalchemy import func, select

from . import audit
from .access import ROLES
from .auth.models import Organisation, User
from .attachments import demo as attachments_demo
from .auth.service import create_organisation, create_user
from .employment import rules as employment_rules
from .employment import service as employment
from .extensions import db
from .followups import service as followups
from .followups.models import FollowupVisit
from .followups.rules import add_months
from .legal import rules as legal_rules
from .legal import service as legal
from .medical import rules as medical_rules
from .medical import service as medical
from .people.models import Person
from .people.rules import division_code_problem, id_check_digit
from .people.service import register_person, update_dna
from .placements import residence
from .placements import service as placements
from .placements.rules import residence_due_date
from .referrals import service as referrals
from .referrals.models import Referral
from .schooling import rules as schooling_rules
from .schooling import service as schooling
from .schooling.models import GRADES

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


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


S = dict
# One story per person, in this order. Keys (all but ``age`` and ``shelter`` optional):
#   age (lo, hi): years today; sex; ident: identity established (default: unidentified); nat: nationality;
#   tracing: the family-tracing result; shelter: 0 (救助管理站) or 1 (未成年人救助保护中心), the first
#   admission, which also holds the file.
#   res: the state under the three-month residence rule to reach (unidentified people):
#     ("not_due", days since admission) | ("due" | "overdue", days past the due date)
#     | ("drafted", past, draft k days after the due date) | ("submitted", past, k draft, k submit)
#     | ("registered", past, k draft, k submit, k registered); the due date is counted back from today.
#   admitted: days ago, when neither res nor ret fixes it.
#   transfer (days after admission, shelter); foster: days after admission, to a foster family;
#   independent: days ago, to independent living.
#   ret (kind, days ago or "due_today", visits done); leave: days ago, discharged at own wish.
#   med: "pending" | "declined" | [visit types]; disability; med_closed: the referral closed after care.
#   legal: status of the legal-aid application; school (transfer step, record step);
#   job (kind, outcome, place, start days ago, end days ago or None); close: reason the manager gives.
STORIES = [
    # -- not identified: on the residence registration list ------------------------------------
    S(age=(18, 30), sex="female", shelter=0, res=("not_due", 20), med="pending", tracing="searching"),
    S(age=(8, 10), shelter=1, res=("not_due", 70), school=("not_needed", "pending"), tracing="searching"),
    S(age=(20, 35), sex="female", shelter=0, res=("due", 5), med=["psychological_counselling"],
      tracing="searching"),
    S(age=(11, 13), shelter=0, res=("due", 20), transfer=(12, 1), school=("not_needed", "done"),
      tracing="guardian_not_found"),
    S(age=(20, 40), sex="female", shelter=0, res=("overdue", 45), med=["basic_medical", "basic_medical"],
      tracing="guardian_not_found"),
    S(age=(25, 45), sex="female", shelter=0, res=("overdue", 150), med=["basic_medical"], disability=True,
      tracing="guardian_not_found"),
    S(age=(18, 30), sex="female", shelter=0, res=("drafted", 12, 8), tracing="guardian_not_found"),
    S(age=(13, 15), shelter=1, res=("drafted", 50, 3), tracing="guardian_not_found"),
    S(age=(20, 35), sex="female", shelter=0, res=("submitted", 40, 2, 15), tracing="guardian_not_found"),
    S(age=(19, 30), sex="female", shelter=0, res=("registered", 220, 1, 10, 45), independent=60,
      job=("job_referral", "employed", "local", 90, 75), tracing="guardian_not_found"),
    S(age=(4, 6), shelter=1, admitted=150, foster=40, tracing="guardian_not_found"),
    S(age=(18, 40), sex="female", shelter=0, res=("not_due", 8), med="declined", tracing="not_started"),
    S(age=(18, 19), sex="female", shelter=1, res=("overdue", 105), transfer=(30, 0), tracing="searching"),
    # -- identified and gone home (return, handover, repatriation), or left ---------------------
    S(age=(20, 40), ident=True, shelter=0, ret=("family", 400, 4), tracing="guardian_found",
      close="回访期满，本人生活稳定，结案。"),
    S(age=(8, 12), ident=True, shelter=1, ret=("family", 240, 3), tracing="guardian_found"),
    S(age=(18, 40), ident=True, shelter=0, ret=("family", 215, 2), tracing="guardian_found"),
    S(age=(18, 40), ident=True, shelter=0, ret=("family", 125, 1), tracing="guardian_found"),
    S(age=(10, 15), ident=True, shelter=1, ret=("family", "due_today", None), tracing="guardian_found"),
    S(age=(18, 40), ident=True, shelter=0, ret=("family", 10, 0), tracing="guardian_found"),
    S(age=(7, 12), ident=True, shelter=1, ret=("family", 40, 0), tracing="guardian_found"),
    S(age=(18, 35), ident=True, shelter=0, ret=("handover", 75, 1), tracing="guardian_found"),
    S(age=(18, 30), sex="female", ident=True, nat="VNM", shelter=0, ret=("repatriation", 150, 1),
      tracing="guardian_found", close="已安全送返国籍国并完成交接，经对方确认，结案。"),
    S(age=(20, 35), ident=True, shelter=0, admitted=120, leave=60, tracing="guardian_not_found",
      job=("job_referral", "employed", "elsewhere", 70, 62), close="本人已在异地稳定就业并自愿离站，结案。"),
    # -- identified, still in care ----------------------------------------------------------------
    S(age=(19, 24), sex="female", ident=True, shelter=0, admitted=60, legal="in_progress",
      med=["basic_medical", "basic_medical", "psychiatric_treatment"], tracing="guardian_found"),
    S(age=(25, 40), sex="female", ident=True, shelter=0, admitted=180, legal="concluded",
      job=("vocational_training", "ongoing", "local", 40, None), tracing="guardian_not_found"),
    S(age=(9, 11), ident=True, shelter=0, admitted=120, transfer=(10, 1), school=("done", "done"),
      med=["basic_medical"], tracing="guardian_not_found"),
    S(age=(14, 15), ident=True, shelter=1, admitted=90, school=("pending", "pending"), tracing="searching"),
    S(age=(17, 17), ident=True, shelter=1, admitted=100, tracing="searching",
      job=("vocational_training", "completed", "local", 80, 20)),
    S(age=(30, 40), sex="female", ident=True, shelter=0, admitted=45, legal="accepted", tracing="guardian_found"),
    S(age=(18, 45), ident=True, shelter=0, admitted=15, tracing="searching"),
    S(age=(7, 8), ident=True, shelter=1, admitted=50, school=("not_needed", "pending"),
      tracing="guardian_not_found"),
    S(age=(20, 40), ident=True, shelter=0, admitted=250, job=("job_referral", "ongoing", "local", 30, None),
      tracing="guardian_not_found"),
    S(age=(30, 45), sex="female", ident=True, shelter=0, admitted=35, med=["basic_medical"], med_closed=True,
      tracing="guardian_found"),
    S(age=(3, 5), ident=True, shelter=1, admitted=25, tracing="searching"),
    S(age=(18, 45), sex="male", ident=True, shelter=0, admitted=70, tracing="guardian_found"),
    S(age=(18, 30), sex="female", ident=True, nat="MMR", shelter=0, admitted=40, tracing="guardian_found"),
]

BUREAUS = {"53": "云南省昆明市民政局", "52": "贵州省贵阳市民政局", "45": "广西壮族自治区南宁市民政局",
           "51": "四川省成都市民政局", "36": "江西省南昌市民政局", "43": "湖南省长沙市民政局",
           "42": "湖北省武汉市民政局", "41": "河南省郑州市民政局", "34": "安徽省滁州市民政局", "32": "江苏省南京市民政局"}
BORDER_POINTS = {"VNM": "河口口岸（中越边境）", "MMR": "瑞丽口岸（中缅边境）", "LAO": "磨憨口岸（中老边境）"}
DIAGNOSES = {
    "basic_medical": ["营养不良，轻度贫血。", "皮肤软组织挫伤，已清创包扎。", "急性上呼吸道感染。",
                      "龋齿多颗，已补牙。", "慢性胃炎，门诊用药。"],
    "psychiatric_treatment": ["创伤后应激障碍（PTSD），药物治疗并定期复诊。"],
    "psychological_counselling": ["心理评估：焦虑、睡眠障碍，安排每周一次心理疏导。"],
}
LIVING = ["家庭接纳良好，生活稳定。", "已返校就读，适应情况良好。", "在当地务工，收入稳定。",
          "与家人关系仍较紧张，社区已介入。", "居住条件简陋，已申请临时救助。"]
DIFFICULTIES = [None, None, "经济困难。", "情绪仍不稳定，夜间失眠。", "户籍与学籍手续尚在办理。"]


class DemoRefused(RuntimeError):
    """The demo's data broke a rule: fix the data (the demo never skips a refused step)."""


def _ok(problem, what: str) -> None:
    if problem:
        raise DemoRefused(f"demo data refused ({what}): {problem}")


def _birth(rng: random.Random, today: dt.date, age: int) -> dt.date:
    """A birthday on which the person is ``age`` years old today."""
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    year = today.year - age - (1 if (month, day) > (today.month, today.day) else 0)
    return dt.date(year, month, day)


def _person_data(rng: random.Random, story: dict, rescue: dt.date, today: dt.date) -> dict:
    identified = story.get("ident", False)
    nationality = story.get("nat", "CHN")
    sex = story.get("sex") or ("female" if rng.random() < 0.75 else "male")
    age = rng.randint(*story["age"])
    birth = _birth(rng, today, age)
    known_birth = identified or rng.random() < 0.25   # unidentified: a birthday the person gave, or an estimate
    name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice([1, 2])))
    origin = rng.choice(ORIGINS) if nationality == "CHN" else None
    if not identified and rng.random() < 0.5:
        origin = None
    method = None
    if identified:
        method = "documents" if nationality != "CHN" else rng.choice(["dna", "documents", "self_report", "face"])
    return {
        "name": name if identified or rng.random() < 0.85 else None,
        "aliases": rng.choice(["", "", f"小{name[-1]}", f"阿{name[-1]}"]),
        "sex": sex, "nationality": nationality,
        "date_of_birth": birth if known_birth else None,
        "estimated_age": None if known_birth else age,
        "id_number": _fake_id_number(rng, origin, birth, sex) if identified and origin and rng.random() < 0.85
        else None,
        "origin_code": origin,
        "rescue_date": rescue, "rescue_place": rng.choice(PLACES), "rescuing_agency": rng.choice(AGENCIES),
        "police_case_number": f"A{today.year - 1}{rng.randint(10000, 99999)}",
        "identity_status": "identified" if identified else "unidentified",
        "identified_method": method,
        "identified_on": min(rescue + _days(rng.randint(1, 4)), today) if identified else None,
        "tracing_result": story.get("tracing", "searching"),
        "notes": "（虚构示例数据）" + rng.choice(["身体状况良好，情绪稳定。", "需心理疏导。", "表示希望返回原籍。"]),
    }


class _Builder:
    """Writes the people's files through the sections' services, as the demo users."""

    def __init__(self, orgs: dict, rng: random.Random, today: dt.date):
        self.rng, self.today = rng, today
        self.users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(ROLES)))}
        self.shelters = [orgs[CHILDREN[0][0]], orgs[CHILDREN[1][0]]]
        self.hospital, self.police, self.education, self.legal_centre, self.employment_office = (
            orgs[CHILDREN[i][0]] for i in range(2, 7))
        self.expected_residence: list[tuple[Person, str]] = []

    def user(self, role: str) -> User:
        return self.users[role]

    def clamp(self, day: dt.date, earliest: dt.date | None = None) -> dt.date:
        day = min(day, self.today)
        return max(day, earliest) if earliest else day

    # -- dates ---------------------------------------------------------------------------------
    def residence_start(self, past: int) -> dt.date:
        """An admission date whose three-month due date was ``past`` days ago."""
        days = 90
        while (self.today - residence_due_date(self.today - _days(days))).days < past:
            days += 1
        return self.today - _days(days)

    def due_today_return(self) -> tuple[dt.date, int]:
        """A return date one of whose follow-up visits falls due today, and how many come before it."""
        for done, months in enumerate(followups.schedule_months()):
            for days in range(months * 28, months * 31 + 2):
                day = self.today - _days(days)
                if add_months(day, months) == self.today:
                    return day, done
        raise DemoRefused("no return date gives a follow-up visit due today")

    # -- one person ------------------------------------------------------------------------------
    def person(self, story: dict) -> Person:
        rng, today = self.rng, self.today
        ret_date = visits_done = None
        if "ret" in story:
            _kind, when, visits_done = story["ret"]
            if when == "due_today":
                ret_date, visits_done = self.due_today_return()
            else:
                ret_date = today - _days(when)
            admitted = ret_date - _days(rng.randint(20, 60))
        elif "res" in story:
            state, amount = story["res"][:2]
            admitted = today - _days(amount) if state == "not_due" else self.residence_start(amount)
        else:
            admitted = today - _days(story["admitted"])
        rescue = admitted - _days(rng.choice([0, 0, 1]))
        shelter = self.shelters[story["shelter"]]
        person = register_person(_person_data(rng, story, rescue, today), shelter, self.user("caseworker"),
                                 today=today)
        child = (person.age_on(admitted) or 0) < 18
        self.admit(person, shelter, admitted, "未成年人，公安机关解救后送中心临时监护。" if story["shelter"] == 1
                   else "公安机关解救后护送至站，临时救助。")
        if person.identity_status == "unidentified" or person.identified_method == "dna":
            self.dna(person, rescue)
        if "transfer" in story:
            after, target = story["transfer"]
            self.admit(person, self.shelters[target], admitted + _days(after),
                       "经评估为未成年人，转入未成年人救助保护中心。" if target == 1
                       else "骨龄鉴定显示已成年，转入救助管理站。", transfer=True)
        if "foster" in story:
            self.admit(person, None, admitted + _days(story["foster"]), "长期未查明身份，安排家庭寄养。",
                       transfer=True, placement_type="family_foster", household_relation="foster_family",
                       institution_name="示范市城南社区寄养家庭（虚构）")
        if "med" in story:
            self.medical(person, story, admitted)
        if "legal" in story:
            self.legal(person, story["legal"], admitted)
        if "school" in story:
            self.school(person, story["school"], admitted)
        if "job" in story:
            self.job(person, story["job"])
        if "res" in story:
            self.residence(person, story["res"])
            self.expected_residence.append((person, story["res"][0]))
        if "independent" in story:
            self.admit(person, None, today - _days(story["independent"]), "已落户并稳定就业，自主生活。",
                       transfer=True, placement_type="independent_living", institution_name="示范市城南社区租住房（虚构）")
        if "ret" in story:
            self.returned(person, story["ret"][0], ret_date, visits_done, child)
        if "leave" in story:
            self.discharge(person, today - _days(story["leave"]), "本人要求离站，赴异地就业。")
        if "close" in story:
            self.close(person, story["close"])
        return person

    # -- sections --------------------------------------------------------------------------------
    def admit(self, person, organisation, day, reason, *, transfer=False, placement_type="temporary_assistance",
              household_relation="none", institution_name=None):
        _ok(day > self.today and "in the future", "admission date")
        placements.admit(person, {"placement_type": placement_type,
                                  "organisation_id": organisation.id if organisation else None,
                                  "institution_name": institution_name, "household_relation": household_relation,
                                  "admitted_on": day, "reason": reason, "transfer": transfer},
                         self.user("caseworker"))
        db.session.flush()

    def discharge(self, person, day, reason):
        stay = placements.open_stay(person)
        placements.discharge(stay, person, {"discharged_on": day, "discharge_reason": reason},
                             self.user("caseworker"), stay.version)
        db.session.flush()

    def refer(self, person, organisation, purpose, accept_as=None):
        referral = referrals.refer(person, organisation, purpose, self.user("caseworker"))
        if accept_as:
            referrals.accept(referral, self.user(accept_as))
        return referral

    def dna(self, person, rescue):
        """The police take the sample through a referral; the caseworker closes it afterwards."""
        referral = self.refer(person, self.police, "采集DNA样本，录入打拐DNA数据库比对。", accept_as="police")
        db.session.flush()
        update_dna(person, {"dna_sample_taken": True,
                            "dna_reference": f"DNA-{rescue.year}-{self.rng.randint(100000, 999999)}",
                            "dna_submitted_on": self.clamp(rescue + _days(2))}, self.user("police"), person.version)
        referrals.close(referral, "DNA样本已入库比对，本次转介完成。", self.user("caseworker"))

    def medical(self, person, story, admitted):
        rng, spec = self.rng, story["med"]
        referral = self.refer(person, self.hospital, "入院体检及后续治疗，费用按救助规定结算。")
        if spec == "pending":
            return
        if spec == "declined":
            referrals.decline(referral, "本院暂无精神科床位，建议转诊示范市精神卫生中心。", self.user("clinician"))
            return
        clinician = self.user("clinician")
        referrals.accept(referral, clinician)
        day = admitted + _days(rng.randint(1, 3))
        for visit_type in spec:
            day = self.clamp(day)
            total = Decimal(rng.randint(8000, 380000)).scaleb(-2).quantize(medical_rules.CENT)
            # Counselling is not covered by basic insurance: all of it is self-pay, borne by finance.
            share = Decimal(0 if visit_type == "psychological_counselling" else rng.choice(["0.5", "0.6", "0.7"]))
            insurance = (total * share).quantize(medical_rules.CENT, rounding=ROUND_DOWN)
            for amount in (total, insurance):
                _ok(medical_rules.parse_amount(str(amount))[0], "medical cost")
            _ok(insurance >= total and "insurance not below the total", "medical cost")
            medical.add_visit(person, {"visit_date": day, "visit_type": visit_type,
                                       "diagnosis": rng.choice(DIAGNOSES[visit_type]),
                                       "notes": "（虚构示例数据）按救助规定结算，自付部分由同级财政承担。",
                                       "total_cost": total, "insurance_paid": insurance}, clinician)
            day += _days(rng.randint(7, 20))
        if story.get("disability"):
            medical.add_assessment(person, {"category": "intellectual", "grade": 3,
                                            "institution": "示范市残疾人联合会指定评定机构",
                                            "assessed_on": self.clamp(day), "notes": "智力残疾三级，建议办理残疾人证。"},
                                   clinician)
        if story.get("med_closed"):
            referrals.close(referral, "门诊治疗结束，转介完成。", self.user("caseworker"))

    def legal(self, person, status, admitted):
        rng = self.rng
        referral = self.refer(person, self.legal_centre, "申请法律援助，代理被害人参与刑事诉讼及民事赔偿。",
                              accept_as="legal_aid")
        applied = self.clamp(admitted + _days(rng.randint(5, 15)))
        matter = {"in_progress": "victim_representation", "concluded": "compensation"}.get(status, "custody")
        outcome = outcome_date = None
        if status == "concluded":
            outcome = "法院判决被告人赔偿被害人经济损失人民币三万元，已执行到位（虚构）。"
            outcome_date = self.clamp(applied + _days(rng.randint(60, 120)), applied)
        _ok(status not in legal_rules.allowed_next(None) and "status", "legal aid")
        _ok(legal_rules.outcome_problems(status, outcome, outcome_date, applied), "legal aid")
        legal.create(person, {"application_date": applied, "agency_id": self.legal_centre.id,
                              "lawyer_name": rng.choice(["钱律师（虚构）", "孙律师（虚构）"]), "green_channel": True,
                              "matter": matter, "details": "经绿色通道受理，免予经济困难审查（虚构示例）。",
                              "status": status, "outcome": outcome, "outcome_date": outcome_date},
                     self.user("legal_aid"))
        if status == "concluded":
            referrals.close(referral, "法律援助案件已办结。", self.user("caseworker"))

    def school(self, person, steps, admitted):
        rng = self.rng
        self.refer(person, self.education, "适龄儿童入学安置，办理学籍。", accept_as="education")
        enrolled = self.clamp(admitted + _days(rng.randint(10, 25)))
        _ok(schooling_rules.school_age_problem(person, enrolled), "school age")
        age = person.age_on(enrolled)
        grade = GRADES[max(0, min(11, age - 6 - rng.randint(0, 1)))]
        transfer_state, record_state = steps
        transfer_date = self.clamp(enrolled + _days(rng.randint(3, 20))) if transfer_state == "done" else None
        record_date = self.clamp(enrolled + _days(rng.randint(5, 30))) if record_state == "done" else None
        _ok(schooling_rules.step_problem(transfer_state, transfer_date), "school transfer step")
        _ok(schooling_rules.step_problem(record_state, record_date), "school record step")
        schooling.create(person, {"school_name": "示范市城南小学（虚构）" if grade.startswith("p") else "示范市第三中学（虚构）",
                                  "grade": grade, "enrolment_date": enrolled, "transfer_state": transfer_state,
                                  "transfer_date": transfer_date, "record_state": record_state,
                                  "record_date": record_date, "mentoring": "与班主任结对帮扶，每周一次学业辅导。",
                                  "counselling_notes": "学校心理咨询室每两周一次心理辅导。"}, self.user("education"))

    def job(self, person, spec):
        kind, outcome, place, start_ago, end_ago = spec
        self.refer(person, self.employment_office, "职业技能培训和就业推荐。", accept_as="employment")
        start = self.today - _days(start_ago)
        end = None if end_ago is None else self.today - _days(end_ago)
        _ok(employment_rules.age_problem(person, start), "employment age")
        _ok(employment_rules.dates_problem(start, end, outcome), "employment dates")
        provider = {"vocational_training": "示范市职业技能培训中心（家政服务班）",
                    "job_referral": "浙江省某服装厂（虚构）" if place == "elsewhere" else "示范市某电子厂（虚构）"}[kind]
        employment.create(person, {"kind": kind, "wish_confirmed": True, "provider": provider, "place": place,
                                   "start_date": start, "end_date": end, "outcome": outcome,
                                   "notes": "本人有就业意愿（虚构示例）。"}, self.user("employment"))

    def residence(self, person, res):
        state = res[0]
        if state in ("not_due", "due", "overdue"):
            return
        caseworker = self.user("caseworker")
        due = residence.state_of(person, today=self.today).due_on
        drafted_on = due + _days(res[2])
        stays = placements.stays_of(person)
        values = residence.prefill(person, residence.state_of(person, stays=stays, today=drafted_on), stays)
        values["statement"] = ("经公安机关DNA比对及多方查找，至今未能查明身份和监护人，在本机构滞留已超过三个月，"
                               "特申请办理户籍登记。（虚构示例）")
        application = residence.draft(person, values, caseworker, today=drafted_on)
        db.session.flush()
        if state == "drafted":
            return
        referral = residence.submit(application, person, self.police, due + _days(res[3]), caseworker,
                                    application.version)
        db.session.flush()
        if state == "submitted":
            return
        police = self.user("police")
        referrals.accept(referral, police)
        residence.register(application, due + _days(res[4]), f"320104{self.rng.randint(100000, 999999)}", police,
                           application.version)

    def returned(self, person, kind, day, visits_done, child):
        rng, caseworker = self.rng, self.user("caseworker")
        self.discharge(person, day, {"family": "返回原籍家庭。", "handover": "移交原籍民政部门。",
                                     "repatriation": "安全送返国籍国。"}[kind])
        data = {"kind": kind, "return_date": day, "notes": "（虚构示例数据）"}
        if kind in ("family", "handover"):
            data.update(wish_confirmed=True, wish_expressed_by="guardian" if child else "person")
        if kind == "family":
            data["destination"] = "原籍家庭（某县某村，虚构）"
        elif kind == "handover":
            region = (person.origin_code or "530102")[:4] + "00"
            _ok(division_code_problem(region), "receiving region")
            data.update(receiving_bureau=BUREAUS[region[:2]], receiving_region_code=region,
                        receiving_contact="救助管理科 值班电话（虚构）")
        else:
            data.update(country=person.nationality, handover_point=BORDER_POINTS[person.nationality])
        ret = followups.record_return(person, data, caseworker)
        visits = db.session.scalars(select(FollowupVisit).where(FollowupVisit.return_id == ret.id)
                                    .order_by(FollowupVisit.months)).all()
        for visit in visits[:visits_done]:
            _ok(visit.due_date > self.today and "not yet due", "follow-up visit")
            done_on = self.clamp(visit.due_date + _days(rng.randint(-3, 5)), day)
            method = "civil_affairs" if kind != "family" else rng.choice(["home_visit", "phone"])
            followups.record_visit(visit, person, {
                "done_on": done_on, "method": method,
                "living_conditions": rng.choice(LIVING), "difficulties": rng.choice(DIFFICULTIES),
                "onward_referrals": None}, caseworker, visit.version)

    def close(self, person, reason):
        """Live referrals end first (the caseworker), then the manager closes the file."""
        for referral in db.session.scalars(select(Referral).where(Referral.person_id == person.id,
                                                                  Referral.status.in_(("pending", "active")))):
            referrals.close(referral, "结案，转介结束。", self.user("caseworker"))
        followups.close_file(person, reason, self.user("manager"))

    def trafficking_report(self):
        medical.file_report({"observed_on": self.today - _days(3), "observed_time": dt.time(21, 40),
                             "place": "本院急诊科",
                             "victim_description": "年轻女性，约十七八岁，外地口音，无身份证件。",
                             "circumstances": "由一名自称“表哥”的男子陪同就诊，男子代答全部问题，"
                                              "女方神情紧张、不敢单独交谈。（虚构示例）",
                             "reporter_contact": "急诊科值班电话（虚构）"}, self.police, self.user("clinician"))

    def check(self):
        """The residence states the stories meant to show (a date quirk would otherwise hide one)."""
        for person, expected in self.expected_residence:
            state = residence.state_of(person, residence.current_application(person), today=self.today).state
            _ok(state != expected and f"{person.case_number} is {state}, not {expected}", "residence state")


def load_demo(echo=print, seed: int = 20261125, today: dt.date | None = None) -> None:
    """``today`` moves every date of the stories (for checking that they hold on any day)."""
    root = current_app.instance_path
    orgs = _ensure_organisations(echo)
    created = _ensure_users(orgs, os.path.join(root, "demo-credentials.txt"), echo)
    existing = db.session.scalar(select(func.count()).select_from(Person))
    added = 0
    if existing == 0:
        builder = _Builder(orgs, random.Random(seed), today or dt.date.today())
        for story in STORIES:
            builder.person(story)
            added += 1
        builder.trafficking_report()
        attachments_demo.add_examples(builder.shelters[0], builder.user("caseworker"))
        db.session.flush()
        builder.check()
    audit.record("admin", username="cli", details={"change": "demo", "people": added, "users": len(created)})
    db.session.commit()
    for username, password in created:
        echo(f"  {username:<12} {password}")
    if created:
        echo(f"Demo users created; passwords above are also in {root}/demo-credentials.txt")
    else:
        echo(f"Demo users exist already; their passwords are in {root}/demo-credentials.txt")
    echo("The manager and the admin set up two-factor authentication (an authenticator app such as "
         "FreeOTP) at their first log-in, as in a real installation.")
    echo(f"Demo people: {added} added, {existing} already present.")
    if added:
        echo("  with placements, the residence rule in every state, referrals, medical visits, legal aid, "
             "schooling, training and jobs, returns with follow-up visits, closed files and a report.")
