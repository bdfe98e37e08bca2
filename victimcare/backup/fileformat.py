"""The backup file: header, key and authenticated chunks.

Layout: ``MAGIC``, a 4-byte header length, the header (JSON: format version, database kind, schema
revision, creation time, key id, HKDF salt, size and SHA-256 of the dump), then frames of
``final flag (1 byte) | length (4 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag``.
Every chunk's associated data is the SHA-256 of the header, the chunk index and the final flag, so
a changed header, reordered or dropped chunks, or a file cut off at a chunk boundary all fail to
decrypt. Both directions stream: one chunk in memory at a time.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import struct
import tempfile

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..crypto import Keyring, keyring

MAGIC = b"victimcare-backup\n"
FORMAT_VERSION = 1
CHUNK_SIZE = 1024 * 1024
MAX_CHUNK = 64 * 1024 * 1024  # a reader never allocates more for one chunk, whatever a length field says
NONCE_BYTES = 12
TAG_BYTES = 16
SALT_BYTES = 16
HEADER_LIMIT = 64 * 1024
HEADER_LENGTH = struct.Struct(">I")
FRAME = struct.Struct(">BI")  # final flag, ciphertext length
HKDF_INFO = b"victimcare backup v1"
HEADER_FIELDS = {"format": int, "database": str, "revision": list, "created": str, "key_id": str,
                 "salt": str, "size": int, "sha256": str}


class BackupError(RuntimeError):
    """The backup cannot be written, read, trusted or restored here; the message says why."""


# -- the key -------------------------------------------------------------------
def backup_key(kr: Keyring, key_id: str, salt: bytes) -> bytes:
    """The AES-256 key of one backup: HKDF-SHA256 from the data key ``key_id``, with the backup's salt.

    Why a data key, named by id in the header: key rotation adds a new active data key and keeps the
    older ones in the keyring (they read unrotated values and old backups: that is the policy), so a
    restore finds the key a backup was made with by its id after any number of rotations. Not the
    audit or blind-index key: they have other jobs, and nothing promises to keep their old versions
    once their rotation is automated. Not a key of its own: one more secret to keep, when the
    keyring must be kept anyway to read the data. HKDF keeps the data key itself out of this use,
    and the random salt gives each backup a key of its own, so chunk nonces cannot repeat across
    backups."""
    key = kr.data_keys.get(key_id)
    if key is None:
        raise BackupError(f"The data key {key_id!r} this backup was made with is not in the keyring "
                          f"({kr.path or 'VICTIMCARE_KEYRING'}). Restore the keyring from your key "
                          "backup: keys are never inside a database backup.")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_INFO).derive(key)


def _chunk_aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, int(final))


# -- writing -------------------------------------------------------------------
def encrypt_stream(plain_path: str, out, header: dict, kr: Keyring, chunk_size: int = CHUNK_SIZE) -> None:
    """Write the header and the dump at ``plain_path`` in authenticated chunks to the open file ``out``."""
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    prefix = MAGIC + HEADER_LENGTH.pack(len(raw)) + raw
    out.write(prefix)
    aead = AESGCM(backup_key(kr, header["key_id"], bytes.fromhex(header["salt"])))
    digest = hashlib.sha256(prefix).digest()
    with open(plain_path, "rb") as plain:
        for index, (block, final) in enumerate(_blocks(plain, chunk_size)):
            nonce = os.urandom(NONCE_BYTES)
            sealed = aead.encrypt(nonce, block, _chunk_aad(digest, index, final))
            out.write(FRAME.pack(int(final), len(sealed)) + nonce + sealed)


def _blocks(fh, size: int):
    """(block, is_last) pairs; always at least one block, so an empty dump still has a final chunk."""
    block = fh.read(size)
    while True:
        following = fh.read(size)
        yield block, not following
        if not following:
            return
        block = following


def write_atomically(path: str, write) -> None:
    """Mode 0600, written to a temporary name and renamed: never a half-written backup under ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".backup-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)  # the rename itself survives a crash
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading and checking --------------------------------------------------------
def read_header(fh) -> tuple[dict, bytes]:
    """The header of an open backup and the SHA-256 that binds it to every chunk."""
    if fh.read(len(MAGIC)) != MAGIC:
        raise BackupError("This is not a victimcare backup file.")
    (length,) = HEADER_LENGTH.unpack(_read_exact(fh, HEADER_LENGTH.size, "header"))
    if length > HEADER_LIMIT:
        raise BackupError("The backup header is damaged.")
    raw = _read_exact(fh, length, "header")
    header = _parse_header(raw)
    return header, hashlib.sha256(MAGIC + HEADER_LENGTH.pack(length) + raw).digest()


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw)
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise BackupError("The backup header is damaged.")
    if header.get("format") != FORMAT_VERSION:
        raise BackupError(f"Backup format {header.get('format')!r} is not one this version of victimcare "
                          f"reads (it reads format {FORMAT_VERSION}).")
    if any(not isinstance(header.get(k), t) for k, t in HEADER_FIELDS.items()) \
            or not all(isinstance(r, str) for r in header["revision"]) \
            or not re.fullmatch(r"[0-9a-f]{%d}" % (2 * SALT_BYTES), header["salt"]):
        raise BackupError("The backup header is damaged or incomplete.")
    return header


