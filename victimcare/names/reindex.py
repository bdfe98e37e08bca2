"""`flask --app victimcare reindex`: rebuild every blind index from the encrypted values.

Needed after a pinyin library upgrade (readings change), for people registered before the sound
keys existed (migration 0014 adds the table empty), and as the second half of a future blind-index
key rotation (the keyring holds one index key and start-up refuses a different one, so that rotation
itself is not automated yet). Batches like key rotation (keys.rotate): each
batch is its own transaction, so an interruption loses at most one batch, and a re-run recomputes
everything (it is idempotent). Key rotation's batches select "rows still under an old key", a list
that shrinks; here every row is visited, so batches walk the primary key instead (keyset paging).
"""
from __future__ import annotations

from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select, update

from .. import audit
from ..crypto import ENCRYPTED_FIELDS, Keyring, keyring, normalise_text
from ..extensions import db
from ..people.models import Person, PersonAlias
from .index import index_rows, replace_keys


@dataclass
class Counts:
    rows: int = 0           # rows whose exact indexes were checked
    changed: int = 0        # index values rewritten
    people: int = 0         # people whose sound keys were rebuilt
    sound_keys: int = 0     # sound key rows written


def indexed_fields() -> dict[type, list]:
    """Every encrypted field with an exact blind index, by model."""
    found: dict[type, list] = {}
    for model, field in ENCRYPTED_FIELDS:
        if field.index:
            found.setdefault(model, []).append(field)
    return found


def _batches(model, columns, batch_size: int, lock: bool = False):
    """Rows of ``model`` in primary-key order, ``batch_size`` at a time; the caller commits each."""
    last = ""
    while True:
        query = select(model.id, *columns).where(model.id > last).order_by(model.id).limit(batch_size)
        rows = db.session.execute(query.with_for_update() if lock else query).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def total_rows() -> int:
    models = [*indexed_fields(), Person]
    return sum(db.session.scalar(select(func.count()).select_from(m)) for m in models)


def _exact_index(kr: Keyring, field, table: str, row_id: str, token: str | None) -> str | None:
    if token is None:
        return None
    plain = kr.decrypt(token, f"{table}.{field.name}.{row_id}")
    value = (field.normalise or normalise_text)(plain)
    return kr.blind_index(field.index_domain, value) if plain.strip() else None


def reindex_exact(kr: Keyring, batch_size: int, counts: Counts, progress=None) -> None:
    for model, fields in indexed_fields().items():
        columns = [getattr(model, f.column) for f in fields] + [getattr(model, f.index) for f in fields]
        for rows in _batches(model, columns, batch_size):
            for row in rows:
                row_id, tokens, stored = row[0], row[1:len(fields) + 1], row[len(fields) + 1:]
                for field, token, old in zip(fields, tokens, stored):
                    new = _exact_index(kr, field, model.__tablename__, row_id, token)
                    if new != old:
                        # Only if the value is still the one read: a user's save in between wins.
                        db.session.execute(update(model).where(model.id == row_id,
                                                               getattr(model, field.column) == token)
                                           .values({field.index: new})
                                           .execution_options(synchronize_session=False))
                        counts.changed += 1
            db.session.commit()
            counts.rows += len(rows)
            if progress:
                progress(len(rows))


def reindex_sounds(kr: Keyring, batch_size: int, counts: Counts, progress=None) -> None:
    # The people are locked while their keys are rebuilt (PostgreSQL; SQLite's write lock covers it),
    # so a name saved meanwhile waits and is indexed by its own save, after this batch.
    for rows in _batches(Person, [Person.name_enc], batch_size, lock=True):
        ids = [row_id for row_id, _ in rows]
        aliases: dict[str, list[tuple[str, str]]] = {}
        for alias_id, person_id, token in db.session.execute(
                select(PersonAlias.id, PersonAlias.person_id, PersonAlias.name_enc)
                .where(PersonAlias.person_id.in_(ids), PersonAlias.removed_at.is_(None),
                       PersonAlias.name_enc.is_not(None)).order_by(PersonAlias.created_at)):
            aliases.setdefault(person_id, []).append((alias_id, kr.decrypt(token, f"person_alias.name.{alias_id}")))
        batch = {row_id: index_rows(row_id, token and kr.decrypt(token, f"person.name.{row_id}"),
                                    aliases.get(row_id, []), kr)
                 for row_id, token in rows}
        replace_keys(batch)
        db.session.commit()
        counts.people += len(rows)
        counts.sound_keys += sum(len(r) for r in batch.values())
        if progress:
            progress(len(rows))


def reindex(batch_size: int, progress=None) -> Counts:
    """Rebuild the exact indexes, then the sound keys, and audit the run once with its counts."""
    kr, counts = keyring(), Counts()
    reindex_exact(kr, batch_size, counts, progress)
    reindex_sounds(kr, batch_size, counts, progress)
    audit.record("admin", section="admin", username="cli",
                 details={"change": "reindex", "rows": counts.rows, "changed": counts.changed,
                          "people": counts.people, "sound_keys": counts.sound_keys})
    db.session.commit()
    return counts


@click.command("reindex")
@click.option("--batch-size", default=None, type=int, help="Rows per transaction.")
@with_appcontext
def reindex_command(batch_size):
    """Rebuild every blind index (exact search and names by sound) from the encrypted values, in
    batches. Run it after upgrading from a version without sound keys or after a pinyin library
    upgrade. Safe to interrupt
    and re-run: every batch commits on its own and a re-run recomputes everything."""
    batch = batch_size or current_app.config["KEY_ROTATION_BATCH"]
    total = total_rows()
    db.session.commit()
    with click.progressbar(length=total, label="Re-indexing") as bar:
        counts = reindex(batch, progress=bar.update)
    click.echo(f"Done: {counts.rows} rows checked, {counts.changed} exact index values rewritten; "
               f"sound keys rebuilt for {counts.people} people ({counts.sound_keys} keys).")
