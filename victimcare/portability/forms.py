from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..choices import MarkRequired
from ..disclosures.forms import ConsentFields


class HandoverForm(FlaskForm, ConsentFields):
    partner = SelectField(_l("Receiving installation"), validators=[DataRequired()], validate_choice=True,
                          description=_l("The origin region's bureau, registered as a trusted partner installation."))
    purpose = TextAreaField(_l("Purpose of the handover"), validators=[DataRequired(), Length(max=2000)])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        return self.validate_basis_fields() and valid


class ImportForm(FlaskForm):
    bundle = FileField(_l("Handover bundle"), validators=[FileRequired(_l("Choose the bundle file."))])
    organisation_id = SelectField(_l("Organisation that takes over the file"), coerce=int, validate_choice=True,
                                  validators=[MarkRequired()])


class PartnerForm(FlaskForm):
    name = StringField(_l("Installation name"), validators=[DataRequired(), Length(max=200)],
                       description=_l("e.g. the receiving province's civil-affairs bureau."))
    public_key = TextAreaField(_l("Installation public key"), validators=[DataRequired(), Length(max=300)],
                               description=_l("The line printed by `flask --app victimcare installation-key` "
                                              "on the other installation, starting with vc1:"))
