"""An attachment: a photo or document of a person's file, its content encrypted in the database.

Not an ``EntryMixin`` entry on purpose: handover bundles (portability/bundle.py) carry every entry model
as JSON, and a file's bytes do not travel that way; attachments stay in the installation that holds them.
Nothing is deleted: a withdrawn attachment keeps its row, its content and the reason it was withdrawn."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User, utcnow
from ..crypto import Encrypted, EncryptedBytes, enc_column, id_column
from ..extensions import db

KINDS = ("photo", "identity_document", "medical_document", "legal_document", "school_document", "other")


class Attachment(db.Model):
    __tablename__ = "attachment"
    id: Mapped[str] = id_column()
    person_id: Mapped[str] = mapped_column(String(32), ForeignKey("person.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(24))
    # Sniffed from the content (attachments/content.py), never taken from the browser.
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # keyed digest of the plaintext (service.content_digest), checked on every download
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    description_enc: Mapped[str | None] = enc_column()
    file_name_enc: Mapped[str | None] = enc_column()  # display text only, never a path
    withdrawn_reason_enc: Mapped[str | None] = enc_column()
    # Loaded only when read (a download), not with every list of attachments.
    content_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)

    description = Encrypted()
    file_name = Encrypted()
    withdrawn_reason = Encrypted()
    content = EncryptedBytes()

    created_by: Mapped[User | None] = relationship(foreign_keys="Attachment.created_by_id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")
