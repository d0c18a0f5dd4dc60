"""A ticket's photo (现场照片): which files are accepted, decided by their content.

The type comes from the file's first bytes (its "magic number"), never from its name or the
type the browser claims; the size is capped at :data:`PHOTO_MAX_BYTES`. Photos are stored in
the ticket database (``ticket_attachments``, keyed by ticket id and number), never as files
named after anything a user typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TicketError

#: The largest photo accepted (bytes): 5 MB, enough for a phone photo of a stairwell.
PHOTO_MAX_BYTES = 5 * 2**20

#: The accepted types: MIME type → file name suffix (for a download).
PHOTO_TYPES: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class PhotoError(TicketError):
    """A photo that is not accepted: too large, empty, or not a JPEG, PNG or WebP image.

    Parameters
    ----------
    reason
        ``"too_large"``, ``"empty"`` or ``"type"`` (the interface words it in the user's
        language).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Photo:
    """One stored photo of a ticket."""

    ticket_id: str
    seq: int
    mime: str
    size: int
    data: bytes


def photo_type(data: bytes) -> str | None:
    """The MIME type of an image by its first bytes (``None``: not JPEG, PNG or WebP)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: object, where: str = "") -> str:
    """The MIME type of an acceptable photo.

    Raises
    ------
    PhotoError
        Not bytes, empty, larger than :data:`PHOTO_MAX_BYTES`, or not a JPEG/PNG/WebP by
        its content.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PhotoError("type", f"{where}photo must be the file's bytes")
    data = bytes(data)
    if not data:
        raise PhotoError("empty", f"{where}photo is empty")
    if len(data) > PHOTO_MAX_BYTES:
        raise PhotoError("too_large", f"{where}photo is {len(data)} bytes; at most "
                         f"{PHOTO_MAX_BYTES} ({PHOTO_MAX_BYTES // 2**20} MB) are allowed")
    mime = photo_type(data)
    if mime is None:
        raise PhotoError("type", f"{where}photo is not a JPEG, PNG or WebP image")
    return mime