def decrypt_backup(path: str, out=None, kr: Keyring | None = None) -> dict:
    """Check every chunk, the final flag and the dump's hash; write the dump to ``out`` if given.

    Raises BackupError on the first problem; ``out`` then holds an unusable part and must be discarded."""
    kr = kr or keyring()
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        header, header_digest = read_header(fh)
        aead = AESGCM(backup_key(kr, header["key_id"], bytes.fromhex(header["salt"])))
        for index, final, nonce, sealed in _frames(fh):
            try:
                block = aead.decrypt(nonce, sealed, _chunk_aad(header_digest, index, final))
            except InvalidTag:
                raise BackupError(f"Chunk {index} of the backup does not decrypt: the file was altered, "
                                  f"or data key {header['key_id']!r} in this keyring is not the one "
                                  "it was made with.") from None
            digest.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
    if size != header["size"] or digest.hexdigest() != header["sha256"]:
        raise BackupError("The decrypted dump does not match the checksum in the backup header.")
    return header


def _frames(fh):
    """(index, final, nonce, ciphertext) per chunk, up to and including the one flagged final."""
    for index in itertools.count():
        head = fh.read(FRAME.size)
        if not head:
            raise BackupError(f"The backup ends after chunk {index - 1} without its final chunk (truncated).")
        final, length = FRAME.unpack(_complete(head, fh, FRAME.size, f"chunk {index}"))
        if final not in (0, 1) or length > MAX_CHUNK + TAG_BYTES:
            raise BackupError(f"Chunk {index} of the backup is damaged.")
        body = _read_exact(fh, NONCE_BYTES + length, f"chunk {index}")
        yield index, bool(final), body[:NONCE_BYTES], body[NONCE_BYTES:]
        if final:
            if fh.read(1):
                raise BackupError("The backup has data after its final chunk.")
            return


def _complete(first: bytes, fh, size: int, what: str) -> bytes:
    return first if len(first) == size else first + _read_exact(fh, size - len(first), what)


def _read_exact(fh, size: int, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise BackupError(f"The backup is truncated (in its {what}).")
    return data


# -- files -----------------------------------------------------------------------------
@contextlib.contextmanager
def workdir(near: str):
    """A private folder (0700) beside ``near`` for the plaintext dump, removed afterwards whatever happens.
    Beside it because that disk has room for a backup; the system's temporary folder if it is read-only
    (a restore from a write-protected medium)."""
    folder = os.path.dirname(os.path.abspath(near))
    if not os.path.isdir(folder):
        raise BackupError(f"Folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        folder = None
    with tempfile.TemporaryDirectory(dir=folder, prefix=".victimcare-backup-") as work:
        yield work


def file_digest(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_SIZE):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
