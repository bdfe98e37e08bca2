"""Attachment operations: add one, list them, read one for a download, withdraw one. Views call these;
the checks of who may do it are the views' (access.require through entries.load_person)."""
from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import bindparam, select

from .. import audit
from ..auth.models import utcnow
from ..crypto import keyring, new_row_id
from ..entries import check_version, record_change
from ..extensions import db
from ..sections import prepared
from .content import BY_MEDIA_TYPE, Checked, download_name
from .models import Attachment

SECTION = "attachments"


class IntegrityFailure(RuntimeError):
    """The decrypted content does not match the checksum recorded when it was added."""


def content_digest(data: bytes) -> str:
    """Keyed (HMAC-SHA256 under the blind-index key): a plain hash would let anyone with the database
    confirm that a known photo or document is stored."""
    return hmac.new(keyring().index_key, b"attachment\x1f" + data, hashlib.sha256).hexdigest()


def entries_of(person) -> list[Attachment]:
    """The person's attachments in the list: newest first, withdrawn ones left out."""
    return db.session.scalars(prepared(_entries_query), {"person_id": person.id}).all()


def _entries_query():
    return (select(Attachment).where(Attachment.person_id == bindparam("person_id"), Attachment.withdrawn_at.is_(None))
            .order_by(Attachment.created_at.desc(), Attachment.id))


def add(person, kind: str, description: str | None, file_name: str, checked: Checked, user) -> Attachment:
    attachment = Attachment(id=new_row_id(), person_id=person.id, kind=kind, media_type=checked.type.media_type,
                            size=len(checked.data), sha256=content_digest(checked.data),
                            created_by_id=getattr(user, "id", None), created_at=utcnow())
    attachment.content = checked.data
    attachment.file_name = file_name
    attachment.description = description
    db.session.add(attachment)
    db.session.flush()
    added = {"kind": kind, "file_name": attachment.file_name, "description": attachment.description,
             "media_type": attachment.media_type, "size": attachment.size}
    record_change(person.id, SECTION, {k: [None, v] for k, v in added.items() if v is not None}, user,
                  entry=attachment, action="create")
    return attachment


def withdraw(attachment: Attachment, reason: str, user, version) -> None:
    """Hide it from the list; the row, the content and the reason stay (no hard deletes)."""
    check_version(attachment, version)
    attachment.withdrawn_at = utcnow()
    attachment.withdrawn_by_id = getattr(user, "id", None)
    attachment.withdrawn_reason = reason
    db.session.flush()
    record_change(attachment.person_id, SECTION, {"withdrawn_reason": [None, attachment.withdrawn_reason]},
                  user, entry=attachment)


def read_for_download(attachment: Attachment, *, inline: bool = False) -> tuple[bytes, str, str]:
    """The content, its media type and its download name; audited (the id, never the file's name)."""
    data = attachment.content
    if not hmac.compare_digest(content_digest(data), attachment.sha256):
        raise IntegrityFailure(f"attachment {attachment.id}")
    audit.record("view", object_type="person", object_id=attachment.person_id, section=SECTION,
                 details={"entry": attachment.id, "download": "inline" if inline else "attachment"})
    kind = BY_MEDIA_TYPE[attachment.media_type]
    return data, kind.media_type, download_name(attachment.file_name, kind)
