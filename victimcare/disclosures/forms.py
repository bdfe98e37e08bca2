"""Consent or legal basis, as fields any disclosing form can include."""
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from ..choices import options
from .service import basis_problem

BASIS_LABELS = {"consent": _l("Consent of the person or guardian"),
                "legal_basis": _l("Legal basis, consent not required")}
GIVER_LABELS = {"person": _l("The person herself"), "guardian": _l("Her guardian")}
_MESSAGES = {
    "no_basis": ("basis", _l("Record the consent, or the legal basis for disclosing without it.")),
    "consent_giver": ("consent_given_by", _l("Who gave consent?")),
    "consent_date": ("consent_given_on", _l("The date consent was given (not in the future).")),
    "legal_basis_text": ("legal_basis", _l("Name the legal basis, e.g. the police request and its reference.")),
}


class ConsentFields:
    """Mix into a FlaskForm; call ``self.validate_basis()`` from its validate()."""
    # default "": a select left out of the post counts as the blank choice (then validate_basis_fields
    # names what is missing) rather than "not a valid choice".
    basis = SelectField(_l("Basis for disclosure"), choices=options(BASIS_LABELS, blank="—"), default="")
    consent_given_by = SelectField(_l("Consent given by"), choices=options(GIVER_LABELS, blank="—"), default="")
    consent_given_on = DateField(_l("Consent given on"), validators=[Optional()])
    legal_basis = TextAreaField(_l("Legal basis"), validators=[Optional(), Length(max=1000)])

    def validate_basis_fields(self) -> bool:
        problem = basis_problem(self.basis.data or None, self.consent_given_by.data or None,
                                self.consent_given_on.data, self.legal_basis.data)
        if problem:
            field, message = _MESSAGES[problem]
            getattr(self, field).errors.append(message)
            return False
        return True

    def basis_data(self) -> dict:
        return {"basis": self.basis.data or None, "consent_given_by": self.consent_given_by.data or None,
                "consent_given_on": self.consent_given_on.data, "legal_basis": self.legal_basis.data}
