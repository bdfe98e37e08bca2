"""The print forms: one person's summary, and a batch from the caseload filters."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..choices import options
from ..disclosures.forms import ConsentFields

VARIANT_LABELS = {"full": _l("Full file"),
                  "deidentified": _l("De-identified, for a case conference (names, numbers, addresses and "
                                     "contacts left out)")}
_PURPOSE_REQUIRED = _l("Say what the printout is for (it is printed on every page).")


class PrintForm(ConsentFields, FlaskForm):
    purpose = TextAreaField(_l("Purpose of the printout"),
                            validators=[DataRequired(_PURPOSE_REQUIRED), Length(max=300)])
    variant = RadioField(_l("Variant"), choices=options(VARIANT_LABELS), default="full",
                         validators=[DataRequired()])
    for_agency = BooleanField(_l("The printout is for another agency"))
    recipient_name = StringField(_l("Receiving agency and person"), validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.for_agency.data and self.variant.data == "full":
            if not (self.recipient_name.data or "").strip():
                self.recipient_name.errors.append(_l("Name the agency that receives the printout."))
                ok = False
            ok = self.validate_basis_fields() and ok
        return ok


class BatchForm(FlaskForm):
    purpose = TextAreaField(_l("Purpose of the printout"),
                            validators=[DataRequired(_PURPOSE_REQUIRED), Length(max=300)])
    variant = RadioField(_l("Variant"), choices=options(VARIANT_LABELS), default="full",
                         validators=[DataRequired()])
    filters = HiddenField()  # the caseload filters, as the query string they came with
