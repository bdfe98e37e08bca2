"""Installation keys, trusted partner installations, and sealing/opening a handover bundle.

Design (one direction, one recipient, no online exchange):

- Each installation has two private keys in ``instance/transfer_keys.json`` (mode 0600, never in the
  database): an Ed25519 *signing* key and an X25519 *encryption* key. Its public identity is the
  string ``vc1:<ed25519 public>:<x25519 public>`` (base64url), printed by
  ``flask --app victimcare installation-key``; its fingerprint is the first 32 hex digits of
  SHA-256 over both public keys. The other side registers that string as a trusted partner.
- Trusted partners live in ``instance/transfer_partners.json`` (not in the database either: whoever
  can write the database must not be able to add a signer the import would trust).
- Sealing: a fresh ephemeral X25519 key agrees a secret with the recipient's X25519 key; HKDF-SHA256
  (salt = ephemeral public || recipient public, info = "victimcare handover v1") gives a 256-bit key;
  AES-256-GCM encrypts the payload with the canonical header as associated data. The header (format,
  sender, recipient, ephemeral key, nonce, ciphertext) is serialised canonically and signed with the
  sender's Ed25519 key (encrypt-then-sign, so a tampered or forged bundle is refused before any
  decryption). The payload repeats sender and recipient fingerprints, so a signature stripped and
  replaced by another registered partner's does not pass either.
- File: ``<canonical header JSON>\\n<signature base64url>\\n``. Every part is checked strictly
  (canonical re-encoding), so changing any byte of the file is refused.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

FORMAT = "victimcare-handover-1"
IDENTITY_PREFIX = "vc1"
HKDF_INFO = b"victimcare handover v1"
_RAW = serialization.Encoding.Raw


class BundleRefused(Exception):
    """The bundle is not accepted; ``str(exc)`` is a key of views.REFUSALS."""


class TransferKeyError(RuntimeError):
    """The installation's transfer keys cannot be read."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64_strict(text, size: int | None = None) -> bytes:
    """Decode base64url, refusing anything that is not the canonical encoding of its bytes."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text or (size is not None and len(raw) != size):
        raise ValueError("not canonical base64")
    return raw


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def fingerprint(signing_public: bytes, encryption_public: bytes) -> str:
    return hashlib.sha256(signing_public + encryption_public).hexdigest()[:32]


# -- this installation ----------------------------------------------------------------------
@dataclass(frozen=True)
class PublicIdentity:
    signing: bytes      # Ed25519 public key, 32 bytes
    encryption: bytes   # X25519 public key, 32 bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.signing, self.encryption)

    def text(self) -> str:
        return f"{IDENTITY_PREFIX}:{_b64(self.signing)}:{_b64(self.encryption)}"

    @classmethod
    def parse(cls, text: str) -> "PublicIdentity":
        parts = (text or "").strip().split(":")
        if len(parts) != 3 or parts[0] != IDENTITY_PREFIX:
            raise ValueError("not an installation key")
        signing, encryption = _unb64_strict(parts[1], 32), _unb64_strict(parts[2], 32)
        Ed25519PublicKey.from_public_bytes(signing)
        X25519PublicKey.from_public_bytes(encryption)
        return cls(signing, encryption)


@dataclass(frozen=True)
class InstallationKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @property
    def public(self) -> PublicIdentity:
        return PublicIdentity(self.signing.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
                              self.encryption.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))

    def to_dict(self) -> dict:
        private = serialization.PrivateFormat.Raw
        none = serialization.NoEncryption()
        return {"format": "v1",
                "signing_key": _b64(self.signing.private_bytes(_RAW, private, none)),
                "encryption_key": _b64(self.encryption.private_bytes(_RAW, private, none))}

    @classmethod
    def from_dict(cls, raw: dict) -> "InstallationKeys":
        return cls(Ed25519PrivateKey.from_private_bytes(_unb64_strict(raw["signing_key"], 32)),
                   X25519PrivateKey.from_private_bytes(_unb64_strict(raw["encryption_key"], 32)))

    @classmethod
    def generate(cls) -> "InstallationKeys":
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())


def keys_path() -> str:
    return current_app.config.get("TRANSFER_KEYS_FILE") or os.path.join(current_app.instance_path,
                                                                         "transfer_keys.json")


def partners_path() -> str:
    return current_app.config.get("TRANSFER_PARTNERS_FILE") or os.path.join(current_app.instance_path,
                                                                             "transfer_partners.json")


def _write_private(path: str, data: dict) -> None:
    """Atomically, mode 0600 (like the keyring)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".transfer-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def installation_keys(create: bool = True) -> InstallationKeys:
    """This installation's transfer keys, generated on first use (they protect no stored data)."""
    path = keys_path()
    if not os.path.exists(path):
        if not create:
            raise TransferKeyError(f"No transfer keys at {path}.")
        keys = InstallationKeys.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker made them first: read theirs
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(keys.to_dict(), fh, indent=2)
            return keys
    try:
        with open(path, encoding="utf-8") as fh:
            return InstallationKeys.from_dict(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TransferKeyError(f"The transfer keys in {path} cannot be read: {exc}") from exc


# -- trusted partners ----------------------------------------------------------------------
@dataclass(frozen=True)
class Partner:
    name: str
    identity: PublicIdentity
    registered_at: str
    registered_by: str

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint


def partners() -> list[Partner]:
    path = partners_path()
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return [Partner(p["name"], PublicIdentity.parse(p["key"]), p["registered_at"], p["registered_by"])
            for p in raw.get("partners", [])]


def partner(fp: str) -> Partner | None:
    return next((p for p in partners() if p.fingerprint == fp), None)


def register_partner(name: str, key_text: str, registered_at: str, registered_by: str) -> Partner:
    """Add (or rename) a trusted partner installation. ValueError for a malformed or own key."""
    identity = PublicIdentity.parse(key_text)
    if identity == installation_keys().public:
        raise ValueError("own key")
    kept = [p for p in partners() if p.fingerprint != identity.fingerprint]
    new = Partner(name.strip(), identity, registered_at, registered_by)
    _write_private(partners_path(), {"partners": [
        {"name": p.name, "key": p.identity.text(), "registered_at": p.registered_at,
         "registered_by": p.registered_by} for p in [*kept, new]]})
    return new


# -- sealing and opening -----------------------------------------------------------------------
def _aead_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + recipient_public,
                info=HKDF_INFO).derive(shared)


