"""Keyring, field encryption, blind indexes and key rotation.

Stored form of an encrypted value: ``v1.<key id>.<base64url(nonce || ciphertext)>``.
The associated data binds each value to ``<table>.<column>.<row id>`` so a
ciphertext copied into another row or column fails to decrypt.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass, field

import click
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import LargeBinary, String, Text, func, inspect, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
INDEX_BYTES = 16  # blind indexes are truncated HMAC-SHA256: 128 bits


class KeyringError(click.ClickException):
    """The keyring is missing, incomplete or does not match the data. A ClickException, so that a
    `flask --app victimcare ...` command refuses with one line naming the key, not a traceback."""


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with the keyring."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


@dataclass
class Keyring:
    data_keys: dict[str, bytes]
    active: str
    index_key: bytes
    audit_key: bytes
    path: str | None = field(default=None, compare=False)

    @classmethod
    def generate(cls, path: str | None = None) -> "Keyring":
        kid = new_key_id()
        return cls({kid: AESGCM.generate_key(256)}, kid, secrets.token_bytes(KEY_BYTES),
                   secrets.token_bytes(KEY_BYTES), path)

    @classmethod
    def load(cls, path: str) -> "Keyring":
        if not os.path.exists(path):
            raise KeyringError(
                f"Keyring file {path} is missing: the data keys, the blind-index key and the "
                "audit key are all absent. Restore it from your key backup. (A new installation, "
                "whose database holds no encrypted data yet, gets a keyring generated at first start.)")
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
        except (OSError, ValueError) as exc:
            raise KeyringError(f"Keyring file {path} cannot be read: {exc}") from exc
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: dict, path: str | None = None) -> "Keyring":
        where = path or "the keyring"
        data = raw.get("data_keys") or {}
        if not data:
            raise KeyringError(f"No data keys in {where} (\"data_keys\" is missing or empty).")
        keys = {kid: _decode_key(value, f"data key {kid!r}", where) for kid, value in data.items()}
        active = raw.get("active")
        if active not in keys:
            raise KeyringError(f"The active data key {active!r} named in {where} is missing.")
        index_key = _decode_key(raw.get("index_key"), "blind-index key (\"index_key\")", where)
        audit_key = _decode_key(raw.get("audit_key"), "audit key (\"audit_key\")", where)
        return cls(keys, active, index_key, audit_key, path)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "active": self.active,
            "data_keys": {kid: _b64(key) for kid, key in self.data_keys.items()},
            "index_key": _b64(self.index_key),
            "audit_key": _b64(self.audit_key),
        }

    def save(self, path: str | None = None) -> None:
        """Write atomically with mode 0600: a crash leaves the old file or the new one."""
        path = path or self.path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keys-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.path = path

    def add_active_key(self) -> str:
        kid = new_key_id()
        self.data_keys[kid] = AESGCM.generate_key(256)
        self.active = kid
        return kid

    # -- field encryption -------------------------------------------------
    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.data_keys[self.active]).encrypt(
            nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return f"{FORMAT}.{self.active}.{_b64(nonce + sealed)}"

    def decrypt(self, token: str, aad: str) -> str:
        try:
            version, kid, body = token.split(".", 2)
        except ValueError:
            raise DecryptionError(f"Malformed encrypted value for {aad}") from None
        if version != FORMAT:
            raise DecryptionError(f"Unknown encryption format {version!r} for {aad}")
        key = self.data_keys.get(kid)
        if key is None:
            raise DecryptionError(f"Data key {kid!r} needed for {aad} is not in the keyring")
        raw = _unb64(body)
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag:
            raise DecryptionError(f"Value for {aad} does not decrypt (tampered, moved or wrong key)") from None
        return plain.decode("utf-8")

    # Binary values (attachments) in a LargeBinary column: b"v1.<key id>." || nonce || ciphertext,
    # the same key ids and associated data as text values, without the base64 overhead.
    def encrypt_bytes(self, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.data_keys[self.active]).encrypt(nonce, plaintext, aad.encode("utf-8"))
        return f"{FORMAT}.{self.active}.".encode("ascii") + nonce + sealed

    def decrypt_bytes(self, blob: bytes, aad: str) -> bytes:
        version, _, rest = bytes(blob).partition(b".")
        kid, _, raw = rest.partition(b".")
        if version != FORMAT.encode("ascii") or not kid or len(raw) < NONCE_BYTES:
            raise DecryptionError(f"Malformed encrypted value for {aad}")
        key = self.data_keys.get(kid.decode("ascii", "replace"))
        if key is None:
            raise DecryptionError(f"Data key {kid.decode('ascii', 'replace')!r} needed for {aad} is not in the keyring")
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag:
            raise DecryptionError(f"Value for {aad} does not decrypt (tampered, moved or wrong key)") from None

    # -- blind indexes and MACs ---------------------------------------------
    def blind_index(self, domain: str, value: str) -> str:
        msg = f"{domain}\x1f{value}".encode("utf-8")
        return hmac.new(self.index_key, msg, hashlib.sha256).hexdigest()[: INDEX_BYTES * 2]

    def audit_mac(self, message: bytes) -> str:
        return hmac.new(self.audit_key, message, hashlib.sha256).hexdigest()


def _decode_key(value, label: str, where: str) -> bytes:
    if not value:
        raise KeyringError(f"The {label} is missing from {where}.")
    try:
        key = _unb64(value)
    except (ValueError, TypeError):
        raise KeyringError(f"The {label} in {where} is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"The {label} in {where} must be {KEY_BYTES} bytes, not {len(key)}.")
    return key


def key_id_of(token: str | None) -> str | None:
    return token.split(".", 2)[1] if token else None


def keyring() -> Keyring:
    return current_app.extensions["victimcare_keyring"]


def normalise_text(value: str) -> str:
    """The form a value is indexed in: NFKC, single spaces, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()


