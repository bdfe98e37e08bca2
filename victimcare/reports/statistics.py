"""The plans' evaluation figures (阶段性评估和终期评估) for a user's scope and a period.

What the plans measure (DOMAIN.md "What the plans measure"): the share of rescued people who received
training, aid and physical or psychological treatment ("接受培训、救助、身心治疗等必要援助的比例",
seeds/state-council-2008-2012-plan.txt; seeds/jiangsu-2021-2030-opinions.txt 二(三)); counts by status,
region, organisation and period; people unidentified beyond three months (jiangsu-2021-2030 二(三)1(5));
overdue follow-ups (跟踪了解其生活状况, jiangsu-2021-2030 二(三)3).

Definitions (a period is two dates, both days included; "as of" is the period's last day, or today
while the period is still running):
- rescued: rescue date in the period.
- in_shelter: an institutional stay (placements.rules.INSTITUTIONAL_TYPES) on at least one day of the
  period: admitted on or before its last day and not discharged before its first day.
- returned: a return (followups.PersonReturn) dated in the period.
- closed: a file closed (CaseStatusChange "close") in the period, local time; reopened later or not.
- unidentified_3m: as of the as-of day, identity not established (unidentified, or identified only
  later) and the current continuous institutional stay exceeds three months (placements.rules).
- overdue_followups: open files with a follow-up visit past its due date and not made as of the as-of day.
- The shares' denominator is the people rescued in the period; the numerator those of them with, by
  the period's last day: training = any training-and-jobs entry (training, guidance, job referral,
  employment: the section is the plans' 培训/就业服务); legal aid = an application accepted, in progress
  or concluded (applied, refused or withdrawn is not aid received); placed = any placement (临时救助 is
  救助 in the plans' sense); aid (救助) = legal aid or placed; treatment = a medical visit of any type
  (basic medical, psychological counselling, psychiatric); any = at least one of them.
Aggregation is in SQL: one GROUP BY over the raw keys (organisation, origin code, sex, birth year)
with a conditional sum per figure; the dimensions are rolled up from those cells in Python. Only
unidentified_3m reads rows (the stays of the unidentified, like the residence list).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, or_, select

from .. import access, regions
from ..extensions import db
from ..employment.models import EmploymentService
from ..followups.models import CaseStatusChange, FollowupVisit, PersonReturn
from ..legal.models import LegalAid
from ..medical.models import MedicalVisit
from ..people.models import SEXES, Person
from ..people.rules import AGE_BANDS, age_band
from ..placements import rules as placement_rules
from ..placements import residence
from ..placements.models import Placement, ResidenceApplication
from .export import SUPPRESS_BELOW, suppress

COUNT_FIGURES = {
    "rescued": _l("Rescued in the period"),
    "in_shelter": _l("In an assistance institution during the period"),
    "returned": _l("Returned home in the period"),
    "closed": _l("Files closed in the period"),
    "unidentified_3m": _l("Identity unknown, in an institution more than three months"),
    "overdue_followups": _l("With an overdue follow-up visit"),
}
SHARE_FIGURES = {
    "training": _l("Training and employment services"),
    "aid": _l("Aid (legal aid or shelter assistance)"),
    "legal_aid": _l("Legal aid"),
    "placed": _l("Shelter assistance (placement)"),
    "treatment": _l("Physical or psychological treatment"),
    "any_assistance": _l("Any of these (training, aid, treatment)"),
}
FIGURE_LABELS = {**COUNT_FIGURES, **SHARE_FIGURES}
# The sections each figure is made of: a role that may not read one of them does not get the figure.
FIGURE_SECTIONS = {
    "rescued": ("identity",), "in_shelter": ("placement",), "returned": ("followups",), "closed": ("case",),
    "unidentified_3m": ("identity", "residence"), "overdue_followups": ("followups",),
    "training": ("employment",), "aid": ("legal", "placement"), "legal_aid": ("legal",),
    "placed": ("placement",), "treatment": ("medical",),
    "any_assistance": ("employment", "legal", "placement", "medical"),
}
LEGAL_AID_RECEIVED = ("accepted", "in_progress", "concluded")
DIMENSIONS = {"organisation": _l("Organisation"), "region": _l("Region of origin"), "sex": _l("Sex"),
              "age_band": _l("Age band")}
REGION_LEVELS = {"province": _l("Province"), "code": _l("Full division code")}
RESIDENCE_STEPS = ("drafted", "submitted", "registered")
UNKNOWN = "unknown"

# GB/T 2260 province-level prefixes and their names.
PROVINCE_NAMES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省",
    "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省",
    "35": "福建省", "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省",
    "44": "广东省", "45": "广西壮族自治区", "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省",
    "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省",
    "64": "宁夏回族自治区", "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区",
    "82": "澳门特别行政区",
}


may_see = access.may_see_statistics  # who sees statistics: a rule of access.py


def visible_figures(user) -> list[str]:
    return [key for key, sections in FIGURE_SECTIONS.items()
            if all(access.allowed(user.role, "read", s) for s in sections)]


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def as_of(self, today: dt.date) -> dt.date:
        return min(self.end, today)

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period's first and the day after its last day, local midnight, as naive UTC (stored times)."""
        zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])

        def utc(day):
            return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
        return utc(self.start), utc(self.end + dt.timedelta(days=1))

    def details(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def this_year(today: dt.date) -> Period:
    return Period(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31))


