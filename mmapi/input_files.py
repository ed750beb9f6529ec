"""Files people hand the pipeline (spec, rate card, suppression list): checked before use.

Each check ends in one line naming the file (and the line where there is one), raised as the
caller's own error class, so a wrong file never costs a traceback, gigabytes of memory, or a
silently misread value:

- missing, not a regular file, or empty;
- bigger than the caller's cap (`mmapi.settings.MAX_*_BYTES`), checked before reading;
- not UTF-8 text: UTF-16/UTF-32 (byte order mark or NUL bytes), Latin-1 or Windows-1252
  bytes, binary data. A UTF-8 byte order mark (Excel's "CSV UTF-8") is accepted and dropped.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "spec.yaml"
    >>> _ = path.write_bytes("campaign_id: café".encode("latin-1"))
    >>> read_text(path, what="campaign spec", max_bytes=1024, error=ValueError)
    Traceback (most recent call last):
    ...
    ValueError: .../spec.yaml: line 1: not UTF-8 text (byte 0xe9 at offset 16; Latin-1 or Windows-1252?): save the campaign spec as UTF-8
"""  # noqa: E501 - the doctest's expected line is one line

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

__all__ = ["check_file", "check_text_encoding", "read_text"]

_UTF16_32_BOMS = (
    codecs.BOM_UTF32_LE,  # before UTF-16 LE: it starts with the same two bytes
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)
_CHUNK_BYTES = 1 << 20


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB" if size >= 1 << 20 else f"{size:,} bytes"


def check_file(
    path: Path, *, what: str, max_bytes: int, error: type[Exception], name: str | None = None
) -> int:
    """Check that `path` is a non-empty regular file of at most `max_bytes`.

    Args:
        path: The file.
        what: What the file is, for the message ("rate card").
        max_bytes: The size cap.
        error: The exception class to raise.
        name: How messages name the file (default: its path), e.g. the URL it was copied from.

    Returns:
        The file's size in bytes.

    Raises:
        error: not found, not a file, empty, or over the cap.
    """
    shown = name or path
    if not path.exists():
        raise error(f"{shown}: {what} not found")
    if not path.is_file():
        raise error(f"{shown}: {what} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise error(f"{shown}: {what} is empty")
    if size > max_bytes:
        raise error(
            f"{shown}: {what} is {_size_text(size)}, over the {_size_text(max_bytes)} limit; "
            "is it the right file?"
        )
    return size


def _not_utf8(path: Path | str, what: str, head: bytes, error: type[Exception]) -> Exception | None:
    """The error for a file starting with `head` that is UTF-16/32 or binary, else None."""
    if head.startswith(_UTF16_32_BOMS):
        return error(f"{path}: {what} is UTF-16 or UTF-32 text: save it as UTF-8")
    if b"\x00" in head:
        return error(
            f"{path}: {what} holds NUL bytes (binary data, or UTF-16 without a byte order "
            "mark): save it as UTF-8 text"
        )
    return None


def _decode_error(
    path: Path | str, what: str, exc: UnicodeDecodeError, offset: int, lines_before: int
) -> str:
    bad = exc.object[exc.start]
    return (
        f"{path}: line {lines_before + 1}: not UTF-8 text (byte 0x{bad:02x} at offset "
        f"{offset + exc.start}; Latin-1 or Windows-1252?): save the {what} as UTF-8"
    )


def read_text(
    path: Path, *, what: str, max_bytes: int, error: type[Exception], name: str | None = None
) -> str:
    """Read a small UTF-8 text file (a spec, a rate card) after the checks above.

    Args:
        path: The file.
        what: What the file is, for messages.
        max_bytes: The size cap.
        error: The exception class to raise.
        name: How messages name the file (default: its path), e.g. the URL it was copied from.

    Returns:
        The text, without a UTF-8 byte order mark.

    Raises:
        error: any check failed; the message names the file (and the line of a bad byte).
    """
    path = Path(path)
    shown = name or path
    check_file(path, what=what, max_bytes=max_bytes, error=error, name=name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{shown}: cannot read the {what} ({exc.strerror})") from None
    problem = _not_utf8(shown, what, data[:_CHUNK_BYTES], error)
    if problem is None and b"\x00" in data:
        problem = _not_utf8(shown, what, b"\x00", error)
    if problem is not None:
        raise problem
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lines = data.count(b"\n", 0, exc.start)
        raise error(_decode_error(shown, what, exc, 0, lines)) from None


def check_text_encoding(
    path: Path, *, what: str, max_bytes: int, error: type[Exception], name: str | None = None
) -> None:
    """Check a possibly large text file (`.gz` decompressed) is UTF-8, reading it in chunks.

    Memory stays at one chunk whatever the size; a gzip file is also held to `max_bytes`
    once decompressed, so a small archive cannot unpack into gigabytes.

    Args:
        path: The file (`.gz` is read decompressed).
        what: What the file is, for messages.
        max_bytes: The size cap (of the file, and of its decompressed text).
        error: The exception class to raise.
        name: How messages name the file (default: its path), e.g. the URL it was copied from.

    Raises:
        error: any check failed; the message names the file (and the line of a bad byte).
    """
    path = Path(path)
    shown = name or path
    check_file(path, what=what, max_bytes=max_bytes, error=error, name=name)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                problem = _not_utf8(shown, what, chunk, error)
                if problem is not None:
                    raise problem
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    before = lines + chunk.count(b"\n", 0, exc.start)
                    message = _decode_error(shown, what, exc, offset, before)
                    raise error(message) from None
                offset += len(chunk)
                lines += chunk.count(b"\n")
                if offset > max_bytes:
                    raise error(
                        f"{shown}: {what} unpacks to over {_size_text(max_bytes)}, the limit"
                    )
            decoder.decode(b"", final=True)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise error(f"{shown}: cannot read the {what} ({exc})") from None
    except UnicodeDecodeError:
        raise error(f"{shown}: {what} ends inside a UTF-8 character: save it as UTF-8") from None
