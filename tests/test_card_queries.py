"""The file page's card queries are built once and reused for every person (sections.prepared): each
person's card must still hold exactly that person's rows, never those of the file asked first."""
from __future__ import annotations

from sqlalchemy import select

from victimcare.attachments import service as attachments
from victimcare.attachments.models import Attachment
from victimcare.disclosures.models import Disclosure
from victimcare.disclosures.service import disclosures_of
from victimcare.employment.models import EmploymentService
from victimcare.employment.service import entries_of
from victimcare.extensions import db
from victimcare.followups.models import PersonReturn
from victimcare.followups.service import return_of
from victimcare.legal import service as legal
from victimcare.legal.models import LegalAid
from victimcare.medical import service as medical
from victimcare.medical.models import DisabilityAssessment, MedicalVisit
from victimcare.placements.models import Placement, ResidenceApplication
from victimcare.placements.residence import current_application
from victimcare.placements.service import stays_of
from victimcare.referrals.models import Referral
from victimcare.referrals.views import _summary as referral_card
from victimcare.schooling import service as schooling
from victimcare.schooling.models import SchoolEnrolment

from .route_matrix_support import build_world


def _ids(model, person, *where):
    return set(db.session.scalars(select(model.id).where(model.person_id == person.id, *where)))


def test_each_person_gets_their_own_rows_from_the_reused_queries(app):
    world = build_world()
    loaders = {Placement: stays_of, EmploymentService: entries_of, Disclosure: disclosures_of,
               Referral: lambda person: referral_card(person)["referrals"], LegalAid: legal.entries_of,
               SchoolEnrolment: schooling.entries_of, MedicalVisit: medical.visits_of,
               DisabilityAssessment: medical.assessments_of, PersonReturn: lambda person: [r for r in [return_of(person)] if r],
               Attachment: attachments.entries_of}
    with_rows = {model: 0 for model in loaders}
    for person in world.people.values():
        for model, load in loaders.items():
            expected = _ids(model, person, *([Attachment.withdrawn_at.is_(None)] if model is Attachment else []))
            assert {row.id for row in load(person)} == expected, (model.__name__, person.case_number)
            with_rows[model] += bool(expected)
        application = current_application(person)
        live = _ids(ResidenceApplication, person, ResidenceApplication.status != "withdrawn")
        assert (application.id in live) if application else not live
    # Only a file after the first one with rows can show another file's rows: make sure there are two.
    assert all(count >= 2 for count in with_rows.values()), with_rows
