"""Lines of raw files for the careful path: framing, and splicing each line's offset into it.

The fast path hands whole files to DuckDB and never looks at lines. When a file holds a line
DuckDB cannot read, or a line that breaks a rule, the file is read here line by line: each
non-blank line gets its byte offset, and the lines that are JSON objects are rewritten with
the offset as their first key (`{"_mmflow_offset":123,...}`), so the same SQL can name the
line of every problem it finds.
"""

from __future__ import annotations

from pathlib import Path

from .schema import OFFSET_KEY

__all__ = ["BLANK_BYTES", "frame_lines", "read_line_at", "splice_offset"]

# What DuckDB's NDJSON reader skips as an empty line.
BLANK_BYTES = b" \t\r\x0b\x0c"
_WHITESPACE = b" \t\r\n\x0b\x0c"
_PREFIX = b'{"' + OFFSET_KEY.encode() + b'":'


def frame_lines(data: bytes, base_offset: int = 0) -> list[tuple[int, bytes]]:
    """The non-blank lines of `data` with their byte offsets.

    Args:
        data: Bytes of complete lines (a last line without a newline counts as complete).
        base_offset: Offset of `data[0]` in its file.

    Returns:
        `(offset, line)` pairs, the line without its newline.

    Example:
        >>> frame_lines(b'{"a":1}\\n\\n  \\n{"b":2}\\n', 100)
        [(100, b'{"a":1}'), (112, b'{"b":2}')]
    """
    lines = []
    offset = base_offset
    for line in data.split(b"\n"):
        if line.strip(BLANK_BYTES):
            lines.append((offset, line))
        offset += len(line) + 1
    return lines


def splice_offset(line: bytes, offset: int) -> bytes:
    """A JSON object line with `"_mmflow_offset": offset` added as its first key.

    Args:
        line: A line holding one JSON object (checked before).
        offset: The line's byte offset.

    Returns:
        The line rewritten (without a newline).

    Example:
        >>> splice_offset(b' {"a":1} ', 7), splice_offset(b'{ }', 8)
        (b'{"_mmflow_offset":7,"a":1}', b'{"_mmflow_offset":8}')
    """
    inner = line.strip(_WHITESPACE)[1:]
    head = _PREFIX + str(offset).encode()
    if inner.lstrip(_WHITESPACE).startswith(b"}"):
        return head + b"}"
    return head + b"," + inner


def read_line_at(path: Path, position: int) -> bytes:
    """The line starting at byte `position` of a local file, without its newline."""
    with path.open("rb") as handle:
        handle.seek(position)
        return handle.readline().rstrip(b"\n")
