"""Forms of return, follow-up visits and closure. Messages are per field; input is kept on error."""
from __future__ import annotations

import datetime as dt

from babel.lists import format_list
from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..choices import options
from ..people.forms import NATIONALITY_LABELS, not_in_future
from ..people.rules import division_code_problem
from .rules import check_schedule

KIND_LABELS = {"family": _l("Return to family or community"),
               "handover": _l("Handover to the civil affairs of the region of origin"),
               "repatriation": _l("Repatriation of a foreign national")}
WISH_BY_LABELS = {"person": _l("The person"), "guardian": _l("The guardian")}
METHOD_LABELS = {"home_visit": _l("Home visit"), "phone": _l("Phone call"),
                 "civil_affairs": _l("Through the local civil affairs")}
STATE_LABELS = {"done": _l("Done"), "due": _l("Due today"), "overdue": _l("Overdue"),
                "upcoming": _l("Upcoming")}
COUNTRY_LABELS = {code: label for code, label in NATIONALITY_LABELS.items() if code != "CHN"}


def _blank_to_none(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


class ReturnForm(FlaskForm):
    version = HiddenField()
    kind = SelectField(_l("Kind of return"), choices=options(KIND_LABELS, blank="—"), default="",
                       validators=[InputRequired(_l("Choose the kind of return."))])
    return_date = DateField(_l("Return date"), validators=[InputRequired(_l("Give the return date.")),
                                                           not_in_future])
    wish_confirmed = BooleanField(_l("The person or the guardian wished this return"))
    wish_expressed_by = SelectField(_l("Wish expressed by"), choices=options(WISH_BY_LABELS, blank="—"),
                                    default="")
    destination = TextAreaField(_l("Family or community returned to"), validators=[Optional(), Length(max=500)],
                                filters=[_blank_to_none])
    receiving_bureau = StringField(_l("Receiving civil-affairs bureau"), validators=[Optional(), Length(max=200)],
                                   filters=[_blank_to_none])
    receiving_region_code = StringField(_l("Region of the receiving bureau (division code)"),
                                        validators=[Optional(), Length(max=6)], filters=[_blank_to_none],
                                        description=_l("Six-digit GB/T 2260 code, e.g. 530102."))
    receiving_contact = TextAreaField(_l("Contact at the receiving bureau"), validators=[Optional(), Length(max=500)],
                                      filters=[_blank_to_none])
    country = SelectField(_l("Country returned to"), choices=options(COUNTRY_LABELS, blank="—"), default="")
    handover_point = StringField(_l("Handover point"), validators=[Optional(), Length(max=200)],
                                 filters=[_blank_to_none],
                                 description=_l("Border crossing or place where the person was handed over."))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)], filters=[_blank_to_none])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The schedule is configuration (FOLLOWUP_SCHEDULE_MONTHS): the help says the one in force.
        months = check_schedule(current_app.config["FOLLOWUP_SCHEDULE_MONTHS"])
        self.return_date.description = _l(
            "Follow-up visits are scheduled %(months)s months after this date: the plans ask the agencies to "
            "keep a file on each person and follow her life after the return (State Council 2008–2012 plan; "
            "Jiangsu 2021–2030 二(三)3).",
            months=format_list([str(m) for m in months], locale=get_locale()))

    def validate_receiving_region_code(self, field):
        if field.data and division_code_problem(field.data):
            raise ValidationError(_l("Six digits of an administrative division code (GB/T 2260), e.g. 320102."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        return self._per_kind() and ok

    def _need(self, field, message) -> bool:
        if not field.data and not field.errors:
            field.errors.append(message)
        return bool(field.data)

    def _per_kind(self) -> bool:
        kind, ok = self.kind.data, True
        if kind in ("family", "handover"):
            # Only by the person's own wish (seeds/jiangsu-2021-2030-opinions.txt 二(三)2(3);
            # for a return to the region of origin: seeds/fujian-2013-2020-plan.txt 二(五)3).
            ok &= self._need(self.wish_confirmed, _l("A return home needs the wish of the person or the "
                                                     "guardian: confirm it, or choose another kind."))
            ok &= self._need(self.wish_expressed_by, _l("Say who expressed the wish."))
        if kind == "handover":
            ok &= self._need(self.receiving_bureau, _l("Give the receiving bureau."))
            ok &= self._need(self.receiving_region_code, _l("Give the region code of the receiving bureau."))
        if kind == "repatriation":
            ok &= self._need(self.country, _l("Choose the country."))
            ok &= self._need(self.handover_point, _l("Give the handover point."))
        return ok


class VisitForm(FlaskForm):
    version = HiddenField()
    done_on = DateField(_l("Visited on"), validators=[InputRequired(_l("Give the date of the visit.")),
                                                      not_in_future])
    method = SelectField(_l("How"), choices=options(METHOD_LABELS, blank="—"), default="",
                         validators=[InputRequired(_l("Say how the visit was made."))])
    living_conditions = TextAreaField(_l("Living conditions"), validators=[
        DataRequired(_l("Describe the living conditions found.")), Length(max=4000)])
    difficulties = TextAreaField(_l("Difficulties"), validators=[Optional(), Length(max=4000)],
                                 filters=[_blank_to_none])
    onward_referrals = TextAreaField(_l("Referrals to other agencies"), validators=[Optional(), Length(max=2000)],
                                     filters=[_blank_to_none],
                                     description=_l("Which agency was asked to help with what. A partner "
                                                    "organisation in the system can be sent a referral from "
                                                    "the Referrals page."))

    def __init__(self, *args, return_date: dt.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.return_date = return_date

    def validate_done_on(self, field):
        if field.data and self.return_date and field.data < self.return_date:
            raise ValidationError(_l("The visit is before the return date (%(date)s).",
                                     date=self.return_date.isoformat()))


class CaseReasonForm(FlaskForm):
    expected_status = HiddenField()
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give the reason.")), Length(max=2000)])