def seal(payload: dict, recipient: PublicIdentity, keys: InstallationKeys) -> bytes:
    sender = keys.public
    payload = {**payload, "sender": sender.fingerprint, "recipient": recipient.fingerprint}
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = _aead_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.encryption)),
                    ephemeral_public, recipient.encryption)
    nonce = os.urandom(12)
    header = {"format": FORMAT, "sender": sender.fingerprint, "sender_key": sender.text(),
              "recipient": recipient.fingerprint, "ephemeral": _b64(ephemeral_public), "nonce": _b64(nonce)}
    sealed = AESGCM(key).encrypt(nonce, canonical(payload), canonical(header))
    body = canonical({**header, "ciphertext": _b64(sealed)})
    return body + b"\n" + _b64(keys.signing.sign(body)).encode("ascii") + b"\n"


def open_bundle(data: bytes, keys: InstallationKeys, trusted: list[Partner]) -> tuple[dict, Partner]:
    """Check and decrypt a bundle; return (payload, sending partner) or raise BundleRefused."""
    header, body, signature = _parse(data)
    if header["recipient"] != keys.public.fingerprint:
        raise BundleRefused("wrong_recipient")
    try:
        sender_identity = PublicIdentity.parse(header["sender_key"])
    except ValueError:
        raise BundleRefused("malformed") from None
    sender = next((p for p in trusted if p.identity == sender_identity), None)
    if sender is None or sender.fingerprint != header["sender"]:
        raise BundleRefused("unknown_signer")
    try:
        Ed25519PublicKey.from_public_bytes(sender.identity.signing).verify(signature, body)
    except InvalidSignature:
        raise BundleRefused("bad_signature") from None
    try:
        ephemeral = _unb64_strict(header["ephemeral"], 32)
        nonce = _unb64_strict(header["nonce"], 12)
        sealed = _unb64_strict(header["ciphertext"])
        key = _aead_key(keys.encryption.exchange(X25519PublicKey.from_public_bytes(ephemeral)), ephemeral,
                        keys.public.encryption)
        plain = AESGCM(key).decrypt(nonce, sealed, canonical({k: v for k, v in header.items()
                                                               if k != "ciphertext"}))
        payload = json.loads(plain.decode("ascii"))
    except (ValueError, InvalidTag, UnicodeDecodeError):
        raise BundleRefused("bad_signature") from None
    if not isinstance(payload, dict) or payload.get("sender") != sender.fingerprint \
            or payload.get("recipient") != keys.public.fingerprint:
        raise BundleRefused("bad_signature")
    return payload, sender


_HEADER_KEYS = {"format", "sender", "sender_key", "recipient", "ephemeral", "nonce", "ciphertext"}


def _parse(data: bytes) -> tuple[dict, bytes, bytes]:
    """Split and check the file's shape: plain JSON data only (json.loads builds no objects but
    dicts, lists and scalars), every field a string, canonical bytes."""
    if not isinstance(data, bytes) or not data.endswith(b"\n") or data.count(b"\n") != 2:
        raise BundleRefused("malformed")
    body, signature_text, _ = data.split(b"\n")
    try:
        header = json.loads(body.decode("ascii"))
        signature = _unb64_strict(signature_text.decode("ascii"), 64)
    except (ValueError, UnicodeDecodeError):
        raise BundleRefused("malformed") from None
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS \
            or not all(isinstance(v, str) for v in header.values()) or canonical(header) != body:
        raise BundleRefused("malformed")
    if header["format"] != FORMAT:
        raise BundleRefused("format")
    return header, body, signature
