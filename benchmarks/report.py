"""The report on 10,000,000 status events and 2,000,000 sends, against pandas on the same data.

Measures, in one run (issue 6, "Figures"), each part in a child process of its own:
- the full report (`mmapi.analytics.build_report_files`: analytics.duckdb, every table as
  Parquet, the HTML report with its charts): wall seconds, CPU seconds and peak RSS;
- the report's own SQL for `message_status` + `funnel` alone, in memory (`core_seconds`);
- a pandas implementation of `message_status` + `funnel` (the same rules) on the same files;
  all three funnels must agree (`same_funnel`).

The data is generated with DuckDB (`range()` and hash-based randomness, so every run makes the
same files) in the landing layout: `events/{statuses,clicks,preferences}/dt=YYYY-MM-DD/*.parquet`
and a `sends.parquet` with `SENDS_SCHEMA`. One campaign, two arms of about 1M; fates as the
sandbox draws them (MM delivers 92%, Cloud 86%, about half of the deliveries are read), 1% of
sends with an `unknown` outcome whose webhooks come anyway (unknown wamids), fallback and
contamination. Each message's distinct events are cycled until the event count is reached, from
a random starting point: arrival order is not time order, and the rest are duplicates.

Prints one JSON line: {"events", "sends", "seconds", "pandas_seconds", "speedup" (pandas over
the full report), "core_seconds", "core_speedup" (pandas over the same work in DuckDB),
"peak_rss_mb", "cpu_seconds", "same_funnel", "steps" (the full report's wall seconds per step:
inputs, each SQL file, summary, on_summary = charts and HTML, waiting for the Parquet exports,
checkpoint, rest), ...}. No network at all.
Run from the repo root: `.venv/bin/python benchmarks/report.py` (progress on stderr);
`--events` and `--sends` make it smaller, `--data DIR` keeps the generated files for re-runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

EVENTS = 10_000_000
SENDS = 2_000_000
T0 = datetime(2025, 9, 1, tzinfo=UTC)
TIMEOUT_SECONDS = 900
# The SQL files behind message_status and funnel (funnel also reads clicks and stops).
CORE_TABLES = (
    "message_status",
    "message_counts",
    "click_attribution",
    "preference_attribution",
    "funnel",
)

SENDS_SQL = """
SELECT
    printf('k%09d', i) AS message_key,
    'bench' AS campaign_id,
    CAST(5491100000000 + i AS VARCHAR) AS recipient,
    ['AR', 'BR', 'IN', 'AU', 'DE'][1 + CAST(hash(i, 'country') % 5 AS BIGINT)] AS country,
    CASE WHEN hash(i, 'arm') % 2 = 0 THEN 'mm' ELSE 'cloud' END AS arm,
    ['spring_sale', 'winback_offer', 'new_arrivals'][1 + CAST(hash(i, 'template') % 3 AS BIGINT)]
        AS template_name,
    'en' AS language,
    CASE
        WHEN hash(i, 'state') % 1000 < 980 THEN 'accepted'
        WHEN hash(i, 'state') % 1000 < 990 THEN 'rejected'
        ELSE 'unknown'
    END AS state,
    CASE WHEN state = 'accepted' THEN 'wamid.bench.' || i END AS wamid,
    CASE WHEN state = 'accepted' THEN 'accepted' END AS message_status,
    CASE WHEN state = 'rejected' THEN 131008 END AS error_code,
    CASE WHEN state = 'rejected' THEN 'Required parameter is missing' END AS error_title,
    CAST(1 AS INTEGER) AS attempts,
    CAST(86400 AS BIGINT) AS ttl_seconds,
    CAST($t0 AS TIMESTAMPTZ) + to_microseconds(i * 500) AS planned_at,
    planned_at AS sent_at,
    planned_at + INTERVAL 200 MILLISECOND AS finished_at
