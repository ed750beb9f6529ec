"""Segment writer: durable group commit, rotation, repair after a kill, the directory lock."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from mmapi.receiver import SegmentWriter, recover_segment
from mmapi.receiver import segments as segments_module


def _lines(directory: Path) -> list[bytes]:
    found = []
    for path in sorted(directory.glob("webhooks-*.ndjson")):
        found += path.read_bytes().splitlines()
    return found


async def test_segments_group_commit_shares_one_sync_between_many_lines(tmp_path: Path):
    writer = SegmentWriter(tmp_path)
    await writer.start()
    await asyncio.gather(*(writer.append(b'{"n":%d}\n' % n) for n in range(500)))
    await writer.close()

    assert sorted(_lines(tmp_path)) == sorted(b'{"n":%d}' % n for n in range(500))
    assert writer.stats.lines == 500
    assert writer.stats.syncs < 50
    assert writer.stats.largest_group >= 10


async def test_segments_rotate_by_size_and_by_age(tmp_path: Path):
    by_size = SegmentWriter(tmp_path / "size", max_bytes=100)
    await by_size.start()
    for n in range(20):
        await by_size.append(b'{"n":%04d}\n' % n)
    await by_size.close()
    by_age = SegmentWriter(tmp_path / "age", max_seconds=0.05)
    await by_age.start()
    await by_age.append(b"{}\n")
    await asyncio.sleep(0.1)
    await by_age.append(b"{}\n")
    await by_age.close()

    sized = sorted((tmp_path / "size").glob("webhooks-*.ndjson"))
    assert len(sized) == 3
    assert all(path.stat().st_size <= 100 for path in sized)
    assert _lines(tmp_path / "size") == [b'{"n":%04d}' % n for n in range(20)]
    assert len(list((tmp_path / "age").glob("webhooks-*.ndjson"))) == 2


async def test_segments_start_cuts_a_half_written_last_line(tmp_path: Path):
    old = tmp_path / "webhooks-20250101T000000000000Z-0001.ndjson"
    old.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    writer = SegmentWriter(tmp_path)
    await writer.start()
    await writer.append(b'{"d":4}\n')
    await writer.close()

    assert old.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert writer.stats.recovered_bytes == len(b'{"c":')
    assert _lines(tmp_path) == [b'{"a":1}', b'{"b":2}', b'{"d":4}']


def test_recover_segment_without_any_newline_empties_it(tmp_path: Path):
    path = tmp_path / "webhooks-x.ndjson"
    path.write_bytes(b'{"never finished":')

    assert recover_segment(path) == len(b'{"never finished":')
    assert path.read_bytes() == b""
    assert recover_segment(path) == 0


async def test_segments_second_writer_on_the_same_directory_is_refused(tmp_path: Path):
    first = SegmentWriter(tmp_path)
    await first.start()
    try:
        with pytest.raises(BlockingIOError, match="another receiver"):
            await SegmentWriter(tmp_path).start()
    finally:
        await first.close()
    again = SegmentWriter(tmp_path)
    await again.start()
    await again.close()


async def test_segments_failed_sync_refuses_the_group_and_leaves_no_partial_line(
    tmp_path: Path, monkeypatch
):
    writer = SegmentWriter(tmp_path)
    await writer.start()
    await writer.append(b'{"good":1}\n')
    real = os.fdatasync
    calls = {"n": 0}

    def failing_once(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(segments_module.os, "fdatasync", failing_once)
    with pytest.raises(OSError, match="Input/output"):
        await writer.append(b'{"lost":2}\n')
    await writer.append(b'{"good":3}\n')
    await writer.close()

    assert _lines(tmp_path) == [b'{"good":1}', b'{"good":3}']
    assert writer.stats.failures == 1
    assert writer.stats.segments == 2


async def test_segments_append_before_start_or_after_close_is_an_error(tmp_path: Path):
    writer = SegmentWriter(tmp_path)
    with pytest.raises(RuntimeError, match="not running"):
        await writer.append(b"{}\n")
    await writer.start()
    await writer.close()
    with pytest.raises(RuntimeError, match="not running"):
        await writer.append(b"{}\n")
    assert time.monotonic() > 0
