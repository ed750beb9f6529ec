"""Benchmarks of the send_campaign flow (issue 4): one JSON line per part on stdout.

Parts:

- `prepare`: a 1,000,000-row segment in the demo DuckDB warehouse → `audience.parquet` →
  `plan.parquet` + `rejects.parquet` (extract + prepare), run in a child process so its peak
  RSS is measured alone (`RUSAGE_CHILDREN`). In this process, in the same run: the baseline, a
  plain per-row `phonenumbers` parse / validate / format loop over a sample of the same
  segment, scaled to rows/s. Goal: ≤ 15 s, ≤ 1.5 GiB, rows/s ≥ 3 × baseline.
- `send_flow`: 100,000 messages through the whole flow (ledger included) to the sandbox at
  100 ms latency and a 1,000/s cap. Goal: ≥ 0.9 of the ceiling, ≤ 1 task run per 2,000.

Run from the repo root: `.venv/bin/python benchmarks/send_campaign.py [part ...]`
(all parts by default). Progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from mmapi.audience import extract_segment, prepare_plan  # noqa: E402
from mmapi.sandbox.catalog import default_templates  # noqa: E402
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec  # noqa: E402

PREPARE_ROWS = 1_000_000
BASELINE_SAMPLE = 50_000
SEED = 0
# Landed opt-outs for the suppression step: a realistic share of the audience.
STOPPED_RECIPIENTS = 10_000
SEGMENT_QUERY = "SELECT * FROM customers ORDER BY customer_id"
CHILD_FLAG = "--prepare-child"


def log(message: str) -> None:
    print(f"[send_campaign] {message}", file=sys.stderr, flush=True)


def _spec(warehouse: Path, events: Path):
    return demo_campaign_spec(
        warehouse,
        campaign_id="bench-prepare",
        segment={"query": SEGMENT_QUERY, "connection": str(warehouse)},
        suppression={"events_dir": str(events)},
    )


def _write_events(warehouse: Path, events: Path) -> None:
    """Landed `stop` preferences for some of the segment's numbers (as E.164 digits)."""
    folder = events / "preferences" / "dt=2026-05-01"
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        phones = connection.sql(
            "SELECT regexp_replace(phone, '[^0-9]', '', 'g') AS wa_id FROM customers "
            "WHERE phone LIKE '+49 1%' LIMIT $n",
            params={"n": STOPPED_RECIPIENTS},
        ).to_arrow_table()
    count = phones.num_rows
    table = phones.append_column("value", pa.array(["stop"] * count)).append_column(
        "ts", pa.array([datetime(2026, 5, 1, tzinfo=UTC)] * count, pa.timestamp("us", tz="UTC"))
    )
    pq.write_table(table, folder / "part-0.parquet")


def _prepare_child(warehouse: Path, events: Path, out: Path) -> None:
    """Extract + prepare, timed; prints one JSON line for the parent."""
    template = next(t for t in default_templates() if t.name == "spring_sale").info()
    spec = _spec(warehouse, events)
    started = time.perf_counter()
    audience = extract_segment(spec.segment, out / "audience.parquet")
    extracted = time.perf_counter()
    result = prepare_plan(spec, audience.path, template, out)
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": audience.rows,
                "seconds": finished - started,
                "extract_seconds": extracted - started,
                "prepare_seconds": finished - extracted,
                "batches": audience.batches,
                "planned": result.planned,
                "rejected": result.rejected,
                "distinct_numbers": result.distinct_numbers,
                "slow_numbers": result.slow_numbers,
            }
        )
    )


