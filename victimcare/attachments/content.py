"""What an uploaded file really is, judged from its content alone (never its name or the browser's
Content-Type): the first bytes say which type it claims to be, then the file is walked and parsed as
that type. Images are decoded and saved again, which drops their metadata (EXIF: camera, time and GPS
position, which can reveal where a shelter is) and anything hidden after the picture (polyglots).

Pillow alone cannot be trusted to notice a truncated image here: WeasyPrint sets
``ImageFile.LOAD_TRUNCATED_IMAGES = True`` for the whole process when it is imported. So the structure
of each type is walked by hand first (JPEG markers to the end-of-image marker, PNG chunks with their
checksums to IEND, the RIFF length of WebP)."""
from __future__ import annotations

import io
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from urllib.parse import quote

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject


@dataclass(frozen=True)
class FileType:
    media_type: str
    extensions: tuple[str, ...]
    pillow: str | None = None  # Pillow's format name; None: not an image


TYPES = {
    "pdf": FileType("application/pdf", (".pdf",)),
    "jpeg": FileType("image/jpeg", (".jpg", ".jpeg"), "JPEG"),
    "png": FileType("image/png", (".png",), "PNG"),
    "webp": FileType("image/webp", (".webp",), "WEBP"),
}
BY_MEDIA_TYPE = {t.media_type: t for t in TYPES.values()}

NOT_ALLOWED = _l("This file is not a PDF, JPEG, PNG or WebP file (judged by its content, not its name). "
                 "Scan or save it as PDF, or as a photo, and try again.")
DAMAGED_IMAGE = _l("This image is damaged or incomplete and cannot be opened. Save or export it again and "
                   "try again.")
DAMAGED_PDF = _l("This PDF is damaged, incomplete or has something appended to it. Save or print it to "
                 "PDF again and try again.")
ENCRYPTED_PDF = _l("This PDF is password-protected, so its content cannot be checked. Remove the password "
                   "and try again.")
ACTIVE_PDF = _l("This PDF contains scripts, embedded files or other active content, which are not accepted. "
                "Print it to PDF again (which drops them) and try again.")
TOO_MANY_PIXELS = _l("This image has too many pixels (at most %(mp)d million). Make it smaller and try again.")

# PDF names that run something, open something or carry another file. A scanned or printed document
# has none of them.
ACTIVE_PDF_NAMES = frozenset({"/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/EmbeddedFiles",
                              "/RichMedia", "/XFA", "/SubmitForm", "/ImportData", "/GoToE", "/Sound",
                              "/Movie"})
MAX_PDF_OBJECTS = 200_000


class Refused(ValueError):
    """The file is not accepted; ``message`` says why, for the form."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Checked:
    type: FileType
    data: bytes  # what is stored: the PDF as uploaded, or the image saved again without metadata


def sniff(data: bytes) -> str | None:
    """The type the first bytes claim (a key of TYPES), or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check(data: bytes, max_pixels: int) -> Checked:
    """Accept ``data`` as one of TYPES, or raise Refused."""
    key = sniff(data)
    if key is None:
        raise Refused(NOT_ALLOWED)
    if key == "pdf":
        _check_pdf(data)
        return Checked(TYPES["pdf"], data)
    return Checked(TYPES[key], _clean_image(data, key, max_pixels))


# -- images --------------------------------------------------------------------------------------
def _jpeg_complete(data: bytes) -> bool:
    """Walk the markers from start-of-image to end-of-image; False when the data ends first."""
    pos, size = 2, len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if pos + 4 > size:
            return False
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2:
            return False
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while pos + 1 < size and not (data[pos] == 0xFF and data[pos + 1] not in (0x00, *range(0xD0, 0xD8))):
                pos += 1
    return False


