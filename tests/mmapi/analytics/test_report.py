"""The whole report: against the sandbox's ground truth, the HTML, atomic and repeatable."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmapi.analytics import (
    DATABASE_NAME,
    EXPORTED_TABLES,
    TABLES,
    ReportSettings,
    build_analytics,
    build_report_files,
)
from mmapi.analytics import build as build_module
from mmapi.analytics.rates import DEFAULT_RATE_CARD_PATH
from mmapi.landing import LandingConfig, land
from mmapi.sandbox import SandboxConfig
from mmapi.sandbox.generator import generate_webhook_files

from .helpers import by_key, send, sends_from_truth, table_rows, write_sends
from .scenario import AS_OF, write_scenario

MESSAGES = 1500


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory):
    """A sandbox campaign (clean Cloud arm) landed by mmapi.landing, with its ground truth."""
    root = tmp_path_factory.mktemp("sandbox")
    config = SandboxConfig(
        seed=5, route_marketing_via_mm_on_messages=False, p_duplicate=0.05, p_late=0.2
    )
    made = generate_webhook_files(root / "raw", messages=MESSAGES, config=config, mm_share=0.5)
    land(LandingConfig(source=str(root / "raw"), out=root / "lake"))
    truth = made.truth.snapshot()
    write_sends(root / "sends.parquet", sends_from_truth(truth["messages"]))
    # Every TTL has passed: the sandbox's undelivered messages are expired by then.
    last = max(m["accepted_at"] + m["ttl_seconds"] for m in truth["messages"])
    as_of = datetime.fromtimestamp(last, tz=UTC) + timedelta(days=1)
    files = build_report_files(
        root / "sends.parquet", root / "lake", root / "out", settings=ReportSettings(as_of=as_of)
    )
    return files, truth


def test_report_matches_sandbox_ground_truth(sandbox_run):
    files, truth = sandbox_run
    fates = Counter(m["fate"] for m in truth["messages"])
    finals = Counter(r["final_status"] for r in table_rows(files.build, "message_status"))

    assert finals["read"] == fates["read"]
    assert finals["delivered"] == fates["delivered"]
    assert finals["failed"] == fates["failed"] + fates["dropped"]
    assert finals["expired"] == fates["expired"]
    assert sum(finals.values()) == MESSAGES


def test_report_sandbox_clicks_and_stops(sandbox_run):
    files, truth = sandbox_run
    events = [e for e in truth["events"] if not e["duplicate"]]
    clicks = {e["click_id"] for e in events if e["status"] == "click"}
    stopped = {e["wa_id"] for e in events if e["status"] == "stop"}
    funnel = by_key(files.summary.funnel, "arm")

    # The Cloud arm went over Cloud only, so every click is the MM arm's.
    assert funnel["mm"]["clicks"] == len(clicks) > 0
    assert funnel["cloud"]["clicks"] == 0
    assert funnel["mm"]["stopped"] + funnel["cloud"]["stopped"] == len(stopped)


def test_report_sandbox_reconciliation_balances(sandbox_run):
    files, _ = sandbox_run
    campaign = files.summary.reconciliation[0]

    assert campaign["balanced"] is True
    assert campaign["accepted"] == MESSAGES
    assert campaign["unknown_wamids"] == 0
    assert len(files.summary.reconciliation) == 1  # no row for unknown wamids


def test_report_html_embeds_four_charts(sandbox_run):
    files, _ = sandbox_run
    page = files.html.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)

    assert page.startswith("<!DOCTYPE html>")
    assert len(images) == 4
    for encoded in images:
        picture = Image.open(io.BytesIO(base64.b64decode(encoded)))
        picture.load()
        assert picture.format == "PNG"
        assert picture.size == (700, 380)
        # Not a blank canvas: a chart has many colours.
        assert len(picture.convert("RGB").getcolors(maxcolors=100_000) or []) > 20
    assert "http" not in re.sub(r'src="data:[^"]+"', "", page)  # nothing fetched from outside


def test_report_exports_every_table(sandbox_run):
    files, _ = sandbox_run
    folder = files.build.database.parent / "tables"

    assert sorted(p.stem for p in folder.glob("*.parquet")) == sorted(EXPORTED_TABLES)
    for name, path in files.build.tables.items():
        assert pq.read_metadata(path).num_rows == files.build.row_counts[name]
    assert not list(files.build.database.parent.glob(".*tmp"))  # no temporary file left


def test_report_times_every_step(sandbox_run):
    files, _ = sandbox_run
    steps = files.build.step_seconds

    after = ["summary", "on_summary", "exports", "checkpoint"]
    assert list(steps) == ["inputs", *TABLES, *after]
    assert all(seconds >= 0 for seconds in steps.values())


def test_report_rerun_gives_identical_tables(tmp_path):
    inputs = write_scenario(tmp_path / "in")
    settings = ReportSettings(as_of=AS_OF)
    first = build_analytics(inputs.sends, inputs.events, tmp_path / "a", settings=settings)
    second = build_analytics(inputs.sends, inputs.events, tmp_path / "b", settings=settings)

    for name in EXPORTED_TABLES:
        one, two = pq.read_table(first.tables[name]), pq.read_table(second.tables[name])
        if name == "message_status":  # unordered by design: compare sorted
            keys = [("message_key", "ascending"), ("wamid", "ascending")]
            one, two = one.sort_by(keys), two.sort_by(keys)
        assert one.equals(two), name


def test_report_reads_the_rate_card_once(tmp_path, monkeypatch):
    """Checked before any file is written and then used as read: an s3:// card is one download."""
    inputs = write_scenario(tmp_path / "in")
    reads = []
    real = build_module.load_rate_card

    def counting(path=None):
        reads.append(path)
        return real(path)

    monkeypatch.setattr(build_module, "load_rate_card", counting)
    build = build_analytics(
        inputs.sends,
        inputs.events,
        tmp_path / "out",
        rate_card=DEFAULT_RATE_CARD_PATH,
        settings=ReportSettings(as_of=AS_OF),
    )

    assert reads == [DEFAULT_RATE_CARD_PATH]
    assert build.row_counts["rate_card"] > 0


def test_report_replaces_database_under_open_reader(tmp_path):
    inputs = write_scenario(tmp_path / "in")
    campaigns = tmp_path / "campaigns"
    (campaigns / "c1").mkdir(parents=True)
    inputs.sends.rename(campaigns / "c1" / "sends.parquet")
    out = tmp_path / "out"
    settings = ReportSettings(as_of=AS_OF)
    build_analytics(campaigns, inputs.events, out, settings=settings)
    reader = duckdb.connect(str(out / DATABASE_NAME), read_only=True)
    try:
        assert reader.sql("SELECT count(*) FROM message_status").fetchall() == [(13,)]
        # A second campaign's sends arrive (its plan file is no sends file): rebuild.
        write_sends(campaigns / "c2" / "sends.parquet", [send("x1", "mm", campaign="c2")])
        write_sends(campaigns / "c2" / "plan.parquet", [send("x2", "mm", campaign="c2")])
        build_analytics(campaigns, inputs.events, out, settings=settings)
        # The analyst's open file is untouched.
        assert reader.sql("SELECT count(*) FROM message_status").fetchall() == [(13,)]
    finally:
        reader.close()
    # A new reader (another process, as an analyst would be) sees the new file.
    script = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
        "print(c.sql('SELECT count(*) FROM message_status').fetchall())"
    )
    shown = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script, str(out / DATABASE_NAME)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "[(14,)]"
