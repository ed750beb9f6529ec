"""Receiver throughput: signed webhook POSTs on loopback for 30 s, then land and count them.

The receiver runs in its own process (`ReceiverServer`: uvicorn, fsync group commit, the
X-Hub-Signature-256 check on). The load generator is a plain asyncio HTTP/1.1 client with
keep-alive connections (aiohttp or httpx would spend more CPU than the server on a 2-core
machine); it posts realistic bodies made by the sandbox's generator, each with unique wamids,
as fast as the answers come, and records every answer's status and time. After the run the
receiver is stopped gracefully, its segments are landed, and every body answered 200 is looked
for in the landed tables.

Targets (issue 5): >= 2,000 POSTs/s sustained for 30 s, p99 answer time < 200 ms, and the
count of 200 answers equal to the count of bodies landed. Prints one JSON line: {"rps",
"p99_ms", "acked", "landed", ...}. Run from the repo root: `.venv/bin/python
benchmarks/receiver.py` (progress on stderr; about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow.dataset as ds

from mmapi.landing import LandingConfig, land
from mmapi.receiver import ReceiverConfig, ReceiverServer
from mmapi.sandbox import MemorySink, SandboxConfig
from mmapi.sandbox.generator import WebhookGenerator
from mmapi.webhooks import sign_body

SECONDS = 30.0
CONNECTIONS = 64
SEED = 11
SECRET = "bench-app-secret-not-a-real-one"  # noqa: S105 - a local benchmark secret
TEMPLATE_BODIES = 20_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _template_bodies() -> list[bytes]:
    """Realistic bodies (statuses, clicks, stop/resume) from the sandbox's generator."""
    sink = MemorySink()
    generator = WebhookGenerator(SandboxConfig(seed=SEED), sink=sink)
    while len(sink.received) < TEMPLATE_BODIES:
        generator.run(5_000)
    return [captured.body for captured in sink.received[:TEMPLATE_BODIES]]


class Bodies:
    """Unique signed bodies: the templates again and again, with a round number in every id."""

    def __init__(self, templates: list[bytes]) -> None:
        self.templates = templates
        self.count = 0

    def next(self) -> tuple[int, bytes, str]:
        number = self.count
        self.count += 1
        round_, index = divmod(number, len(self.templates))
        body = self.templates[index]
        if round_:
            tag = f"r{round_}.".encode()
            body = (
                body.replace(b'"wamid.', b'"wamid.' + tag)
                .replace(b'"click_id":"', b'"click_id":"' + tag)
                .replace(b'"wa_id":"', b'"wa_id":"' + tag)
            )
        return number, body, sign_body(body, SECRET)


async def _connection(
    host: str,
    port: int,
    path: str,
    bodies: Bodies,
    deadline: float,
    latencies: list[float],
    acked: list[int],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            number, body, signature = bodies.next()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            raw = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in raw.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(raw.split(b" ", 2)[1])
            if status == 200:
                acked.append(number)
            else:
                errors.append(str(status))
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def _load(server: ReceiverServer, bodies: Bodies, seconds: float) -> dict[str, Any]:
    host, port = server.host, int(server.url.rsplit(":", 1)[1])
    latencies: list[float] = []
    acked: list[int] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, server.config.path, bodies, deadline, latencies, acked, errors)
            for _ in range(CONNECTIONS)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "elapsed": elapsed,
        "acked": acked,
        "errors": errors,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1],
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


def _keys(body: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """What a body lands as: (table, key) for each of its events."""
    keys: list[tuple[str, tuple[str, ...]]] = []
    for entry in orjson.loads(body)["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            for item in value.get("statuses", []):
                keys.append(("statuses", (item["id"], item["status"])))
            for item in value.get("user_actions", []):
                keys.append(("clicks", (item["marketing_messages_link_click_data"]["click_id"],)))
            for item in value.get("user_preferences", []):
                keys.append(("preferences", (item["wa_id"], item["value"], item["timestamp"])))
    return keys


def _landed_keys(out: Path) -> set[tuple[str, tuple[str, ...]]]:
    found: set[tuple[str, tuple[str, ...]]] = set()
    columns = {
        "statuses": ["wamid", "status"],
        "clicks": ["click_id"],
        "preferences": ["wa_id", "value", "ts"],
    }
    for table, names in columns.items():
        folder = out / "events" / table
        if not folder.exists():
            continue
        data = ds.dataset(folder, partitioning="hive").to_table(columns=names).to_pylist()
        for row in data:
            if table == "preferences":
                key = (row["wa_id"], row["value"], str(int(row["ts"].timestamp())))
            else:
                key = tuple(row[name] for name in names)
            found.add((table, key))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="load duration")
    seconds = parser.parse_args().seconds
    _log(f"making {TEMPLATE_BODIES:,} template bodies with the sandbox generator ...")
    bodies = Bodies(_template_bodies())
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as folder:
        work = Path(folder)
        config = ReceiverConfig(directory=work / "raw", app_secret=SECRET)
        with ReceiverServer(config) as server:
            _log(f"receiver at {server.webhook_url}; {CONNECTIONS} connections for {seconds:.0f} s")
            result = asyncio.run(_load(server, bodies, seconds))
            health = server.health()
        rps = len(result["acked"]) / result["elapsed"]
        _log(
            f"  {len(result['acked']):,} answered 200 ({rps:,.0f}/s), "
            f"p99 {result['p99_ms']:.1f} ms, errors {len(result['errors'])}; landing ..."
        )
        started = time.perf_counter()
        summary = land(LandingConfig(source=str(work / "raw"), out=work / "lake")).as_dict()
        landing_seconds = time.perf_counter() - started
        landed_keys = _landed_keys(work / "lake")
        replay = Bodies(bodies.templates)
        landed = 0
        for number in result["acked"]:
            replay.count = number
            _, body, _ = replay.next()
            if all(key in landed_keys for key in _keys(body)):
                landed += 1
        _log(f"  landed in {landing_seconds:.1f} s: {summary}")
    writers = health["writers"]["segments"]
    print(
        json.dumps(
            {
                "bench": "receiver",
                "rps": round(rps),
                "p99_ms": round(result["p99_ms"], 1),
                "acked": len(result["acked"]),
                "landed": landed,
                "p50_ms": round(result["p50_ms"], 1),
                "max_ms": round(result["max_ms"], 1),
                "errors": len(result["errors"]),
                "stored_lines": writers["lines"],
                "syncs": writers["syncs"],
                "largest_group": writers["largest_group"],
                "quarantined": summary["quarantined"],
                "seconds": round(result["elapsed"], 1),
                "connections": CONNECTIONS,
                "fsync": True,
                "signature_check": True,
            }
        )
    )


if __name__ == "__main__":
    main()
