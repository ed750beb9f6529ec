"""Scale-out benchmark (issue 9): one campaign sent by 1, then by 3 worker processes.

Each worker is a process running the `send_campaign` flow (what a worker of a process work
pool starts per flow run) with the same spec, the same output folder and one Postgres
ledger; they claim chunks from the ledger and share the campaign's cap through its
heartbeats. The sandbox answers at 50 ms and enforces the cap (130429 above it).

Prints one JSON line per worker count: `workers`, `mps` (sandbox-accepted messages over the
seconds requests arrived in), `max_1s_count` (the busiest sliding second at the sandbox),
`cap`, `share_spread` ((max - min) / mean of the messages each worker sent; 0 is an even
split), `sent_twice`, `never_sent`, and the baseline of the same run: the 1-worker `mps`
(`ratio_to_one_worker`).

Run from the repo root: `.venv/bin/python benchmarks/scaleout.py [--messages N]`
(default 200,000). Needs Postgres on 127.0.0.1:5432. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.send_campaign import clean_segment, write_send_spec  # noqa: E402
from mmapi.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from mmflow.prefect_server import LocalPrefectServer  # noqa: E402

MESSAGES = 200_000
CAP = 1000
LATENCY_MS = 50
MAX_IN_FLIGHT = 200
CHUNK_SIZE = 5000
WORKER_COUNTS = (1, 3)
PREFECT_PORT = 4282
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

WORKER = """
import asyncio, json, sys
from flows.send_campaign import send_campaign
spec, out, ledger_url, chunk_size = sys.argv[1:5]
summary = asyncio.run(send_campaign(spec, out, ledger_url=ledger_url, chunk_size=int(chunk_size)))
print("SUMMARY " + json.dumps(summary, default=str), flush=True)
"""


def log(message: str) -> None:
    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


def _run(workers: int, folder: Path, segment: Path, ledger_url: str, env: dict) -> dict[str, Any]:
    campaign_id = f"scaleout-{workers}"
    spec = write_send_spec(folder / f"{campaign_id}.yaml", campaign_id, segment, CAP, MAX_IN_FLIGHT)
    out = folder / "campaigns"
    with SandboxServer(SandboxConfig(latency_ms=LATENCY_MS, rate_limit_mps=CAP)) as sandbox:
        run_env = {**env, "D360_API_KEY": sandbox.api_key, "D360_BASE_URL": sandbox.url}
        log(f"{workers} worker(s) send {campaign_id}")
        logs = [open(folder / f"{campaign_id}-{n}.log", "wb") for n in range(workers)]  # noqa: SIM115
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(spec), str(out), ledger_url, str(CHUNK_SIZE)],
                cwd=ROOT,
                env=run_env,
                stdout=subprocess.PIPE,
                stderr=worker_log,
                text=True,
            )
            for worker_log in logs
        ]
        summaries = []
        for process in processes:
            stdout, _ = process.communicate()
            lines = [line for line in stdout.splitlines() if line.startswith("SUMMARY ")]
            if process.returncode != 0 or not lines:
                raise SystemExit(f"a worker failed; see {folder}/{campaign_id}-*.log")
            summaries.append(json.loads(lines[-1].removeprefix("SUMMARY ")))
        for worker_log in logs:
            worker_log.close()
        stats = sandbox.stats()
        truth = sandbox.ground_truth()["messages"]
    seconds = [int(s) for s, n in stats["per_second"].items() if n]
    span = max(seconds) - min(seconds) + 1
    planned = set(pq.read_table(out / campaign_id / "plan.parquet")["recipient"].to_pylist())
    sent_to = Counter(m["to"] for m in truth)
    shares = [s["accepted_this_run"] for s in summaries]
    mean = sum(shares) / len(shares)
    return {
        "bench": "scaleout",
        "workers": workers,
        "messages": len(truth),
        "mps": round(len(truth) / span, 1),
        "max_1s_count": stats["max_1s_count"],
        "cap": CAP,
        "rejected_130429": stats["rejected"].get("130429", 0),
        "shares": shares,
        "share_spread": round((max(shares) - min(shares)) / mean, 3) if mean else None,
        "sent_twice": sum(1 for n in sent_to.values() if n > 1),
        "never_sent": len(planned - set(sent_to)),
        "seconds_sending": span,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=MESSAGES)
    args = parser.parse_args()
    database = f"scaleout_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            segment = clean_segment(folder / "segment.parquet", args.messages)
            with LocalPrefectServer(folder / "prefect", port=PREFECT_PORT) as server:
                env = {
                    **os.environ,
                    "PREFECT_API_URL": server.api_url,
                    "PYTHONPATH": str(ROOT),
                }
                ledger_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
                results = []
                for workers in WORKER_COUNTS:
                    started = time.monotonic()
                    result = _run(workers, folder, segment, ledger_url, env)
                    result["wall_seconds"] = round(time.monotonic() - started, 1)
                    results.append(result)
                baseline = results[0]["mps"]
                for result in results:
                    result["ratio_to_one_worker"] = round(result["mps"] / baseline, 3)
                    print(json.dumps(result), flush=True)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