FROM range($sends) AS r(i)
"""

# One row per message with webhooks: its distinct events as a list, in time order.
MESSAGES_SQL = """
SELECT
    row_number() OVER (ORDER BY i) - 1 AS n,
    i,
    'wamid.bench.' || i AS wamid,
    sent_at,
    CASE
        WHEN arm = 'mm' AND hash(i, 'route') % 100 = 0 THEN 'marketing'
        WHEN arm = 'mm' THEN 'marketing_lite'
        WHEN hash(i, 'route') % 100 < 3 THEN 'marketing_lite'
        ELSE 'marketing'
    END AS category,
    hash(i, 'fate') % 10000 AS fate,
    hash(i, 'read') % 10000 AS read_draw,
    CASE WHEN category = 'marketing_lite' THEN 9200 ELSE 8600 END AS delivered_below,
    CASE
        WHEN fate < 100 THEN ['failed']
        WHEN fate < delivered_below THEN
            CASE
                WHEN read_draw >= 5300 THEN ['sent', 'delivered']
                WHEN read_draw < 100 THEN ['sent', 'read']
                ELSE ['sent', 'delivered', 'read']
            END
            || CASE WHEN hash(i, 'late_fail') % 1000 < 2 THEN ['failed'] ELSE [] END
        WHEN hash(i, 'undelivered') % 10 < 3 THEN ['sent', 'failed']
        ELSE ['sent']
    END AS kinds,
    sent_at + to_seconds(
        5 + CASE
            WHEN hash(i, 'offline') % 100 < 8 THEN hash(i, 'delay') % 172800
            ELSE hash(i, 'delay') % 3600
        END
    ) AS delivered_ts,
    delivered_ts + to_seconds(hash(i, 'read_delay') % 14400) AS read_ts,
    [131026, 131049, 131050][1 + CAST(hash(i, 'code') % 3 AS BIGINT)] AS failed_code