def _png_complete(data: bytes) -> bool:
    """Every chunk whole with a correct checksum, up to IEND."""
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > size or zlib.crc32(data[pos + 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            return False
        if kind == b"IEND":
            return True
        pos = end + 4
    return False


def _webp_complete(data: bytes) -> bool:
    return len(data) >= 8 + struct.unpack("<I", data[4:8])[0]


_COMPLETE = {"jpeg": _jpeg_complete, "png": _png_complete, "webp": _webp_complete}


def _clean_image(data: bytes, key: str, max_pixels: int) -> bytes:
    kind = TYPES[key]
    if not _COMPLETE[key](data):
        raise Refused(DAMAGED_IMAGE)
    try:
        with Image.open(io.BytesIO(data), formats=[kind.pillow]) as probe:
            if probe.width * probe.height > max_pixels:
                raise Refused(TOO_MANY_PIXELS % {"mp": max_pixels // 1_000_000})
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[kind.pillow]) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # the EXIF orientation is about to be dropped
            return _save_without_metadata(upright, kind)
    except Refused:
        raise
    except Exception:  # noqa: BLE001 - hostile input: whatever Pillow raises, the answer is "damaged"
        raise Refused(DAMAGED_IMAGE) from None


def _save_without_metadata(image: Image.Image, kind: FileType) -> bytes:
    # Savers take EXIF, XMP, ICC profiles and comments from image.info; keep only what the pixels need.
    image.info = {k: v for k, v in image.info.items() if k == "transparency"}
    out = io.BytesIO()
    if kind.pillow == "JPEG":
        image.save(out, "JPEG", quality=90)
    elif kind.pillow == "WEBP":
        image.save(out, "WEBP", quality=90)
    else:
        image.save(out, "PNG")
    return out.getvalue()


# -- PDF -----------------------------------------------------------------------------------------
def _check_pdf(data: bytes) -> None:
    # Nothing after the last end-of-file marker: that is where a second file of another type hides.
    if not data.rstrip(b"\r\n\t \f").endswith(b"%%EOF"):
        raise Refused(DAMAGED_PDF)
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise Refused(ENCRYPTED_PDF)
        if len(reader.pages) < 1:
            raise Refused(DAMAGED_PDF)
        if _has_active_content(reader):
            raise Refused(ACTIVE_PDF)
    except Refused:
        raise
    except Exception:  # noqa: BLE001 - hostile input: whatever pypdf raises, the answer is "damaged"
        raise Refused(DAMAGED_PDF) from None


def _pdf_objects(reader: PdfReader):
    yield reader.trailer
    references = {(num, gen) for gen, by_number in reader.xref.items() for num in by_number}
    references |= {(num, 0) for num in reader.xref_objStm}
    if len(references) > MAX_PDF_OBJECTS:
        raise Refused(DAMAGED_PDF)
    for num, gen in sorted(references):
        yield reader.get_object(IndirectObject(num, gen, reader))


def _has_active_content(reader: PdfReader) -> bool:
    """Look at every object of the file (names are compared decoded, so #xx escapes do not hide them)."""
    for obj in _pdf_objects(reader):
        stack = [obj]
        while stack:
            item = stack.pop()
            if isinstance(item, NameObject) and item in ACTIVE_PDF_NAMES:
                return True
            if isinstance(item, DictionaryObject):  # stream objects are dictionaries too
                stack.extend(NameObject(k) for k in item.keys())
                stack.extend(item.values())
            elif isinstance(item, ArrayObject):
                stack.extend(item)
    return False


# -- file names ----------------------------------------------------------------------------------
MAX_NAME = 120
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
UNSAFE_NAME = _l("The file name contains path parts, control characters or characters that reverse the text "
                 "direction. Rename the file and try again.")


def unsafe_name(raw: str | None) -> bool:
    """Names no browser sends for a file a user picked: path parts, control characters, or the
    direction overrides that make "photo" + U+202E + "gpj.exe" read as "photoexe.jpg". Refused, not repaired."""
    name = raw or ""
    return name.strip() in (".", "..") or any(
        ch in "/\\" or ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc" for ch in name)


def display_name(raw: str | None) -> str:
    """The uploaded name as display text: the last path part only, no control or direction-changing
    characters, no characters Windows refuses, at most MAX_NAME characters (keeping the extension).
    Never used as a path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # Cc, Cf (U+202E...), Cs, Co, Cn
    name = re.split(r"[\\/]", name)[-1]
    name = _WINDOWS_RESERVED.sub("_", " ".join(name.split())).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if dot and 0 < len(ext) <= 8 else ""
        name = (stem if ext else name)[:MAX_NAME - len(ext)].rstrip(" .") + ext
    return name


def download_name(name: str | None, kind: FileType) -> str:
    """The name a download is saved under: the display name with the extension of its real type."""
    name = name or "attachment"
    stem, dot, ext = name.rpartition(".")
    if dot and "." + ext.lower() in kind.extensions:
        return name
    if dot and stem and ext.isalnum() and len(ext) <= 8:
        name = stem
    return name + kind.extensions[0]


def content_disposition(disposition: str, name: str) -> str:
    """``attachment`` or ``inline`` with the name twice (RFC 6266): ``filename*`` in UTF-8 (RFC 5987)
    for every current browser, and an ASCII ``filename`` for the rest, never empty or hidden (a name
    of Chinese characters alone becomes "attachment.pdf", not ".pdf")."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^A-Za-z0-9 ._()+-]", "", folded).strip(" .") or "attachment"
    fallback = folded + (dot + re.sub(r"[^A-Za-z0-9]", "", ext) if ext else "")
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