# -- the SQL part ------------------------------------------------------------------------------------
def _has(model, *conditions):
    return exists().where(model.person_id == Person.id, *conditions)


# The shares: people rescued in the period with at least one of these (evaluated once per person).
SHARE_PARTS = {"training": ("has_training",), "legal_aid": ("has_legal",), "placed": ("has_placed",),
               "aid": ("has_legal", "has_placed"), "treatment": ("has_treatment",),
               "any_assistance": ("has_training", "has_legal", "has_placed", "has_treatment")}


def conditions(period: Period, as_of: dt.date) -> dict:
    """Each count figure, and each part of the shares, as a condition on one Person row (correlated
    EXISTS over the section's entries)."""
    start, end = period.start, period.end
    closed_from, closed_before = period.utc_bounds()
    return {
        "rescued": Person.rescue_date.between(start, end),
        "in_shelter": _has(Placement, Placement.placement_type.in_(placement_rules.INSTITUTIONAL_TYPES),
                           Placement.admitted_on <= end,
                           or_(Placement.discharged_on.is_(None), Placement.discharged_on >= start)),
        "returned": _has(PersonReturn, PersonReturn.return_date.between(start, end)),
        "closed": _has(CaseStatusChange, CaseStatusChange.action == "close",
                       CaseStatusChange.created_at >= closed_from, CaseStatusChange.created_at < closed_before),
        "overdue_followups": and_(Person.status == "open", _has(
            FollowupVisit, FollowupVisit.due_date < as_of,
            or_(FollowupVisit.done_on.is_(None), FollowupVisit.done_on > as_of))),
        "has_training": _has(EmploymentService, EmploymentService.start_date <= end),
        "has_legal": _has(LegalAid, LegalAid.application_date <= end, LegalAid.status.in_(LEGAL_AID_RECEIVED)),
        "has_placed": _has(Placement, Placement.admitted_on <= end),
        "has_treatment": _has(MedicalVisit, MedicalVisit.visit_date <= end),
    }


Key = tuple  # (organisation_id, origin_code, sex, birth_year)


def _cells(user, period: Period, as_of: dt.date, figures: list[str]) -> dict[Key, Counter]:
    """Counts per figure for each distinct (organisation, origin code, sex, birth year): one query.

    A materialised CTE computes each person's flags once (0/1); the outer query sums them per key,
    the shares as "rescued and any of its parts"."""
    conds = conditions(period, as_of)
    counts_wanted = [f for f in figures if f in conds]
    shares_wanted = [f for f in figures if f in SHARE_PARTS]
    needed = set(counts_wanted) | {p for f in shares_wanted for p in SHARE_PARTS[f]}
    if shares_wanted:
        needed.add("rescued")
    cells: dict[Key, Counter] = defaultdict(Counter)
    if needed:
        keys = (Person.organisation_id, Person.origin_code, Person.sex, Person.birth_year)
        flags = (access.scoped_people(user)
                 .with_only_columns(*keys, *[case((conds[f], 1), else_=0).label(f) for f in sorted(needed)])
                 .cte("person_flags").prefix_with("MATERIALIZED"))
        key_cols = [flags.c.organisation_id, flags.c.origin_code, flags.c.sex, flags.c.birth_year]
        sums = [func.sum(flags.c[f]) for f in counts_wanted]
        sums += [func.sum(case((and_(flags.c.rescued == 1, or_(*[flags.c[p] == 1 for p in SHARE_PARTS[f]])), 1),
                               else_=0)) for f in shares_wanted]
        names = counts_wanted + shares_wanted
        for row in db.session.execute(select(*key_cols, *sums).group_by(*key_cols)):
            counts = Counter({f: int(n or 0) for f, n in zip(names, row[4:]) if n})
            if counts:
                cells[tuple(row[:4])].update(counts)
    if "unidentified_3m" in figures:
        for key, n in _unidentified_beyond_three_months(user, as_of).items():
            cells[key]["unidentified_3m"] += n
    return cells


