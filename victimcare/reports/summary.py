"""PDF case summaries: which sections a reader may print, their entries, the de-identified variant,
and batch print jobs (progress kept in the database, never in a worker's memory).

Every section is loaded through its own module's service functions and shown only where
``access.can(user, "read", person, section)`` — exactly the question the file page asks."""
from __future__ import annotations

import base64
import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from .. import access, audit
from ..auth.models import utcnow
from ..crypto import ENCRYPTED_FIELDS, Encrypted, enc_column, id_column, new_row_id
from ..extensions import db
from ..people.rules import age_band
from . import pdf

VARIANTS = ("full", "deidentified")
MASK = _l("(withheld)")
BATCH_LIMIT = 200
CHUNK = 5                      # people rendered per request of a batch job
JOB_LIFETIME = dt.timedelta(days=1)

# The printed order after the identity block; each is a key of access.SECTIONS.
PRINT_SECTIONS = ("dna", "placement", "residence", "medical", "legal", "schooling", "employment",
                  "followups", "referrals", "case")
# Encrypted values a case conference still needs (clinical, not identifying); every other encrypted
# value is masked in the de-identified variant, so a field added later is hidden by default.
DEIDENTIFIED_KEEP = {("MedicalVisit", "diagnosis"), ("DisabilityAssessment", "institution"),
                     ("LegalAid", "lawyer_name")}


# -- which sections -----------------------------------------------------------------------------------
def readable_sections(user, person) -> list[str]:
    """"identity" (or the partners' minimal "summary") first, then every other readable section."""
    if access.can(user, "read", person, "identity"):
        first = ["identity"]
    elif access.can(user, "read", person, "summary"):
        first = ["summary"]
    else:
        return []
    return first + [s for s in PRINT_SECTIONS if access.can(user, "read", person, s)]


# -- masking ------------------------------------------------------------------------------------------
def _encrypted_names(cls) -> set[str]:
    return {f.name for owner, f in ENCRYPTED_FIELDS if issubclass(cls, owner)}


class Masked:
    """Read-through view of an entry whose encrypted (identifying) values read as MASK."""

    def __init__(self, obj):
        self._obj = obj
        name = type(obj).__name__
        self._hidden = {f for f in _encrypted_names(type(obj)) if (name, f) not in DEIDENTIFIED_KEEP}
        if name == "Placement" and obj.organisation is None:
            self._hidden.add("institution")  # a free-text name: a foster family, a home outside the system
        if name == "Person":
            self._hidden |= {"alias_names"}

    def __getattr__(self, attr):
        if attr in self._hidden:
            return str(MASK)  # read while the page renders, in the printout's language
        return getattr(self._obj, attr)


def _masker(deidentified: bool):
    if not deidentified:
        return lambda obj: obj
    return lambda obj: None if obj is None else Masked(obj)


# -- section loaders (each through its module's service) --------------------------------------------
def _placement(person, m):
    from ..placements import residence, service
    stays = service.stays_of(person)
    return {"stays": [m(s) for s in stays], "residence": residence.state_of(person, residence.current_application(person), stays)}


def _residence(person, m):
    from ..placements import residence
    application = residence.current_application(person)
    return {"application": m(application), "residence": residence.state_of(person, application)}


def _medical(person, m):
    from ..medical import rules, service
    visits = service.visits_of(person)
    return {"visits": [m(v) for v in visits], "totals": rules.cost_totals(visits),
            "assessments": [m(a) for a in service.assessments_of(person)]}


def _entries(module):
    def load(person, m):
        service = __import__(f"victimcare.{module}.service", fromlist=["entries_of"])
        return {"entries": [m(e) for e in service.entries_of(person)]}
    return load


def _followups(person, m):
    from ..followups import service
    from ..followups.rules import visit_state
    today = dt.date.today()
    ret = service.return_of(person)
    visits = [(m(v), visit_state(v.due_date, v.done_on, today)) for v in (ret.visits if ret else [])]
    return {"ret": m(ret), "visits": visits}


def _referrals(person, m):
    from ..referrals.models import Referral
    rows = db.session.scalars(select(Referral).where(Referral.person_id == person.id)
                              .order_by(Referral.created_at.desc())).all()
    return {"referrals": [m(r) for r in rows]}


def _case(person, m):
    from ..followups import service
    return {"history": [m(h) for h in service.status_history(person)]}


LOADERS = {"dna": lambda person, m: {}, "placement": _placement, "residence": _residence, "medical": _medical,
           "legal": _entries("legal"), "schooling": _entries("schooling"), "employment": _entries("employment"),
           "followups": _followups, "referrals": _referrals, "case": _case}


