"""The upload and withdrawal forms. Messages are per field; the other input is kept on error (a browser
never refills a file input, so the file is chosen again)."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..choices import options
from . import content

KIND_LABELS = {"photo": _l("Photo"), "identity_document": _l("Identity document"),
               "medical_document": _l("Medical document"), "legal_document": _l("Legal document"),
               "school_document": _l("School document"), "other": _l("Other document")}


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}"


class UploadForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=options(KIND_LABELS, blank="—"),
                       validators=[DataRequired(_l("Choose what kind of attachment this is."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=1000)],
                                description=_l("What it shows and where it comes from (stored encrypted)."))
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file."))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = current_app.config["ATTACHMENT_MAX_BYTES"]
        self.file.description = _l(
            "PDF, JPEG, PNG or WebP, at most %(mb)s MB. Photos are saved again without their metadata "
            "(EXIF: camera, time and GPS position, which can reveal where a shelter is).",
            mb=megabytes(self.max_bytes))
        self.checked: content.Checked | None = None
        self.display_name = ""

    def validate_file(self, field):
        if content.unsafe_name(field.data.filename):
            raise ValidationError(content.UNSAFE_NAME)
        data = field.data.stream.read(self.max_bytes + 1)
        if not data:
            raise ValidationError(_l("The file is empty."))
        if len(data) > self.max_bytes:
            raise ValidationError(_l("The file is larger than %(mb)s MB.", mb=megabytes(self.max_bytes)))
        try:
            self.checked = content.check(data, current_app.config["ATTACHMENT_MAX_PIXELS"])
        except content.Refused as refused:
            raise ValidationError(refused.message) from None
        self.display_name = content.display_name(field.data.filename) or str(_l("attachment"))


class WithdrawForm(FlaskForm):
    version = HiddenField()
    reason = TextAreaField(_l("Reason for withdrawing"),
                           validators=[DataRequired(_l("Say why the attachment is withdrawn.")), Length(max=1000)],
                           description=_l("For example: uploaded to the wrong file, or replaced by a better scan. "
                                          "The attachment is kept in the history, hidden from the list."))