def _unidentified_beyond_three_months(user, as_of: dt.date) -> Counter:
    """People whose identity is not established as of ``as_of`` and whose current continuous
    institutional stay began more than three months before (the residence rule's due date has come)."""
    unidentified = or_(Person.identity_status == "unidentified", Person.identified_on > as_of)
    stays: dict[str, list] = defaultdict(list)
    keys: dict[str, Key] = {}
    query = (access.scoped_people(user).where(unidentified)
             .join(Placement, Placement.person_id == Person.id)
             .where(Placement.placement_type.in_(placement_rules.INSTITUTIONAL_TYPES), Placement.admitted_on <= as_of)
             .with_only_columns(Person.id, Person.organisation_id, Person.origin_code, Person.sex, Person.birth_year,
                                Placement.admitted_on, Placement.discharged_on, Placement.placement_type))
    for pid, org, origin, sex, year, admitted, discharged, kind in db.session.execute(query):
        stays[pid].append(placement_rules.Stay(admitted, discharged, kind))
        keys[pid] = (org, origin, sex, year)
    result = Counter()
    for pid, person_stays in stays.items():
        started = placement_rules.current_stay_start(person_stays, as_of)
        if started is not None and placement_rules.residence_due_date(started) <= as_of:
            result[keys[pid]] += 1
    return result


def residence_figures(user, period: Period, today: dt.date | None = None) -> dict:
    """The rule's states today (as the residence list shows them), and the application steps taken
    in the period (drafted, submitted, registered on a day of the period)."""
    states = residence.counts(residence.residence_rows(user, today))
    dates = {"drafted": ResidenceApplication.drafted_on, "submitted": ResidenceApplication.submitted_on,
             "registered": ResidenceApplication.registered_on}
    query = (access.scoped_people(user).join(ResidenceApplication, ResidenceApplication.person_id == Person.id)
             .with_only_columns(*[func.sum(case((col.between(period.start, period.end), 1), else_=0))
                                  for col in dates.values()]))
    row = db.session.execute(query).one()
    return {"states": states, "steps": {k: int(n or 0) for k, n in zip(dates, row)}}


# -- rolling up ----------------------------------------------------------------------------------------
@dataclass
class Bucket:
    key: str
    label: object  # str or a lazy translation
    code: str = ""
    counts: Counter = field(default_factory=Counter)