FROM (
    SELECT CAST(substr(message_key, 2) AS BIGINT) AS i, arm, sent_at
    FROM read_parquet($sends_path)
    WHERE state <> 'rejected'
)
"""

STATUSES_SQL = """
SELECT
    m.wamid,
    m.kinds[1 + CAST((j // $messages + hash(m.i, 'rotate') % 8) % len(m.kinds) AS BIGINT)]
        AS status,
    CASE status
        WHEN 'sent' THEN m.sent_at + INTERVAL 2 SECOND
        WHEN 'delivered' THEN m.delivered_ts
        WHEN 'read' THEN m.read_ts
        ELSE m.sent_at + INTERVAL 5000 SECOND
    END AS ts,
    CAST(5491100000000 + m.i AS VARCHAR) AS recipient_id,
    CASE WHEN status <> 'failed' THEN TRUE END AS pricing_billable,
    CASE WHEN status <> 'failed' THEN 'PMP' END AS pricing_model,
    CASE WHEN status <> 'failed' THEN m.category END AS pricing_category,
    CASE WHEN status <> 'failed' THEN 'regular' END AS pricing_type,
    CASE WHEN status = 'failed' THEN m.failed_code END AS error_code,
    CASE WHEN status = 'failed' THEN 'Message undeliverable' END AS error_title,
    CASE WHEN status = 'failed' THEN 'Message Undeliverable.' END AS error_details,
    '106540352242922' AS phone_number_id,
    '102290129340398' AS waba_id,
    'webhooks-' || (j // 100000) || '.ndjson' AS source_file,
    strftime(ts, '%Y-%m-%d') AS dt
FROM range($events) AS r(j)
JOIN messages AS m ON m.n = j % $messages
"""

CLICKS_SQL = """
SELECT
    'ARA' || i AS click_id,
    read_ts + INTERVAL 60 SECOND AS ts,
    CASE WHEN hash(i, 'component') % 100 < 85 THEN 'cta' ELSE 'body' END AS click_component,
    CAST(NULL AS VARCHAR) AS product_id,
    md5(wamid) AS tracking_token,
    '106540352242922' AS phone_number_id,
    '102290129340398' AS waba_id,
    'marketing_messages_link_click' AS action_type,
    strftime(ts, '%Y-%m-%d') AS dt
FROM messages
WHERE list_contains(kinds, 'read') AND category = 'marketing_lite' AND hash(i, 'click') % 100 < 15
"""

PREFERENCES_SQL = """
SELECT
    CAST(5491100000000 + i AS VARCHAR) AS wa_id,
    v.value,
    read_ts + CASE WHEN v.value = 'stop' THEN INTERVAL 10 MINUTE ELSE INTERVAL 3 DAY END AS ts,
    strftime(ts, '%Y-%m-%d') AS dt
FROM messages
JOIN (VALUES ('stop'), ('resume')) AS v(value)
    ON v.value = 'stop' OR hash(i, 'resume') % 10 = 0
WHERE list_contains(kinds, 'read') AND hash(i, 'stop') % 100 = 0
"""


def log(message: str) -> None:
    print(f"[report bench] {message}", file=sys.stderr, flush=True)


def generate(folder: Path, *, sends: int, events: int) -> None:
    """Write sends.parquet and landing/events/... under `folder` (deterministic)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    sends_path = folder / "sends.parquet"
    con.sql(SENDS_SQL, params={"t0": T0, "sends": sends}).write_parquet(str(sends_path))
    con.sql(MESSAGES_SQL, params={"sends_path": str(sends_path)}).create("messages")
    messages = con.sql("SELECT count(*) FROM messages").fetchall()[0][0]
    root = folder / "landing" / "events"
    kinds = {
        "statuses": con.sql(STATUSES_SQL, params={"events": events, "messages": messages}),
        "clicks": con.sql(CLICKS_SQL),
        "preferences": con.sql(PREFERENCES_SQL),
    }
    for kind, relation in kinds.items():
        (root / kind).parent.mkdir(parents=True, exist_ok=True)
        relation.write_parquet(str(root / kind), partition_by=["dt"], overwrite=True)
    con.close()


def run_report(folder: Path) -> dict[str, Any]:
    """The full report (child process part)."""
    from mmapi.analytics import ReportSettings, build_report_files

    started = time.perf_counter()
    files = build_report_files(
        folder / "sends.parquet",
        folder / "landing",
        folder / "report",
        settings=ReportSettings(),
    )
    seconds = time.perf_counter() - started
    # The build's steps, and the rest: opening the database and reading the rate card before
    # the first, writing report.html after the last.
    steps = dict(files.build.step_seconds)
    steps["rest"] = round(seconds - sum(steps.values()), 3)
    funnel = {
        f"{r['arm']}": [r["accepted"], r["delivered"], r["read"], r["failed"], r["expired"]]
        for r in files.summary.funnel
    }
    return {
        "seconds": round(seconds, 3),
        "message_status_rows": files.build.row_counts["message_status"],
        "as_of": files.build.as_of.isoformat(),
        "funnel": funnel,
        "html_bytes": files.html.stat().st_size,
        "steps": steps,
    }


def run_core(folder: Path, as_of: str) -> dict[str, Any]:
    """The report's own SQL for message_status + funnel only, in memory (child process part).

    The like-for-like counterpart of `run_pandas`: the full report also writes the database,
    the Parquet tables, the other tables and the charts.
    """
    from mmapi.analytics import ReportSettings, create_tables

    started = time.perf_counter()
    con = duckdb.connect()
    create_tables(
        con,
        folder / "sends.parquet",
        folder / "landing",
        settings=ReportSettings(as_of=datetime.fromisoformat(as_of)),
        tables=CORE_TABLES,
    )
    rows = con.sql("SELECT arm, accepted, delivered, read, failed, expired FROM funnel").fetchall()
    con.close()
    return {
        "core_seconds": round(time.perf_counter() - started, 3),
        "funnel": {str(arm): list(counts) for arm, *counts in rows},
    }


def run_pandas(folder: Path, as_of: str) -> dict[str, Any]:
    """message_status + funnel in pandas, the same rules (child process part)."""
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    events = pd.read_parquet(
        folder / "landing" / "events" / "statuses",
        columns=["wamid", "status", "ts", "pricing_category", "error_code"],
    )
    sends = pd.read_parquet(folder / "sends.parquet")
    events = events.drop_duplicates(["wamid", "status", "ts"])
    first = events.groupby(["wamid", "status"], observed=True)["ts"].min().unstack("status")
    first = first.reindex(columns=["sent", "delivered", "read", "failed"])
    first["delivered_at"] = first[["delivered", "read"]].min(axis=1)
    priced = events.dropna(subset=["pricing_category"])
    first["pricing_category"] = priced.groupby("wamid")["pricing_category"].min()
    failed = events[events["status"] == "failed"].sort_values(["ts", "error_code"])
    first["error_code"] = failed.groupby("wamid")["error_code"].first()
    first = first.reset_index()
    messages = sends.merge(first, on="wamid", how="outer", indicator=True)
    messages["in_ledger"] = messages["_merge"] != "right_only"
    has_webhook = messages["_merge"] != "left_only"
    expires_at = messages["sent_at"] + pd.to_timedelta(messages["ttl_seconds"], unit="s")
    conditions = [
        messages["read"].notna(),
        messages["delivered_at"].notna(),
        messages["failed"].notna(),
        messages["in_ledger"] & (messages["state"] != "accepted") & ~has_webhook,
        expires_at < pd.Timestamp(as_of),
        messages["sent"].notna(),
    ]
    choices = ["read", "delivered", "failed", None, "expired", "sent"]
    final = np.select(conditions, choices, default="accepted").astype(object)
    unsent = conditions[3].to_numpy() & ~np.any([c.to_numpy() for c in conditions[:3]], axis=0)
    final[unsent] = messages.loc[unsent, "state"].to_numpy()
    messages["final_status"] = final
    accepted = messages[messages["in_ledger"] & (messages["state"] == "accepted")]
    grouped = accepted.assign(
        delivered=accepted["delivered_at"].notna(),
        was_read=accepted["read"].notna(),
        failed_final=accepted["final_status"] == "failed",
        expired=accepted["final_status"] == "expired",
    ).groupby(["campaign_id", "arm"])
    funnel = grouped.agg(
        accepted=("wamid", "size"),
        delivered=("delivered", "sum"),
        read=("was_read", "sum"),
        failed=("failed_final", "sum"),
        expired=("expired", "sum"),
    )
    seconds = time.perf_counter() - started
    return {
        "pandas_seconds": round(seconds, 3),
        "funnel": {str(arm): [int(v) for v in row] for (_, arm), row in funnel.iterrows()},
    }


def _child(part: str, folder: Path, as_of: str = "") -> dict[str, Any]:
    command = [sys.executable, __file__, "--part", part, "--data", str(folder)]
    if as_of:
        command += ["--as-of", as_of]
    # This interpreter and this file only.
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{part} part failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB.

    Not ru_maxrss: Linux carries the parent's peak over fork and exec into it.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _part(part: str, folder: Path, as_of: str) -> None:
    started = resource.getrusage(resource.RUSAGE_SELF)
    parts = {"report": run_report, "core": run_core, "pandas": run_pandas}
    result = parts[part](folder) if part == "report" else parts[part](folder, as_of)
    ended = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = _peak_rss_mb()
    # CPU seconds (all threads): comparable across runs even when other work shares the cores.
    result["cpu_seconds"] = round(
        ended.ru_utime + ended.ru_stime - started.ru_utime - started.ru_stime, 2
    )
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--sends", type=int, default=SENDS)
    parser.add_argument("--data", type=Path, help="keep the generated data here (reused)")
    parser.add_argument("--part", choices=("report", "core", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--as-of", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        _part(args.part, args.data, args.as_of)
        return
    with tempfile.TemporaryDirectory(prefix="report-bench-") as scratch:
        folder = args.data or Path(scratch)
        if not (folder / "sends.parquet").exists():
            folder.mkdir(parents=True, exist_ok=True)
            log(f"generating {args.sends:,} sends and {args.events:,} status events in {folder}")
            started = time.perf_counter()
            generate(folder, sends=args.sends, events=args.events)
            log(f"generated in {time.perf_counter() - started:.1f} s")
        log("full report (DuckDB) ...")
        report = _child("report", folder)
        log(f"report: {report['seconds']} s, peak RSS {report['peak_rss_mb']} MB")
        log("message_status + funnel alone (DuckDB, in memory) ...")
        core = _child("core", folder, report["as_of"])
        log(f"core: {core['core_seconds']} s")
        log("pandas message_status + funnel ...")
        pandas = _child("pandas", folder, report["as_of"])
        log(f"pandas: {pandas['pandas_seconds']} s, peak RSS {pandas['peak_rss_mb']} MB")
    print(
        json.dumps(
            {
                "events": args.events,
                "sends": args.sends,
                "seconds": report["seconds"],
                "pandas_seconds": pandas["pandas_seconds"],
                "speedup": round(pandas["pandas_seconds"] / report["seconds"], 2),
                "core_seconds": core["core_seconds"],
                "core_speedup": round(pandas["pandas_seconds"] / core["core_seconds"], 2),
                "peak_rss_mb": report["peak_rss_mb"],
                "pandas_peak_rss_mb": pandas["peak_rss_mb"],
                "cpu_seconds": report["cpu_seconds"],
                "pandas_cpu_seconds": pandas["cpu_seconds"],
                "cores": os.cpu_count(),
                "same_funnel": report["funnel"] == pandas["funnel"] == core["funnel"],
                "message_status_rows": report["message_status_rows"],
                "html_bytes": report["html_bytes"],
                "steps": report["steps"],
                "goal_seconds": 15,
                "goal_peak_rss_mb": 4096,
                "goal_speedup": 5,
            }
        )
    )


if __name__ == "__main__":
    main()
