"""The bad-input corpus through the landing: each bad line quarantined with a reason, each good
line around it landed."""

from __future__ import annotations

from pathlib import Path

import pytest
from receiver.bodies import dumps, status, statuses_body
from receiver.corpus import CASES

from .helpers import land_dir, rows, write_lines


def _good(n: int) -> bytes:
    return dumps(statuses_body(status(f"wamid.GOOD{n}", "delivered")))


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, bytes]], dict]:
    """The whole corpus in one file, each case between two good lines, landed once."""
    folder = tmp_path_factory.mktemp("corpus")
    lines: list[bytes] = []
    offsets: list[tuple[int, bytes]] = []
    position = 0
    for number, case in enumerate(CASES):
        for line in (_good(number), case.raw.replace(b"\n", b" ")):
            offsets.append((position, line))
            lines.append(line)
            position += len(line) + 1
    lines.append(_good(len(CASES)))
    path = write_lines(folder / "raw" / "corpus.ndjson", lines)
    summary = land_dir(path, folder / "lake")
    return folder / "lake", offsets, summary


def test_corpus_has_at_least_thirty_kinds_of_bad_input():
    assert len([case for case in CASES if case.landing == "quarantine"]) >= 30


def test_corpus_good_lines_around_bad_ones_all_land(landed):
    out, _, summary = landed
    wamids = {row["wamid"] for row in rows(out, "statuses")}

    assert {f"wamid.GOOD{n}" for n in range(len(CASES) + 1)} <= wamids
    assert summary["careful_files"] == 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_each_case_quarantined_or_landed(landed, case):
    out, offsets, _ = landed
    quarantined = {row["source_offset"]: row for row in rows(out, "quarantine")}
    index = CASES.index(case)
    offset, line = offsets[2 * index + 1]

    if case.landing == "quarantine":
        assert offset in quarantined, f"{case.name} was not quarantined"
        row = quarantined[offset]
        assert case.reason in row["reason"], row["reason"]
        assert row["raw_line"] == line
        assert row["source_file"].endswith("corpus.ndjson")
    else:
        assert offset not in quarantined, quarantined.get(offset, {}).get("reason")