def normalise_compact(value: str) -> str:
    """For identifiers (ID numbers, case numbers): no spaces at all, upper case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def blind_index(domain: str, value: str | None, normalise=normalise_text) -> str | None:
    if value is None or not str(value).strip():
        return None
    return keyring().blind_index(domain, normalise(str(value)))


# -- the attribute layer ---------------------------------------------------
ENCRYPTED_FIELDS: list[tuple[type, "Encrypted"]] = []

_CODECS = {
    str: (lambda v: v, lambda s: s),
    dt.date: (lambda v: v.isoformat(), dt.date.fromisoformat),
}


class Encrypted:
    """A model attribute stored encrypted in the column ``<name>_enc``.

    Reading decrypts (cached per object until the ciphertext changes); writing
    encrypts under the active key and, if ``index`` names a column, stores the
    blind index of the value in the same step. The row id must be known before
    the value is set, so models using this have client-generated ids.
    """

    def __init__(self, kind=str, index: str | None = None, index_domain: str | None = None,
                 normalise=normalise_text):
        self.kind = kind
        self.index = index
        self.index_domain = index_domain
        self.normalise = normalise

    def __set_name__(self, owner, name):
        self.name = name
        self.column = f"{name}_enc"
        self.index_domain = self.index_domain or name
        ENCRYPTED_FIELDS.append((owner, self))

    def aad(self, obj) -> str:
        return f"{obj.__tablename__}.{self.name}.{obj.id}"

    # -- what key rotation asks of a field (keys.py), so binary fields rotate too --
    rotate_batch: int | None = None  # at most this many rows per rotation batch (None: the caller's)

    def under_other_key(self, column, kr: "Keyring"):
        """A where-clause: the stored value is not under the active key."""
        return ~column.startswith(f"{FORMAT}.{kr.active}.", autoescape=True)

    def reencrypt(self, kr: "Keyring", token, aad: str):
        return kr.encrypt(kr.decrypt(token, aad), aad)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        token = getattr(obj, self.column)
        if token is None:
            return None
        cache = obj.__dict__.setdefault("_decrypted", {})
        hit = cache.get(self.name)
        if hit is not None and hit[0] == token:
            return hit[1]
        value = _CODECS[self.kind][1](keyring().decrypt(token, self.aad(obj)))
        cache[self.name] = (token, value)
        return value

    def __set__(self, obj, value):
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            setattr(obj, self.column, None)
            if self.index:
                setattr(obj, self.index, None)
            return
        if getattr(obj, "id", None) is None:
            obj.id = new_row_id()
        setattr(obj, self.column, keyring().encrypt(_CODECS[self.kind][0](value), self.aad(obj)))
        if self.index:
            setattr(obj, self.index, blind_index(self.index_domain, _CODECS[self.kind][0](value),
                                                 self.normalise))


class EncryptedBytes(Encrypted):
    """A binary value (an attachment's content) stored encrypted in the LargeBinary column
    ``<name>_enc``. Not cached: the value may be megabytes, and it is read once per download."""

    rotate_batch = 4  # rows of up to ATTACHMENT_MAX_BYTES each: keep a rotation batch small in memory

    def __init__(self):
        super().__init__(kind=bytes)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        blob = getattr(obj, self.column)
        return None if blob is None else keyring().decrypt_bytes(blob, self.aad(obj))

    def __set__(self, obj, value):
        if not value:
            setattr(obj, self.column, None)
            return
        if getattr(obj, "id", None) is None:
            obj.id = new_row_id()
        setattr(obj, self.column, keyring().encrypt_bytes(bytes(value), self.aad(obj)))

    def under_other_key(self, column, kr: "Keyring"):
        prefix = f"{FORMAT}.{kr.active}.".encode("ascii")
        return func.substr(column, 1, len(prefix)) != literal(prefix, LargeBinary)

    def reencrypt(self, kr: "Keyring", token, aad: str):
        return kr.encrypt_bytes(kr.decrypt_bytes(token, aad), aad)


def plausible_row_id(value: str) -> bool:
    """Could a URL's id name a row? Longer than an id, or with a NUL byte (which PostgreSQL refuses
    even in a query: a server error), it names none."""
    return len(value) <= 32 and "\x00" not in value


def new_row_id() -> str:
    """Random, unguessable row ids, known before INSERT (they are in the associated data)."""
    return secrets.token_hex(16)


def id_column() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_row_id)


def enc_column() -> Mapped[str | None]:
    return mapped_column(Text, nullable=True)


def index_column() -> Mapped[str | None]:
    return mapped_column(String(INDEX_BYTES * 2), nullable=True, index=True)


# -- start-up check ----------------------------------------------------------
class KeyCheck(db.Model):
    """One row per key that has ever protected data: proves the keyring still opens it."""
    __tablename__ = "key_check"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(Text)


_CHECK_TEXT = "victimcare key check"


def _expected_mac(kr: Keyring, key_id: str) -> str:
    if key_id == "index":
        return kr.blind_index("key_check", _CHECK_TEXT)
    return kr.audit_mac(_CHECK_TEXT.encode())


def check_keyring_against_database(kr: Keyring) -> None:
    """Raise KeyringError naming the key that is absent or does not open the data."""
    # The session's own connection: on SQLite a second connection would wait for the write
    # lock this session may already hold (every transaction begins IMMEDIATE), i.e. forever.
    if not inspect(db.session.connection()).has_table(KeyCheck.__tablename__):
        return  # database not migrated yet (e.g. during `flask db upgrade`)
    where = kr.path or "the keyring"
    rows = {row.key_id: row.token for row in db.session.scalars(select(KeyCheck))}
    for key_id, token in rows.items():
        if key_id in ("index", "audit"):
            if not hmac.compare_digest(token, _expected_mac(kr, key_id)):
                label = "blind-index key" if key_id == "index" else "audit key"
                raise KeyringError(f"The {label} in {where} is not the one this database was written with.")
            continue
        if key_id not in kr.data_keys:
            raise KeyringError(f"Data key {key_id!r}, which encrypted data in this database, "
                               f"is missing from {where}.")
        try:
            kr.decrypt(token, f"key_check.{key_id}")
        except DecryptionError:
            raise KeyringError(f"Data key {key_id!r} in {where} does not decrypt this database's "
                               "data (wrong key).") from None
    _record_missing_checks(kr, rows)


def _record_missing_checks(kr: Keyring, rows: dict) -> None:
    missing = {}
    if kr.active not in rows:
        missing[kr.active] = kr.encrypt(_CHECK_TEXT, f"key_check.{kr.active}")
    for key_id in ("index", "audit"):
        if key_id not in rows:
            missing[key_id] = _expected_mac(kr, key_id)
    if not missing:
        db.session.rollback()
        return
    try:
        db.session.add_all(KeyCheck(key_id=k, token=t) for k, t in missing.items())
        db.session.commit()
    except IntegrityError:  # another worker recorded it first
        db.session.rollback()