@dataclass
class Statistics:
    period: Period
    as_of: dt.date
    figures: list[str]
    cells: dict
    organisations: dict
    residence: dict | None = None
    totals: Counter = field(default_factory=Counter)

    @property
    def count_figures(self) -> list[str]:
        return [f for f in COUNT_FIGURES if f in self.figures]

    @property
    def share_figures(self) -> list[str]:
        return [f for f in SHARE_FIGURES if f in self.figures]

    def breakdown(self, dimension: str, region_level: str = "province") -> list[Bucket]:
        buckets = {b.key: b for b in self._buckets(dimension)}
        for (org, origin, sex, year), counts in self.cells.items():
            key = self._key(dimension, region_level, org, origin, sex, year)
            if key not in buckets:
                buckets[key] = self._new_bucket(dimension, region_level, key)
            buckets[key].counts.update(counts)
        rows = list(buckets.values())
        if dimension == "region":
            rows.sort(key=lambda b: (b.key == UNKNOWN, b.key))
        elif dimension == "organisation":
            rows.sort(key=lambda b: (b.key == UNKNOWN, self.organisations[int(b.key)].path
                                     if b.key != UNKNOWN and int(b.key) in self.organisations else b.key))
        return rows

    def _key(self, dimension, region_level, org, origin, sex, year) -> str:
        if dimension == "organisation":
            return str(org)
        if dimension == "region":
            if not origin:
                return UNKNOWN
            return origin[:2] if region_level == "province" else origin
        if dimension == "sex":
            return sex or UNKNOWN
        return (age_band(self.period.end.year - year) if year else None) or UNKNOWN

    def _buckets(self, dimension) -> list[Bucket]:
        """The rows shown even when empty: every case-holding organisation, sex and age band."""
        from ..people.forms import SEX_LABELS
        if dimension == "organisation":
            return [Bucket(str(o.id), o.name) for o in self.organisations.values() if o.holds_cases]
        if dimension == "sex":
            return [Bucket(s, SEX_LABELS[s]) for s in SEXES]
        if dimension == "age_band":
            return [Bucket(label, label) for label, _low, _high in AGE_BANDS]
        return []

    def _new_bucket(self, dimension, region_level, key) -> Bucket:
        if key == UNKNOWN:
            return Bucket(key, _l("Unknown"))
        if dimension == "organisation":
            org = self.organisations.get(int(key))
            return Bucket(key, org.name if org else key)
        if dimension == "region":
            # A code's full place name from the division table; a code it does not hold, its province.
            name = regions.full_name(key) if len(key) == 6 else None
            return Bucket(key, name or PROVINCE_NAMES.get(key[:2], _l("Unknown province")), code=key)
        return Bucket(key, key)


def compute(user, period: Period, today: dt.date | None = None) -> Statistics:
    today = today or dt.date.today()
    as_of = period.as_of(today)
    figures = visible_figures(user)
    cells = _cells(user, period, as_of, figures)
    stats = Statistics(period, as_of, figures, cells,
                       {o.id: o for o in access.scoped_organisations(user)})
    for counts in cells.values():
        stats.totals.update(counts)
    if access.allowed(user.role, "read", "residence"):
        stats.residence = residence_figures(user, period, today)
    return stats


def percent(numerator: int, denominator: int) -> float | None:
    return round(100.0 * numerator / denominator, 1) if denominator else None


# -- publishing: small-count suppression for exports --------------------------------------------------
# A count of 1-4 is shown as "<5" (export.suppress). A cell withheld only so that a "<5" cannot be
# worked out (the total minus the other cells) shows SECONDARY. A percentage is withheld whenever its
# numerator or denominator is. A share's numerator is also withheld when the people *without* the
# service number 1-4 (denominator minus numerator), else those few could be singled out.
SECONDARY = "x"


def small(n: int) -> bool:
    return 0 < n < SUPPRESS_BELOW


def share_hidden(numerator: int, denominator: int) -> bool:
    return small(numerator) or (numerator > 0 and small(denominator - numerator))


def protect(values: list[int], hidden: list[bool] | None = None, total_hidden: bool | None = None) -> list:
    """Publishable cells of one additive column (its total published too).

    ``hidden``: the cells that must not be shown (default: counts of 1-4). When exactly one cell is
    hidden and the total is shown, the total minus the other cells would give it away: the smallest
    other non-zero cell is withheld as well (complementary suppression). The total itself stays: it
    is the overall figure published in the summary anyway, so withholding it would protect nothing."""
    hidden = list(hidden) if hidden is not None else [small(v) for v in values]
    if total_hidden is None:
        total_hidden = small(sum(values))
    withheld = {i for i, h in enumerate(hidden) if h}
    if len(withheld) == 1 and not total_hidden:
        others = [i for i, v in enumerate(values) if i not in withheld and v > 0]
        if others:
            withheld.add(min(others, key=lambda i: (values[i], i)))
    return [publish(v, i in withheld) for i, v in enumerate(values)]


def publish(value: int, hidden: bool):
    if not hidden:
        return value
    return suppress(value) if small(value) else SECONDARY


def published_percent(numerator_cell, denominator_cell, numerator: int, denominator: int):
    if not isinstance(numerator_cell, int) or not isinstance(denominator_cell, int):
        return SECONDARY
    value = percent(numerator, denominator)
    return "" if value is None else value
