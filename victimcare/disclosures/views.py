"""The disclosure log of a person's file: to whom, what, when, on what basis."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from .. import access, audit
from ..entries import load_person
from ..extensions import db
from ..sections import FileSection, register
from .forms import BASIS_LABELS, GIVER_LABELS
from .models import Disclosure
from .service import disclosures_of

disclosures_bp = Blueprint("disclosures", __name__)

KIND_LABELS = {"referral": _l("Referral"), "handover_bundle": _l("Handover bundle"),
               "identified_print": _l("Identified printout"), "identified_export": _l("Identified export")}
SECTION_LABELS = {"identity": _l("Identity and rescue"), "dna": _l("Identity checks and DNA"),
                  "placement": _l("Placement"), "residence": _l("Residence registration"),
                  "medical": _l("Medical care"), "legal": _l("Legal aid"), "schooling": _l("School"),
                  "employment": _l("Training and jobs"), "followups": _l("Return and follow-up"),
                  "referrals": _l("Referrals"), "disclosures": _l("Disclosures"), "case": _l("Case")}


def _summary(person):
    return {"disclosures": disclosures_of(person)}


register(FileSection("disclosures", _l("Disclosures"), "disclosures.for_person", order=85,
                     summary_template="disclosures/_summary.html", load=_summary,
                     rows_in=(Disclosure,), empty=lambda person: {"disclosures": []}))


@disclosures_bp.app_context_processor
def _labels():
    return {"disclosure_labels": {"kind": KIND_LABELS, "basis": BASIS_LABELS, "giver": GIVER_LABELS,
                                  "section": SECTION_LABELS}}


@disclosures_bp.route("/people/<person_id>/disclosures")
@access.route("disclosures", person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", "disclosures")
    rows = disclosures_of(person)
    audit.record("view", object_type="person", object_id=person.id, section="disclosures",
                 details={"results": len(rows)})
    db.session.commit()
    return render_template("disclosures/for_person.html", person=person, disclosures=rows)
