"""Encrypted backups of a running system, and restores that check everything first.

A backup is a consistent dump of the database, encrypted in chunks:

- SQLite: SQLite's online backup API copies the database in one step, i.e. inside one read
  transaction, into a temporary file: a snapshot, while writers carry on (WAL). Copying the live
  file instead could catch a half-written page or miss what still sits in the ``-wal`` file.
- PostgreSQL: ``pg_dump --format=custom``, which reads everything in one snapshot.

The file format (``fileformat.py``) authenticates the header, every chunk, their order and the
end of the file; a restore reads the whole file, and compares the dump's hash, before it touches
the database (``databases.py`` dumps and restores each kind of database).

The backup never contains the keyring (it holds the database only, whose sensitive values are
field-encrypted anyway): keep ``instance/keys.json`` backed up separately.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from sqlalchemy import update

from .. import audit
from ..auth.models import UserSession, utcnow
from ..crypto import KeyringError, check_keyring_against_database, keyring
from ..extensions import db
from .databases import DUMPERS, RESTORERS, code_heads, database_kind, known_revisions
from .fileformat import (CHUNK_SIZE, FORMAT_VERSION, MAGIC, MAX_CHUNK, SALT_BYTES, BackupError, decrypt_backup,
                         encrypt_stream, file_digest, read_header, workdir, write_atomically)

__all__ = ["BackupError", "CHUNK_SIZE", "MAGIC", "check_compatible", "code_heads", "create_backup",
           "decrypt_backup", "describe", "encrypt_stream", "read_header", "restore_backup", "verify_backup"]


def create_backup(path: str, chunk_size: int = CHUNK_SIZE) -> dict:
    """Dump the configured database and write it encrypted to ``path``; returns the header."""
    if os.path.exists(path):
        raise BackupError(f"{path} exists already; choose a new file name.")
    if not 0 < chunk_size <= MAX_CHUNK:
        raise ValueError("chunk size out of range")
    kr = keyring()
    with workdir(path) as work:
        dump = os.path.join(work, "dump")
        revision = DUMPERS[database_kind()](dump)
        size, digest = file_digest(dump)
        header = {"format": FORMAT_VERSION, "database": database_kind(), "revision": revision,
                  "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "key_id": kr.active,
                  "salt": os.urandom(SALT_BYTES).hex(), "size": size, "sha256": digest}
        write_atomically(path, lambda out: encrypt_stream(dump, out, header, kr, chunk_size))
    audit.record("admin", object_type="database", section="admin", username="cli",
                 details={"change": "backup", "created": header["created"], "sha256": header["sha256"]})
    db.session.commit()
    return header


def verify_backup(path: str) -> dict:
    """Check a backup completely without writing anything; returns its header."""
    return decrypt_backup(path)


def describe(header: dict) -> str:
    return (f"Backup of a {header['database']} database at schema revision {', '.join(header['revision'])}, "
            f"made {header['created']} under data key {header['key_id']}: {header['size']} bytes, "
            f"SHA-256 {header['sha256']}.")


# -- restoring -------------------------------------------------------------------
@dataclass
class RestoreOutcome:
    header: dict
    audit: audit.VerifyResult
    key_problem: str | None
    needs_upgrade: bool

    @property
    def ok(self) -> bool:
        return self.audit.ok and not self.key_problem

    def report(self) -> list[str]:
        lines = [f"Restored the backup made {self.header['created']}. Every log-in has ended: users log in again."]
        if self.audit.ok:
            lines.append(f"Audit chain intact: {self.audit.checked} rows.")
        else:
            lines.append(f"Audit chain BROKEN at row {self.audit.bad_seq}: {self.audit.reason}.")
        lines.append(f"Keys: {self.key_problem}" if self.key_problem else "Keys: the keyring opens this database.")
        if self.needs_upgrade:
            lines.append("The backup has an older schema: run `flask --app victimcare db upgrade` next.")
        return lines


def restore_backup(path: str, confirm=lambda header: True) -> RestoreOutcome | None:
    """Check the whole backup, ask ``confirm(header)``, replace the database, then check the result.

    Nothing touches the database before the backup has been read completely and found intact and
    compatible; a declined confirmation returns None."""
    with workdir(path) as work:
        dump = os.path.join(work, "dump")
        with open(dump, "wb") as out:
            header = decrypt_backup(path, out)
        check_compatible(header)
        if not confirm(header):
            return None
        _release_connections()
        RESTORERS[header["database"]](dump)
    return _after_restore(header)


def check_compatible(header: dict) -> None:
    """Refuse a backup of another database kind, or of a schema this code does not know (newer)."""
    kind = database_kind()
    if header["database"] != kind:
        raise BackupError(f"This is a backup of a {header['database']} database, but the configured database "
                          f"is {kind}: restore it into a {header['database']} database.")
    unknown = sorted(set(header["revision"]) - known_revisions())
    if unknown:
        raise BackupError(f"The backup's schema revision {', '.join(unknown)} is newer than this version of "
                          "victimcare knows: install the version that made the backup, then restore.")


def _after_restore(header: dict) -> RestoreOutcome:
    db.session.remove()
    ended = _end_every_session()
    chain = audit.verify()
    key_problem = _key_problem()
    if key_problem is None:  # the audit key is proven right: the restore itself goes on the chain
        audit.record("admin", object_type="database", section="admin", username="cli",
                     details={"change": "restore", "created": header["created"], "sha256": header["sha256"],
                              "sessions_ended": ended})
        db.session.commit()
    return RestoreOutcome(header, chain, key_problem, set(header["revision"]) != code_heads())


def _end_every_session() -> int:
    """The backup holds the log-ins open when it was made, some ended since (log-out, a password
    change, deactivation): restored, a copied cookie would work again. So nobody stays logged in."""
    ended = db.session.execute(update(UserSession).where(UserSession.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount
    db.session.commit()
    return ended


def _key_problem() -> str | None:
    try:
        check_keyring_against_database(keyring())
    except KeyringError as exc:
        return str(exc)
    return None


def _release_connections() -> None:
    """Our own pooled connections must not hold a lock the restore waits for."""
    db.session.remove()
    db.engine.dispose()
