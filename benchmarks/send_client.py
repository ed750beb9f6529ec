"""Throughput of MMClient + BatchSender against the sandbox running in another process.

Measures, in one run:
- the aiohttp-backed client at a 1,000/s cap, 100 ms server latency, 200 in flight (~20 s);
- the same client with no cap (sandbox unlimited, client at 2,000/s): what it sustains;
- the same sender on httpx's native connection pool (the baseline);
- the 80/s default cap: the largest count the sandbox saw in any one-second window.

The client runs with its default configuration, which paces at most the cap in any 1 s plus
`arrival_jitter_seconds` (so below the cap on average). The sandbox runs ahead of the client
(`SandboxServer.run_ahead`, when permitted): it stands in for servers with cores of their own.

Prints one JSON line: {"mps", "ceiling_mps", "ratio", "baseline_mps", "cap80_max_1s_count", ...}.
Run from the repo root: `.venv/bin/python benchmarks/send_client.py` (progress on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter

import httpx

from mmapi import (
    BatchSender,
    ClientConfig,
    MarketingMessageRequest,
    MMClient,
    OutgoingMessage,
    Throttle,
)
from mmapi.sandbox import SandboxConfig, SandboxServer

API_KEY = "bench-key-not-a-secret-0123456789"
LATENCY_MS = 100
RATE_CAP = 1000.0
MAX_IN_FLIGHT = 200
SECONDS = 20.0
BASELINE_SECONDS = 10.0
UNCAPPED_RATE = 2000.0
UNCAPPED_SECONDS = 10.0
DEFAULT_CAP = 80.0
DEFAULT_CAP_SECONDS = 10.0


def _messages(count: int, offset: int) -> list[OutgoingMessage]:
    template = {
        "name": "spring_sale",
        "language": {"code": "en"},
        "components": [
            {
                "type": "header",
                "parameters": [
                    {"type": "image", "image": {"link": "https://example.com/sale.jpg"}}
                ],
            },
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": 0,
                "parameters": [{"type": "text", "text": "spring"}],
            },
        ],
    }
    return [
        OutgoingMessage.of(
            str(i),
            MarketingMessageRequest(to=f"49151{offset + i:08d}", template=template),
        )
        for i in range(count)
    ]


async def _measure(
    url: str,
    *,
    rate: float,
    seconds: float,
    transport: httpx.AsyncBaseTransport | None,
    offset: int,
) -> dict[str, object]:
    """Send for `seconds` and count the messages accepted in that time."""
    config = ClientConfig(api_key=API_KEY, base_url=url, max_in_flight=MAX_IN_FLIGHT)
    # A throttle of its own: the uncapped run goes past the 1,000/s an account can have.
    throttle = Throttle(
        rate=rate, max_in_flight=MAX_IN_FLIGHT, arrival_jitter=config.arrival_jitter_seconds
    )
    states: Counter[str] = Counter()
    async with MMClient(config, transport=transport, throttle=throttle) as client:
        sender = BatchSender(client, on_outcome=lambda outcome: states.update([outcome.state]))
        # Requests are validated and serialised before the clock starts, as a chunk is.
        messages = _messages(int(rate * seconds * 1.5), offset)
        started = time.monotonic()
        task = asyncio.create_task(sender.send(messages))
        await asyncio.sleep(seconds)
        accepted, elapsed = states["accepted"], time.monotonic() - started
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {
        "mps": round(accepted / elapsed, 1),
        "accepted": accepted,
        "outcomes": dict(states),
        "rate_limited": client.throttle.rate_limited_count,
    }


def _stats(url: str) -> dict[str, object]:
    return httpx.get(f"{url}/sandbox/stats", timeout=10).json()


def main() -> None:
    log = sys.stderr
    config = SandboxConfig(api_key=API_KEY, latency_ms=LATENCY_MS, rate_limit_mps=RATE_CAP)
    with SandboxServer(config) as sandbox:
        ahead = sandbox.run_ahead()
        print(f"sandbox at {sandbox.url}; aiohttp client for {SECONDS:.0f} s", file=log)
        fast = asyncio.run(
            _measure(sandbox.url, rate=RATE_CAP, seconds=SECONDS, transport=None, offset=0)
        )
        fast_stats = _stats(sandbox.url)
        print(f"  {fast}; baseline (httpx pool) for {BASELINE_SECONDS:.0f} s", file=log)
        pool = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
            )
        )
        baseline = asyncio.run(
            _measure(
                sandbox.url, rate=RATE_CAP, seconds=BASELINE_SECONDS, transport=pool, offset=10**7
            )
        )
        print(f"  {baseline}", file=log)
    unlimited = SandboxConfig(api_key=API_KEY, latency_ms=LATENCY_MS)
    with SandboxServer(unlimited) as sandbox:
        print(f"no cap (client at {UNCAPPED_RATE:.0f}/s) for {UNCAPPED_SECONDS:.0f} s", file=log)
        uncapped = asyncio.run(
            _measure(
                sandbox.url,
                rate=UNCAPPED_RATE,
                seconds=UNCAPPED_SECONDS,
                transport=None,
                offset=3 * 10**7,
            )
        )
        print(f"  {uncapped}", file=log)
    capped = SandboxConfig(api_key=API_KEY, latency_ms=LATENCY_MS, rate_limit_mps=DEFAULT_CAP)
    with SandboxServer(capped) as sandbox:
        sandbox.run_ahead()
        print(f"80/s cap for {DEFAULT_CAP_SECONDS:.0f} s", file=log)
        slow = asyncio.run(
            _measure(
                sandbox.url,
                rate=DEFAULT_CAP,
                seconds=DEFAULT_CAP_SECONDS,
                transport=None,
                offset=2 * 10**7,
            )
        )
        slow_stats = _stats(sandbox.url)
    ceiling = min(RATE_CAP, MAX_IN_FLIGHT / (LATENCY_MS / 1000))
    print(
        json.dumps(
            {
                "bench": "send_client",
                "mps": fast["mps"],
                "ceiling_mps": ceiling,
                "ratio": round(float(fast["mps"]) / ceiling, 3),
                "baseline_mps": baseline["mps"],
                "speedup_vs_baseline": round(
                    float(fast["mps"]) / max(float(baseline["mps"]), 0.1), 1
                ),
                "max_1s_count": fast_stats["max_1s_count"],
                "arrival_jitter_seconds": ClientConfig(api_key=API_KEY).arrival_jitter_seconds,
                "sandbox_ahead": ahead,
                "uncapped_mps": uncapped["mps"],
                "uncapped_ceiling_mps": min(UNCAPPED_RATE, MAX_IN_FLIGHT / (LATENCY_MS / 1000)),
                "rate_limited": fast["rate_limited"],
                "cap80_mps": slow["mps"],
                "cap80_max_1s_count": slow_stats["max_1s_count"],
                "cap80_limit": DEFAULT_CAP * 1.1,
                "latency_ms": LATENCY_MS,
                "rate_cap": RATE_CAP,
                "max_in_flight": MAX_IN_FLIGHT,
                "seconds": SECONDS,
                "baseline_seconds": BASELINE_SECONDS,
            }
        )
    )


if __name__ == "__main__":
    main()