def _baseline_rows_per_s(warehouse: Path, default_region: str, sample: int) -> float:
    """A plain per-row phonenumbers loop (no dedupe, no cache) over a sample of the segment."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.sql(
            "SELECT phone, country FROM customers ORDER BY customer_id LIMIT $n",
            params={"n": sample},
        ).fetchall()
    started = time.perf_counter()
    for phone, country in rows:
        try:
            number = phonenumbers.parse(phone, country or default_region)
            if phonenumbers.is_valid_number(number):
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except (phonenumbers.NumberParseException, TypeError):
            pass
    return len(rows) / (time.perf_counter() - started)


def bench_prepare(rows: int = PREPARE_ROWS, sample: int = BASELINE_SAMPLE) -> dict[str, Any]:
    """Extract + prepare of a `rows`-row DuckDB segment, against the per-row baseline."""
    folder = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    try:
        warehouse = folder / "warehouse.duckdb"
        events = folder / "events"
        log(f"building a {rows:,}-row demo warehouse")
        build_demo_warehouse(warehouse, rows=rows, seed=SEED)
        _write_events(warehouse, events)
        log("extract + prepare in a child process")
        child = subprocess.run(
            [sys.executable, __file__, CHILD_FLAG, str(warehouse), str(events), str(folder)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if child.returncode != 0:
            raise RuntimeError(f"the prepare child failed:\n{child.stderr}")
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        # ru_maxrss is in KiB on Linux: the largest of the children waited for (only this one).
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        log(f"baseline: per-row phonenumbers loop over {sample:,} rows")
        baseline = _baseline_rows_per_s(warehouse, "DE", sample)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows_per_s = measured["rows"] / measured["seconds"]
    return {
        "bench": "prepare",
        "rows": measured["rows"],
        "seconds": round(measured["seconds"], 2),
        "rows_per_s": round(rows_per_s),
        "baseline_rows_per_s": round(baseline),
        "peak_rss_mb": round(peak_rss_mb),
        "ratio": round(rows_per_s / baseline, 2),
        "extract_seconds": round(measured["extract_seconds"], 2),
        "prepare_seconds": round(measured["prepare_seconds"], 2),
        "planned": measured["planned"],
        "rejected": measured["rejected"],
        "distinct_numbers": measured["distinct_numbers"],
        "slow_numbers": measured["slow_numbers"],
        "baseline_sample": sample,
        "segment": "duckdb",
        "cpus": os.cpu_count(),
    }


SEND_MESSAGES = 100_000
SEND_LATENCY_MS = 100
SEND_RATE_CAP = 1000.0
SEND_IN_FLIGHT = 200
SEND_CHUNK_SIZE = 5000


def clean_segment(path: Path, rows: int) -> Path:
    """A segment of `rows` distinct valid German mobile numbers, as a Parquet file."""
    with duckdb.connect() as db:
        db.execute(
            "COPY (SELECT i AS customer_id, '+49 151 ' || lpad(i::VARCHAR, 8, '0') AS phone, "
            "'Kunde ' || i AS first_name FROM range(?) t(i)) TO ? (FORMAT parquet)",
            [rows, str(path)],
        )
    return path


def write_send_spec(
    path: Path,
    campaign_id: str,
    segment: Path,
    messages_per_second: float,
    max_in_flight: int,
    arrival_jitter_seconds: float | None = None,
) -> Path:
    """A spec sending the sandbox's `spring_sale` template to a `clean_segment`, 90% MM.

    `arrival_jitter_seconds` None leaves the spec's default.
    """
    spec = {
        "campaign_id": campaign_id,
        "segment": {"path": str(segment)},
        "template": {"name": "spring_sale", "language": "en"},
        "parameters": {
            "header": {"type": "image", "value": "https://example.com/sale.jpg"},
            "body": [
                {"type": "text", "column": "first_name"},
                {"type": "text", "value": "20%"},
            ],
            "buttons": [{"index": 0, "sub_type": "url", "type": "text", "value": "spring"}],
        },
        "arms": {"mm": 0.9, "cloud": 0.1},
        "messages_per_second": messages_per_second,
        "max_in_flight": max_in_flight,
    }
    if arrival_jitter_seconds is not None:
        spec["arrival_jitter_seconds"] = arrival_jitter_seconds
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def bench_send_flow(messages: int = SEND_MESSAGES) -> dict[str, Any]:
    """100,000 messages through the whole flow (ledger included) at 100 ms latency, 1,000/s cap."""
    import asyncio

    from mmapi.sandbox import SandboxConfig, SandboxServer
    from mmflow.prefect_server import LocalPrefectServer

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        segment = clean_segment(folder / "segment.parquet", messages)
        spec_path = write_send_spec(
            folder / "spec.yaml", "bench-send-flow", segment, SEND_RATE_CAP, SEND_IN_FLIGHT
        )
        sandbox_config = SandboxConfig(
            latency_ms=SEND_LATENCY_MS, rate_limit_mps=SEND_RATE_CAP, p_duplicate=0.0
        )
        log("starting a Prefect server and the sandbox")
        with LocalPrefectServer(folder / "prefect", port=4281), SandboxServer(sandbox_config) as sb:
            os.environ["D360_API_KEY"] = sb.api_key
            os.environ["D360_BASE_URL"] = sb.url
            from flows.send_campaign import send_campaign

            log(f"sending {messages:,} messages through the flow")
            started = time.monotonic()
            summary = asyncio.run(
                send_campaign(
                    str(spec_path),
                    out_dir=str(folder / "campaigns"),
                    chunk_size=SEND_CHUNK_SIZE,
                )
            )
            seconds = time.monotonic() - started
            truth = len(sb.ground_truth()["messages"])
    ceiling = min(SEND_RATE_CAP, SEND_IN_FLIGHT / (SEND_LATENCY_MS / 1000))
    return {
        "bench": "send_flow",
        "messages": summary["accepted"],
        "mps": summary["messages_per_second"],
        "ceiling_mps": ceiling,
        "ratio": round(summary["messages_per_second"] / ceiling, 3),
        "task_runs": summary["task_runs"],
        "max_task_runs": messages // 2000,
        "sandbox_accepted": truth,
        "flow_seconds": round(seconds, 1),
        "latency_ms": SEND_LATENCY_MS,
        "rate_cap": SEND_RATE_CAP,
        "max_in_flight": SEND_IN_FLIGHT,
        "chunk_size": SEND_CHUNK_SIZE,
    }


# One function per part, each returning its JSON line's fields.
PARTS: dict[str, Callable[[], dict[str, Any]]] = {
    "prepare": bench_prepare,
    "send_flow": bench_send_flow,
}


def main(argv: list[str] | None = None) -> None:
    """Run the named parts (all by default), printing one JSON line each."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [CHILD_FLAG]:
        _prepare_child(Path(args[1]), Path(args[2]), Path(args[3]))
        return
    unknown = [name for name in args if name not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown}; parts: {', '.join(PARTS)}")
    for name in args or list(PARTS):
        print(json.dumps(PARTS[name]()), flush=True)


if __name__ == "__main__":
    main()