# -- rendering ----------------------------------------------------------------------------------------
def local_now() -> dt.datetime:
    return dt.datetime.now(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def summary_html(person, user, *, variant: str, purpose: str, printed_at: dt.datetime | None = None) -> tuple[str, list[str]]:
    """The summary's HTML and the sections it holds."""
    if variant not in VARIANTS:
        raise ValueError(variant)
    sections = readable_sections(user, person)
    deidentified = variant == "deidentified"
    m = _masker(deidentified)
    data = {s: LOADERS[s](person, m) for s in sections if s in LOADERS}
    today = dt.date.today()
    with force_locale("zh_CN"):  # a printout is in Chinese whatever the screen's language
        html = render_template("pdf/summary.html", person=m(person), sections=sections, data=data,
                               deidentified=deidentified, band=age_band(today.year - person.birth_year)
                               if person.birth_year else None, today=today,
                               printer=user.display_name or user.username,
                               printed_at=(printed_at or local_now()).strftime("%Y-%m-%d %H:%M"), purpose=purpose)
    return html, sections


def audit_print(person, *, variant: str, sections: list[str], pages: int, purpose: str, job=None,
                for_agency: bool = False) -> None:
    """The purpose text may itself identify someone: only its length is kept."""
    details = {"variant": variant, "sections": sections, "pages": pages, "purpose_length": len(purpose or "")}
    if job is not None:
        details["job"] = job.id
    if for_agency:
        details["for_agency"] = True
    audit.record("print", object_type="person", object_id=person.id, section=sections[0] if sections else None,
                 details=details)


def render_summary(person, user, *, variant: str, purpose: str) -> tuple[bytes, list[str], int]:
    html, sections = summary_html(person, user, variant=variant, purpose=purpose)
    document = pdf.render_document(html)
    return document.write_pdf(), sections, len(document.pages)


def application_html(application, person, user, *, printed_at=None) -> str:
    with force_locale("zh_CN"):
        return render_template("pdf/residence_application.html", application=application, person=person,
                               purpose=_("Residence registration application"),
                               printer=user.display_name or user.username, today=dt.date.today(),
                               printed_at=(printed_at or local_now()).strftime("%Y-%m-%d %H:%M"))


# -- batch print jobs ---------------------------------------------------------------------------------
class PrintJob(db.Model):
    """A batch of summaries printed a few people per request. Person ids are random row ids that
    identify no one; the purpose and the rendered parts are encrypted."""
    __tablename__ = "print_job"
    id: Mapped[str] = id_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    variant: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    person_ids: Mapped[str] = mapped_column(Text)  # comma-separated, in print order
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    purpose_enc: Mapped[str | None] = enc_column()
    purpose = Encrypted()

    @property
    def ids(self) -> list[str]:
        return [i for i in self.person_ids.split(",") if i]


class PrintJobPart(db.Model):
    """One rendered chunk of a job (PDF bytes, base64, encrypted)."""
    __tablename__ = "print_job_part"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    id: Mapped[str] = id_column()
    job_id: Mapped[str] = mapped_column(ForeignKey("print_job.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    content_enc: Mapped[str | None] = enc_column()
    content = Encrypted()


def purge_expired_jobs(now: dt.datetime | None = None) -> None:
    """Rendered printouts are working copies, not records: kept a day, then removed."""
    cutoff = (now or utcnow()) - JOB_LIFETIME
    old = select(PrintJob.id).where(PrintJob.created_at < cutoff)
    db.session.execute(delete(PrintJobPart).where(PrintJobPart.job_id.in_(old)))
    db.session.execute(delete(PrintJob).where(PrintJob.created_at < cutoff))


def create_job(user, people_ids: list[str], *, variant: str, purpose: str) -> PrintJob:
    if len(people_ids) > BATCH_LIMIT:
        raise ValueError("batch too large")
    purge_expired_jobs()
    job = PrintJob(id=new_row_id(), user_id=user.id, variant=variant, total=len(people_ids), done=0, pages=0,
                   person_ids=",".join(people_ids), created_at=utcnow())
    job.purpose = purpose
    db.session.add(job)
    return job


def lock_job(job_id: str):
    """The job row, locked (several workers may refresh the same job page at once)."""
    return db.session.scalar(select(PrintJob).where(PrintJob.id == job_id).with_for_update()
                             .execution_options(populate_existing=True))


def run_chunk(job: PrintJob, user) -> None:
    """Render the next CHUNK people into one part; each person audited. Caller holds the row lock."""
    from ..people.models import Person
    ids = job.ids[job.done: job.done + CHUNK]
    documents = []
    for person_id in ids:
        person = db.session.get(Person, person_id)
        # Scope is asked again: a person moved out of the user's reach since the job began is skipped.
        if person is None or not access.can(user, "read", person, "summary"):
            continue
        html, sections = summary_html(person, user, variant=job.variant, purpose=job.purpose)
        document = pdf.render_document(html)
        documents.append(document)
        audit_print(person, variant=job.variant, sections=sections, pages=len(document.pages),
                    purpose=job.purpose, job=job)
    if documents:
        part = PrintJobPart(id=new_row_id(), job_id=job.id, seq=job.done)
        part.content = base64.b64encode(pdf.combine(documents)).decode("ascii")
        db.session.add(part)
        job.pages += sum(len(d.pages) for d in documents)
    job.done += len(ids)
    if job.done >= job.total:
        job.finished_at = utcnow()


def job_pdf(job: PrintJob) -> bytes:
    parts = db.session.scalars(select(PrintJobPart).where(PrintJobPart.job_id == job.id)
                               .order_by(PrintJobPart.seq)).all()
    return pdf.merge([base64.b64decode(p.content) for p in parts])
