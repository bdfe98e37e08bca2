"""Demo attachments: a generated photo and a generated document, added through the same checks as an
upload (content.check) and the same service as the upload page."""
from __future__ import annotations

import io

from flask import current_app
from PIL import Image, ImageDraw
from sqlalchemy import select

from ..extensions import db
from ..people.models import Person
from . import content, service


def _photo() -> bytes:
    """A placeholder portrait (no real person): a head-and-shoulders silhouette."""
    image = Image.new("RGB", (240, 320), (214, 226, 236))
    draw = ImageDraw.Draw(image)
    draw.ellipse((80, 60, 160, 150), fill=(120, 132, 150))
    draw.rounded_rectangle((40, 170, 200, 330), radius=60, fill=(120, 132, 150))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _document() -> bytes:
    from weasyprint import HTML
    page = "<h1>户籍证明（虚构示例）</h1><p>本文件为演示数据，不涉及真实人员。</p>"
    return HTML(string=page).write_pdf()


def add_examples(organisation, caseworker, people: int = 2) -> int:
    """A photo and a document for the first ``people`` open files of ``organisation``."""
    chosen = db.session.scalars(select(Person).where(Person.organisation_id == organisation.id,
                                                     Person.status == "open")
                                .order_by(Person.case_number).limit(people)).all()
    max_pixels = current_app.config["ATTACHMENT_MAX_PIXELS"]
    photo, document = content.check(_photo(), max_pixels), content.check(_document(), max_pixels)
    for person in chosen:
        service.add(person, "photo", "登记照（虚构示例，非真实人员）", "登记照.jpg", photo, caseworker)
        service.add(person, "identity_document", "户籍证明扫描件（虚构示例）", "户籍证明.pdf", document,
                    caseworker)
    return len(chosen)
