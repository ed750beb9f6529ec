"""The demo: one campaign against a local sandbox, from audience to webhook funnel.

What runs today: a synthetic audience, a stable 90% MM / 10% Cloud split, a rate-limited
batch send through `BatchSender`, the sandbox playing out deliveries, reads, clicks and
opt-outs on a compressed clock into NDJSON webhook files, and a funnel by arm read back
from those files. The Prefect flows (extract, prepare, ledger, landing, report) replace the
pieces here as they land.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from mmapi import (
    BatchSender,
    ClientConfig,
    CloudMessageRequest,
    MarketingMessageRequest,
    MMClient,
    OutgoingMessage,
    SendOutcome,
    WebhookPayload,
)
from mmapi.audience import arm_of
from mmapi.sandbox import SandboxConfig, SandboxServer

CAMPAIGN_ID = "demo-spring-sale"
TEMPLATE_NAME = "spring_sale"
MM_SHARE = 0.9
MESSAGES_PER_SECOND = 1000.0
SANDBOX_LATENCY_MS = 20.0
# A week of simulated webhooks plays out in a few seconds.
TIME_COMPRESSION = 86_400.0
# National prefixes of mobile ranges, so the numbers look like a real multi-country audience.
MOBILE_PREFIXES = ("49151", "49160", "5511", "5521", "91987", "91998", "34612", "44745")


def _audience(size: int) -> list[str]:
    numbers = []
    for i in range(size):
        prefix = MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
        numbers.append(f"{prefix}{(i * 7919) % 10**7:07d}")
    return numbers


def _message(recipient: str, arm: str) -> OutgoingMessage:
    template = {
        "name": TEMPLATE_NAME,
        "language": {"code": "en"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://example.com/s.jpg"}}],
            },
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "friend"}, {"type": "text", "text": "20%"}],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": 0,
                "parameters": [{"type": "text", "text": "spring"}],
            },
        ],
    }
    key = hashlib.sha256(f"{CAMPAIGN_ID}:{recipient}".encode()).hexdigest()[:32]
    if arm == "mm":
        request = MarketingMessageRequest(
            to=recipient, template=template, message_activity_sharing=True
        )
        return OutgoingMessage.of(key, request)
    return OutgoingMessage.of(key, CloudMessageRequest(to=recipient, template=template))


async def _send(url: str, api_key: str, messages: list[OutgoingMessage], console: Console):
    outcomes: list[SendOutcome] = []
    config = ClientConfig(api_key=api_key, base_url=url, messages_per_second=MESSAGES_PER_SECOND)
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("sending", total=len(messages))

        def on_outcome(outcome: SendOutcome) -> None:
            outcomes.append(outcome)
            progress.advance(task)

        async with MMClient(config) as client:
            summary = await BatchSender(client, on_outcome=on_outcome).send(messages)
    return summary, outcomes


def _funnel(raw: Path, arm_by_wamid: dict[str, str]) -> dict[str, Counter[str]]:
    statuses: dict[str, set[str]] = defaultdict(set)
    clicks = 0
    for path in sorted(raw.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            payload = WebhookPayload.model_validate(orjson.loads(line))
            for status in payload.statuses():
                statuses[status.id].add(status.status)
            for entry in payload.entry:
                for change in entry.changes:
                    clicks += len(change.value.get("user_actions") or [])
    funnel: dict[str, Counter[str]] = {arm: Counter() for arm in ("mm", "cloud")}
    for wamid, arm in arm_by_wamid.items():
        seen = statuses.get(wamid, set())
        funnel[arm]["accepted"] += 1
        funnel[arm]["delivered"] += bool(seen & {"delivered", "read"})
        funnel[arm]["read"] += "read" in seen
        funnel[arm]["failed"] += "failed" in seen
    funnel["mm"]["clicks"] = clicks
    return funnel


def run_demo(out: Path, recipients: int) -> None:
    """Run the demo campaign and print its funnel by arm."""
    console = Console()
    raw = out / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    sandbox_config = SandboxConfig(
        webhook_dir=raw,
        latency_ms=SANDBOX_LATENCY_MS,
        rate_limit_mps=MESSAGES_PER_SECOND,
        time_compression=TIME_COMPRESSION,
    )
    audience = _audience(recipients)
    arms = {recipient: arm_of(CAMPAIGN_ID, recipient, MM_SHARE) for recipient in audience}
    messages = [_message(recipient, arm) for recipient, arm in arms.items()]
    console.print(
        f"campaign {CAMPAIGN_ID}: {len(messages):,} recipients, "
        f"{sum(a == 'mm' for a in arms.values()):,} MM / "
        f"{sum(a == 'cloud' for a in arms.values()):,} Cloud"
    )
    with SandboxServer(sandbox_config) as sandbox:
        console.print(f"sandbox at {sandbox.url}")
        api_key = sandbox_config.api_key.get_secret_value()
        summary, outcomes = asyncio.run(_send(sandbox.url, api_key, messages, console))
        console.print(
            f"sent: {summary.accepted:,} accepted in {summary.elapsed_seconds:.1f} s "
            f"({summary.messages_per_second:,.0f} messages/s), "
            f"other outcomes: { {str(k): v for k, v in summary.counts.items() if k != 'accepted'} }"
        )
        started = time.monotonic()
        httpx.post(f"{sandbox.url}/sandbox/flush", timeout=120).raise_for_status()
        played = time.monotonic() - started
        console.print(f"sandbox played out a week of webhooks in {played:.1f} s")
    arm_by_key = {message.key: message.endpoint for message in messages}
    arm_by_wamid = {
        o.wamid: "mm" if arm_by_key[o.key] == "marketing_messages" else "cloud"
        for o in outcomes
        if o.wamid
    }
    funnel = _funnel(raw, arm_by_wamid)
    table = Table(title=f"{CAMPAIGN_ID}: funnel by arm (from the webhooks)")
    for column in ("arm", "accepted", "delivered", "read", "failed", "delivery rate", "read rate"):
        table.add_column(column, justify="right")
    for arm, counts in funnel.items():
        accepted, delivered = counts["accepted"], counts["delivered"]
        table.add_row(
            arm,
            f"{accepted:,}",
            f"{delivered:,}",
            f"{counts['read']:,}",
            f"{counts['failed']:,}",
            f"{delivered / accepted:.1%}" if accepted else "-",
            f"{counts['read'] / delivered:.1%}" if delivered else "-",
        )
    console.print(table)
    console.print(f"link clicks (MM only, not tied to a number): {funnel['mm']['clicks']:,}")
    console.print(f"raw webhooks: {raw}/ ({len(list(raw.glob('*.ndjson')))} NDJSON files)")
