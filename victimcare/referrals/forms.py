from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..choices import MarkRequired
from ..disclosures.forms import ConsentFields


class ReferralForm(FlaskForm, ConsentFields):
    """A referral discloses part of the file to the partner: consent or a legal basis is required."""
    organisation_id = SelectField(_l("Partner organisation"), coerce=int, validate_choice=True,
                                  validators=[MarkRequired()])
    purpose = TextAreaField(_l("Purpose of the referral"), validators=[DataRequired(), Length(max=2000)],
                            description=_l("What the partner is asked to do. The partner sees it with the "
                                           "person's case number, name, sex and age only."))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        return self.validate_basis_fields() and valid


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
