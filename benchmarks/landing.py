"""Landing speed: 1,000,000 status events of NDJSON webhooks to deduplicated Parquet tables.

The events come from the sandbox's own generator (fates, duplicates, late events and batching
as the live sandbox plays them). Measured in one run, on the same files:

- the landing (`mmapi.landing.land`, in a child process, so its peak RSS is its own);
- a bare DuckDB `read_json` scan of the same files with the statuses' explicit schema and
  unnest, reading every status column (the floor any DuckDB landing stands on), and the same
  scan as plain `read_json` calls it, with the schema detected from the files
  (`duckdb_autodetect_scan_*`: what a scan costs a user who names no columns);
- a naive landing: `json.loads` per line and a Python loop per event into the same tables
  (statuses with every field, clicks, preferences, account updates), then pandas,
  deduplication on the same keys and Parquet partitioned by day.

Targets (issue 5): >= 500,000 events/s, peak RSS <= 2 GiB, >= 10x the naive loop and >= 0.5x
the bare scan. They run in turns (landing, scans, naive, landing, ...) so that all see
the same load on a shared machine, and the best of each is compared; their
CPU seconds (user + system, all threads) are reported too, as a figure that moves less with
the machine's load than wall time. Prints one JSON line: {"events", "events_per_s",
"naive_events_per_s", "duckdb_scan_events_per_s", "peak_rss_mb", ...}. Run from the repo root:
`.venv/bin/python benchmarks/landing.py` (progress on stderr; about three minutes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mmapi.landing.schema import KEY_COLUMNS, STATUS_COLUMNS

STATUS_EVENTS = 1_000_000
SEED = 42
LINES_PER_FILE = 50_000
RUNS = 3

_SCAN_SCHEMA = ", columns = $columns"
_SCAN_SQL = """
    SELECT count(*), max(s.id), max(s.status), max(s.timestamp), max(s.recipient_id),
           max(s.pricing.category), max(s.errors[1].code), max(s.biz_opaque_callback_data)
    FROM (
        SELECT unnest(c.value.statuses) AS s
        FROM (SELECT unnest(e.changes) AS c
              FROM (SELECT unnest(entry) AS e
                    FROM read_json($paths, format = 'newline_delimited', columns = $columns)))
    )
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak RSS in MiB.

    Linux's VmHWM, which counts this program only: ru_maxrss also counts the parent's pages
    at the fork that started it (the parent holds the generated events and the naive loop's
    rows, gigabytes).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _land_child(source: str, out: str) -> None:
    """In the child: land and print the summary as JSON."""
    from mmapi.landing import LandingConfig, land

    started, cpu = time.perf_counter(), _cpu_seconds()
    summary = land(LandingConfig(source=source, out=Path(out))).as_dict()
    summary["wall_seconds"] = time.perf_counter() - started
    summary["cpu_seconds"] = _cpu_seconds() - cpu
    summary["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(summary))


def _land(source: Path, out: Path) -> dict[str, Any]:
    """Land in a child process; its summary, with its peak RSS in MiB."""
    command = [sys.executable, __file__, "--child", str(source), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bare_scan(files: list[str], *, detect: bool = False) -> tuple[int, float, float]:
    """DuckDB read_json + unnest of every status field; (events, seconds, CPU seconds).

    With the statuses' explicit schema, or with `detect` as plain `read_json` reads: the
    schema detected from a sample of the files.
    """
    con = duckdb.connect()
    query = _SCAN_SQL
    params: dict[str, Any] = {"paths": files, "columns": STATUS_COLUMNS}
    if detect:
        query = query.replace(_SCAN_SCHEMA, "")
        del params["columns"]
    started, cpu = time.perf_counter(), _cpu_seconds()
    (events, *_rest) = con.execute(query, params).fetchall()[0]
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    con.close()
    return events, seconds, cpu


def _naive_rows(files: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The naive landing's loop: json.loads per line, then Python per entry, change and item."""
    tables: dict[str, list[dict[str, Any]]] = {
        "statuses": [],
        "clicks": [],
        "preferences": [],
        "account_updates": [],
    }
    for path in files:
        source = str(path)
        with path.open("rb") as handle:
            for line in handle:
                body = json.loads(line)
                received_at = (body.get("_mmflow") or {}).get("received_at")
                for entry in body.get("entry") or []:
                    waba_id = entry.get("id")
                    for change in entry.get("changes") or []:
                        value = change.get("value") or {}
                        lineage = {
                            "phone_number_id": (value.get("metadata") or {}).get("phone_number_id"),
                            "waba_id": waba_id,
                            "received_at": received_at,
                            "source_file": source,
                        }
                        for status in value.get("statuses") or []:
                            pricing = status.get("pricing") or {}
                            error = (status.get("errors") or [{}])[0]
                            conversation = status.get("conversation") or {}
                            expiration = conversation.get("expiration_timestamp")
                            tables["statuses"].append(
                                {
                                    "wamid": status["id"],
                                    "status": status["status"],
                                    "ts": int(status["timestamp"]),
                                    "recipient_id": status.get("recipient_id"),
                                    "pricing_billable": pricing.get("billable"),
                                    "pricing_model": pricing.get("pricing_model"),
                                    "pricing_category": pricing.get("category"),
                                    "pricing_type": pricing.get("type"),
                                    "error_code": error.get("code"),
                                    "error_title": error.get("title"),
                                    "error_message": error.get("message"),
                                    "error_details": (error.get("error_data") or {}).get("details"),
                                    "biz_opaque_callback_data": status.get(
                                        "biz_opaque_callback_data"
                                    ),
                                    "conversation_id": conversation.get("id"),
                                    "conversation_origin_type": (
                                        conversation.get("origin") or {}
                                    ).get("type"),
                                    "conversation_expiration_ts": (
                                        int(expiration) if expiration is not None else None
                                    ),
                                    **lineage,
                                }
                            )
                        for action in value.get("user_actions") or []:
                            data = action.get("marketing_messages_link_click_data") or {}
                            tables["clicks"].append(
                                {
                                    "click_id": data.get("click_id"),
                                    "ts": int(action["timestamp"]),
                                    "action_type": action["action_type"],
                                    "click_component": (data.get("click_component") or "").lower()
                                    or None,
                                    "product_id": data.get("product_id"),
                                    "tracking_token": data.get("tracking_token"),
                                    "client_user_agent": data.get("client_user_agent"),
                                    **lineage,
                                }
                            )
                        for preference in value.get("user_preferences") or []:
                            tables["preferences"].append(
                                {
                                    "wa_id": preference["wa_id"],
                                    "value": preference["value"],
                                    "ts": int(preference["timestamp"]),
                                    "category": preference.get("category"),
                                    **lineage,
                                }
                            )
                        if change.get("field") in ("account_update", "template_category_update"):
                            tables["account_updates"].append(
                                {
                                    "field": change["field"],
                                    "event": value.get("event"),
                                    "ts": int(entry["time"]),
                                    "message_template_id": value.get("message_template_id"),
                                    **lineage,
                                }
                            )
    return tables


def _naive(files: list[Path], out: Path) -> tuple[int, float]:
    """A naive landing of the same files into the same tables, for comparison.

    json.loads per line and a Python loop per event (`_naive_rows`), then per table: pandas,
    deduplication on the landing's keys, and Parquet partitioned by the event's day.
    Returns (status events read, seconds).
    """
    started = time.perf_counter()
    tables = _naive_rows(files)
    for table, rows in tables.items():
        if not rows:
            continue
        frame = pd.DataFrame(rows)
        for column in ("ts", "conversation_expiration_ts"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
        frame = frame.drop_duplicates(list(KEY_COLUMNS[table]))
        frame["dt"] = frame["ts"].dt.strftime("%Y-%m-%d")
        frame.to_parquet(out / table, partition_cols=["dt"], index=False)
    return len(tables["statuses"]), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=STATUS_EVENTS, help="status events")
    args = parser.parse_args()
    if args.child:
        _land_child(*args.child)
        return

    from mmapi.sandbox.generator import generate_webhook_files

    with tempfile.TemporaryDirectory(prefix="bench-landing-") as folder:
        work = Path(folder)
        _log(f"generating {args.events:,} status events with the sandbox generator ...")
        started = time.perf_counter()
        made = generate_webhook_files(
            work / "raw", status_events=args.events, seed=SEED, lines_per_file=LINES_PER_FILE
        )
        size = sum(path.stat().st_size for path in made.files)
        _log(
            f"  {made.status_events:,} status events ({made.duplicates:,} duplicates of all "
            f"kinds) in {made.bodies:,} bodies, {len(made.files)} files, {size / 1e6:.0f} MB, "
            f"{time.perf_counter() - started:.1f} s"
        )
        files = [str(path) for path in made.files]

        landings = []
        scans = []
        detected = []
        naives = []
        for run in range(RUNS):
            summary = _land(work / "raw", work / f"lake{run}")
            landings.append(summary)
            _log(f"landing run {run + 1}: {summary['wall_seconds']:.2f} s, {summary}")
            scans.append(_bare_scan(files))
            _log(f"bare DuckDB scan {run + 1}: {scans[-1][1]:.2f} s, CPU {scans[-1][2]:.2f} s")
            detected.append(_bare_scan(files, detect=True))
            _log(
                f"bare scan, schema detected {run + 1}: {detected[-1][1]:.2f} s, "
                f"CPU {detected[-1][2]:.2f} s"
            )
            naives.append(_naive(made.files, work / f"naive{run}"))
            _log(f"naive loop {run + 1}: {naives[-1][0]:,} events in {naives[-1][1]:.2f} s")
        best = min(landings, key=lambda summary: summary["wall_seconds"])
        scan_events, scan_seconds, _ = min(scans, key=lambda scan: scan[1])
        detected_events, detected_seconds, _ = min(detected, key=lambda scan: scan[1])
        naive_events, naive_seconds = min(naives, key=lambda naive: naive[1])

    events = best["status_events_read"]
    events_per_s = events / best["wall_seconds"]
    naive_per_s = naive_events / naive_seconds
    scan_per_s = scan_events / scan_seconds
    detected_per_s = detected_events / detected_seconds
    print(
        json.dumps(
            {
                "bench": "landing",
                "events": events,
                "events_per_s": round(events_per_s),
                "naive_events_per_s": round(naive_per_s),
                "duckdb_scan_events_per_s": round(scan_per_s),
                "peak_rss_mb": round(max(summary["peak_rss_mb"] for summary in landings)),
                "vs_naive": round(events_per_s / naive_per_s, 1),
                "vs_duckdb_scan": round(events_per_s / scan_per_s, 2),
                "duckdb_autodetect_scan_events_per_s": round(detected_per_s),
                "vs_duckdb_autodetect_scan": round(events_per_s / detected_per_s, 2),
                "seconds": round(best["wall_seconds"], 3),
                "seconds_all_runs": [round(summary["wall_seconds"], 3) for summary in landings],
                "duckdb_scan_seconds": round(scan_seconds, 3),
                "duckdb_scan_seconds_all_runs": [round(scan[1], 3) for scan in scans],
                "cpu_seconds": round(min(summary["cpu_seconds"] for summary in landings), 3),
                "duckdb_scan_cpu_seconds": round(min(scan[2] for scan in scans), 3),
                "duckdb_autodetect_scan_seconds": round(detected_seconds, 3),
                "duckdb_autodetect_scan_seconds_all_runs": [round(scan[1], 3) for scan in detected],
                "naive_seconds": round(naive_seconds, 3),
                "naive_seconds_all_runs": [round(naive[1], 3) for naive in naives],
                "statuses_landed": best["statuses"],
                "clicks_landed": best["clicks"],
                "preferences_landed": best["preferences"],
                "quarantined": best["quarantined"],
                "bytes": size,
                "files": len(files),
                "bodies": made.bodies,
                "seed": SEED,
                "runs": RUNS,
            }
        )
    )


if __name__ == "__main__":
    main()
