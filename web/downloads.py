"""Headers for files the viewer hands out: safe download names (RFC 6266), and which types may render inline.

Pure functions. An attachment's name comes from the sender, so it is reduced to a bare, printable file name before
it reaches a header, and its content type is never trusted to decide how a browser treats the bytes.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

#: Content types served inline for ``cid:`` images: raster formats only. SVG is an image that can carry script, so
#: it downloads like any other file.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/pjpeg", "image/webp", "image/bmp"})
#: The longest file name a header carries (in characters, before percent-encoding).
MAX_FILENAME = 150
# What the ASCII fallback keeps as is; anything else becomes "_".
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+,-]")
_SPACES = re.compile(r"\s+")


def safe_filename(name: str | None, fallback: str) -> str:
    """``name`` without path parts, control or format characters, quotes or leading dots; else ``fallback``."""
    if name:
        # The last path part, whatever the separator the sender's system used.
        name = re.split(r"[/\\]", name)[-1]
        # Control and format characters go (a right-to-left override makes "gpj.exe" read as "exe.jpg"), and so
        # do line breaks; other spaces become plain ones.
        name = "".join(" " if unicodedata.category(c) == "Zs" else c for c in name)
        name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
        name = name.replace('"', "").replace("'", "")
        name = _SPACES.sub(" ", name).strip(" .")
        if len(name) > MAX_FILENAME:
            _, dot, ext = name.rpartition(".")
            keep = ext if dot and 0 < len(ext) <= 10 else ""
            name = name[: MAX_FILENAME - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return name or fallback


def ascii_filename(name: str) -> str:
    """An ASCII-only stand-in for ``name``, for clients that ignore ``filename*``: accents dropped, others ``_``."""
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn")
    return _ASCII_UNSAFE.sub("_", decomposed).strip(" .") or "download"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment`` (or ``inline``) with an ASCII ``filename`` and the exact name as ``filename*`` (RFC 6266)."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def base_type(content_type: str) -> str:
    """A content type without its parameters, lower-case: ``image/png`` for ``Image/PNG; name=x``."""
    return content_type.split(";", 1)[0].strip().lower()


def attachment_filename(name: str | None, content_type: str, attachment_id: int) -> str:
    """The download name of an attachment: its own name made safe, else ``attachment-ID`` with a typical extension."""
    extension = mimetypes.guess_extension(base_type(content_type), strict=False) or ".bin"
    return safe_filename(name, f"attachment-{attachment_id}{extension}")


def is_inline_image(content_type: str) -> bool:
    """Whether bytes of this type may be shown inline as an image (raster types only)."""
    return base_type(content_type) in INLINE_IMAGE_TYPES
