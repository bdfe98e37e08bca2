"""The keyring at start-up, and key rotation."""
from __future__ import annotations

import logging
import os

from sqlalchemy import inspect, select, update

from .crypto import ENCRYPTED_FIELDS, KeyCheck, Keyring, check_keyring_against_database
from .extensions import db

log = logging.getLogger(__name__)


def load_keyring(app) -> Keyring:
    """Load the keyring and prove it opens this database, or raise KeyringError saying why.

    A missing keyring file is generated only for a database that holds no encrypted
    data yet (a new installation); otherwise the app refuses to start."""
    path = app.config["KEYRING_FILE"]
    inline = app.config.get("KEYRING")
    if inline:
        kr = Keyring.from_dict(inline, "VICTIMCARE_KEYRING")
    elif os.path.exists(path) or not _database_is_new():
        kr = Keyring.load(path)
    else:
        kr = Keyring.generate(path)
        kr.save()
        log.warning("Generated a new keyring at %s. Back it up apart from the database.", path)
    app.extensions["victimcare_keyring"] = kr
    check_keyring_against_database(kr)
    return kr


def _database_is_new() -> bool:
    if not inspect(db.session.connection()).has_table(KeyCheck.__tablename__):
        return True
    return db.session.scalar(select(KeyCheck.key_id).limit(1)) is None


def pending_rotation(kr: Keyring) -> int:
    """How many stored values are not yet under the active key."""
    total = 0
    for model, field in ENCRYPTED_FIELDS:
        column = getattr(model, field.column)
        total += db.session.scalar(
            select(db.func.count()).select_from(model)
            .where(column.is_not(None), field.under_other_key(column, kr)))
    return total


def rotate(kr: Keyring, batch_size: int, progress=None) -> int:
    """Re-encrypt every value not under the active key, a batch per transaction.

    Safe to interrupt: each batch commits on its own, and a re-run picks up the rows
    still under an older key."""
    done = 0
    for model, field in ENCRYPTED_FIELDS:
        column = getattr(model, field.column)
        table = model.__tablename__
        while True:
            rows = db.session.execute(
                select(model.id, column).where(column.is_not(None), field.under_other_key(column, kr))
                .order_by(model.id).limit(min(batch_size, field.rotate_batch or batch_size))).all()
            if not rows:
                break
            for row_id, token in rows:
                aad = f"{table}.{field.name}.{row_id}"
                db.session.execute(update(model).where(model.id == row_id, column == token)
                                   .values({field.column: field.reencrypt(kr, token, aad)})
                                   .execution_options(synchronize_session=False))
            db.session.commit()
            done += len(rows)
            if progress:
                progress(len(rows))
    return done


def start_rotation(kr: Keyring) -> str:
    """Make a new active key, saved to the keyring file before any value uses it."""
    kid = kr.add_active_key()
    kr.save()
    check_keyring_against_database(kr)  # records the new key's check row
    return kid

