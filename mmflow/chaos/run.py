"""The chaos run: one campaign end to end against the sandbox while faults hit every stage.

1. a warehouse of `recipients` customers and the demo campaign spec at the account's cap;
2. the receiver, and the sandbox posting signed webhooks to it with background faults (5xx,
   hangs, accepted-then-dropped requests, duplicate, late and re-POSTed webhooks, long
   webhook retries) and the account's throughput cap;
3. the send flow in child processes, SIGKILLed at random numbers of accepted messages and
   started again, while a schedule kills the receiver under load and turns 130429 storms on
   and off, and webhooks are landed every few seconds;
4. runs to the end until nothing is planned or unknown, the sandbox's remaining webhooks
   played out, a last landing and the report (the `land_webhooks` and `build_report` flows);
5. the score: the sandbox's ground truth against the plan, the landed events and the report.
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import shutil
import socket
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mmapi.receiver import ReceiverConfig
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmapi.throttle import RetryBudget

from ..prefect_server import LocalPrefectServer
from ..warehouse import build_demo_warehouse, demo_campaign_spec
from .faults import FaultSchedule, LandingLoop, RestartableReceiver, StormWindow
from .flow_runner import FlowRunner
from .score import score_run
from .settings import ChaosSettings

__all__ = ["ChaosError", "run_chaos"]

logger = logging.getLogger("mmflow.chaos")

CAMPAIGN_ID = "chaos-spring-sale"
MARKER = ".chaos-run"
# The sandbox retries a webhook body about this long (1 s apart at most) before giving up:
# far longer than any receiver downtime of the run, as Meta retries for days.
WEBHOOK_ATTEMPTS = 10_000
WEBHOOK_RETRY_MAX_SECONDS = 1.0
# Share of the warehouse's customers that survive prepare (the rest are dirty or duplicates).
PLANNED_SHARE_ESTIMATE = 0.8
MAX_FINISH_RUNS = 8
RUN_TIMEOUT_SECONDS = 1800.0
POLL_SECONDS = 0.05


class ChaosError(RuntimeError):
    """Raised when the chaos run cannot go on (a flow run failed, a server did not start)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fresh_folder(out: Path) -> None:
    """Start from an empty folder; only a folder an earlier chaos run made is emptied."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ChaosError(f"{out}: not empty and not made by a chaos run; pick another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()


class _Clock:
    """Prints progress lines to stderr, stamped with the seconds since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f}s {text}", file=sys.stderr, flush=True)


def _storm_figures(stats: dict[str, Any], storms: list[StormWindow], cap: float) -> dict[str, Any]:
    """Send requests per second during the long storm, and in the 10 s before it."""
    per_second = {int(k): v for k, v in stats["per_second"].items()}
    long_storms = [s for s in storms if s.share >= 1.0]
    if not long_storms:
        return {}
    storm = long_storms[0]
    inside = range(math.ceil(storm.start), math.floor(storm.end))
    before = range(math.floor(storm.start) - 10, math.floor(storm.start))
    storm_rps = sum(per_second.get(s, 0) for s in inside) / max(1, len(inside))
    before_rps = sum(per_second.get(s, 0) for s in before) / len(before)
    return {
        "seconds": round(storm.end - storm.start, 1),
        "requests_per_second": round(storm_rps, 1),
        "requests_vs_cap": round(storm_rps / cap, 3),
        "requests_per_second_before": round(before_rps, 1),
    }


def run_chaos(
    out: Path, settings: ChaosSettings, *, prefect_api_url: str | None = None
) -> dict[str, Any]:
    """Run the chaos campaign and score it.

    Args:
        out: Folder for everything the run writes (emptied first if an earlier run made it).
        settings: Audience, fault schedule and faults.
        prefect_api_url: The Prefect API to run the flows on; a local server with its home in
            `out/.prefect` on a free port when None.

    Returns:
        The figures: sent_twice, never_sent, acked_missing, landed_twice, report_mismatches,
        retries_per_message, the achieved rate against the cap, and what was injected.

    Raises:
        ChaosError: a flow run failed, or the campaign did not finish.
    """
    clock = _Clock()
    # Prefect's INFO lines of the landing and report flows would bury the progress lines.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    out = out.resolve()
    _fresh_folder(out)
    api_key = (
        settings.api_key.get_secret_value()
        if settings.api_key is not None
        else secrets.token_hex(16)
    )
    webhook_secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret is not None
        else secrets.token_hex(16)
    )
    warehouse = build_demo_warehouse(
        out / "warehouse.duckdb", rows=settings.recipients, seed=settings.seed
    )
    spec = demo_campaign_spec(
        warehouse, CAMPAIGN_ID, messages_per_second=settings.messages_per_second
    )
    spec_path = out / "campaign.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    raw, lake, campaigns = out / "raw", out / "lake", out / "campaigns"
    truth_path = out / "ground_truth.ndjson"
    clock.say(f"warehouse of {settings.recipients:,} customers, spec {spec_path}")
    with ExitStack() as stack:
        if prefect_api_url is None:
            server = stack.enter_context(LocalPrefectServer(out / ".prefect", port=_free_port()))
            prefect_api_url = server.api_url
        # Started first: the runner's zygote imports the flow while the servers start.
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_api_url,
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "D360_API_KEY": api_key,
        }
        flow_args = {
            "spec_path": str(spec_path),
            "out_dir": str(campaigns),
            "events_dir": str(lake / "events"),
            "chunk_size": settings.chunk_size,
            "ad_sync_wait_seconds": 0,
        }
        runner = FlowRunner(env, out / "logs", flow_args)
        stack.callback(runner.close)
        receiver = RestartableReceiver(ReceiverConfig(directory=raw, app_secret=webhook_secret))
        stack.callback(receiver.stop)
        sandbox = stack.enter_context(
            SandboxServer(
                SandboxConfig(
                    seed=settings.seed,
                    api_key=api_key,
                    latency_ms=settings.latency_ms,
                    rate_limit_mps=settings.messages_per_second,
                    # Webhook times line up with the ledger's send times (as in the demo), so
                    # the unknown-send grace period means what it says.
                    time_compression=1.0,
                    route_marketing_via_mm_on_messages=False,
                    webhook_url=receiver.webhook_url,
                    webhook_secret=webhook_secret,
                    webhook_max_attempts=WEBHOOK_ATTEMPTS,
                    webhook_retry_max_seconds=WEBHOOK_RETRY_MAX_SECONDS,
                    p_500=settings.p_500,
                    p_hang=settings.p_hang,
                    hang_seconds=settings.hang_seconds,
                    p_accept_then_drop=settings.p_accept_then_drop,
                    p_duplicate=settings.p_duplicate,
                    p_late=settings.p_late,
                    p_redeliver=settings.p_redeliver,
                    ground_truth_path=truth_path,
                )
            )
        )
        clock.say(
            f"Prefect {prefect_api_url}, sandbox {sandbox.url}, receiver {receiver.webhook_url}"
        )
        runner.flow_args["base_url"] = sandbox.url
        landing = LandingLoop(raw, lake, settings.land_every_seconds)
        expected = settings.recipients * PLANNED_SHARE_ESTIMATE
        schedule = FaultSchedule(
            sandbox=sandbox,
            receiver=receiver,
            receiver_kills=settings.receiver_kills,
            receiver_down_seconds=settings.receiver_down_seconds,
            storm_seconds=settings.storm_seconds,
            bursts=settings.bursts,
            window_seconds=expected / settings.messages_per_second * 1.2 + settings.storm_seconds,
            seed=settings.seed,
        )
        send = _send_under_faults(settings, runner, sandbox, schedule, landing, clock, expected)
        first_plan = out / "first_plan.parquet"
        sandbox.flush()
        landing.stop()
        clock.say("every webhook delivered; landing and report")
        from flows.build_report import build_report
        from flows.land_webhooks import land_webhooks

        land_webhooks(source=str(raw), out=str(lake), settle_seconds=0)
        sandbox.flush()  # flush writes the ground truth's last records
        stats = sandbox.stats()
        as_of = _as_of(stats["webhooks"]["sim_time"])
        report = build_report(
            sends=str(campaigns), events=str(lake), out=str(out / "report"), as_of=as_of
        )
        score = score_run(
            truth=truth_path,
            plan=first_plan,
            events=lake / "events",
            report=Path(report["database"]),
            sends=campaigns / CAMPAIGN_ID / "sends.parquet",
        )
    result = _figures(settings, send, stats, score, schedule, receiver)
    result["elapsed_seconds"] = round(time.monotonic() - clock.started, 1)
    result["out"] = str(out)
    clock.say("done")
    return result


def _as_of(sim_time: float) -> str:
    """A report time past every webhook and every TTL (30 days at most), so none is pending."""
    latest = max(sim_time, time.time() + 31 * 86400)
    return datetime.fromtimestamp(latest + 86400, tz=UTC).isoformat()


def _send_under_faults(
    settings: ChaosSettings,
    runner: FlowRunner,
    sandbox: SandboxServer,
    schedule: FaultSchedule,
    landing: LandingLoop,
    clock: _Clock,
    expected: float,
) -> dict[str, Any]:
    """Kill and restart the send flow while the schedule runs; then run it to the end."""
    rng = random.Random(settings.seed + 1)
    share = expected / (settings.flow_kills + 1)
    thresholds = [int(rng.uniform(0.3, 0.9) * share) + 1 for _ in range(settings.flow_kills)]
    first_plan = runner.logs.parent / "first_plan.parquet"
    plan = runner.logs.parent / "campaigns" / CAMPAIGN_ID / "plan.parquet"
    kills = 0
    started = time.monotonic()
    landing.start()

    def accepted() -> int:
        return int(sandbox.health()["messages"])

    for threshold in thresholds:
        base = accepted()
        runner.start()
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while (code := runner.exit_code()) is None:
            now_accepted = accepted()
            if not schedule.started and now_accepted > base:
                schedule.start()  # the clock of the faults starts with the first send
            if now_accepted - base >= threshold:
                code = runner.kill()
                break
            if time.monotonic() > deadline:
                runner.kill()
                raise ChaosError(f"run {runner.runs} reached no kill point:\n{runner.log_tail()}")
            time.sleep(POLL_SECONDS)
        if not first_plan.exists() and plan.exists():
            # Re-runs suppress recipients whose landed webhooks say 131050: the first plan is
            # what the campaign set out to send.
            shutil.copyfile(plan, first_plan)
        if code == -9:
            kills += 1
            clock.say(f"send flow SIGKILLed ({kills}) after {threshold:,} more accepted messages")
        elif code == 0:
            break
        else:
            raise ChaosError(f"run {runner.runs} failed ({code}):\n{runner.log_tail()}")

    if not schedule.started:
        schedule.start()
    summaries = []
    send_end = None
    accepted_at_end = 0
    for _ in range(MAX_FINISH_RUNS):
        runner.start()
        code = runner.exit_code(timeout=RUN_TIMEOUT_SECONDS)
        summary = runner.summary()
        if code != 0 or summary is None:
            raise ChaosError(f"run {runner.runs} failed ({code}):\n{runner.log_tail()}")
        summaries.append(summary)
        if send_end is None:
            send_end = time.monotonic()
            accepted_at_end = accepted()
            clock.say(f"first run to the end: {summary['ledger']}")
        if not first_plan.exists():
            shutil.copyfile(plan, first_plan)
        schedule.join()
        if summary["planned_left"]:
            continue
        if summary["unknown"]:
            # Unknown sends settle against webhooks: play them out and land them first.
            sandbox.flush()
            landing.land_now()
            clock.say(f"{summary['unknown']} unknown sends: webhooks flushed and landed")
            continue
        break
    else:
        raise ChaosError(f"the campaign did not finish in {MAX_FINISH_RUNS} runs: {summaries[-1]}")
    return {
        "flow_kills": kills,
        "flow_runs": runner.runs,
        "send_seconds": round((send_end or time.monotonic()) - started, 1),
        "accepted_at_send_end": accepted_at_end,
        "final_ledger": summaries[-1]["ledger"],
        "reconciled": [s["reconciled"] for s in summaries],
    }


def _figures(
    settings: ChaosSettings,
    send: dict[str, Any],
    stats: dict[str, Any],
    score: dict[str, Any],
    schedule: FaultSchedule,
    receiver: RestartableReceiver,
) -> dict[str, Any]:
    """The one JSON line: exactly-once figures first, then retries, rates and what ran."""
    checks, webhooks, report = score["send"], score["webhooks"], score["report"]
    planned = checks["planned"]
    cells = score["report_cells"]
    mismatches = sum(abs(c["truth"] - c["report"]) for c in cells)
    requests = stats["requests"]
    claims = score["ledger_claims"]
    budget = RetryBudget()
    retries = requests - claims
    allowed = budget.ratio * claims + budget.minimum * send["flow_runs"]
    cap = settings.messages_per_second
    achieved = send["accepted_at_send_end"] / send["send_seconds"] if send["send_seconds"] else 0.0
    emitter = stats["webhooks"]
    figures: dict[str, Any] = {
        "sent_twice": checks["sent_twice"],
        "never_sent": checks["never_sent"],
        "acked_missing": webhooks["acked_missing"],
        "landed_twice": webhooks["landed_twice"],
        "report_mismatches": mismatches,
        "retries_per_message": round((requests - planned) / planned, 4) if planned else None,
        "achieved_mps": round(achieved, 1),
        "cap_mps": cap,
        "achieved_vs_cap": round(achieved / cap, 3),
        "storm": _storm_figures(stats, schedule.storms, cap),
        "retries_in_batches": retries,
        "retry_budget": round(allowed, 1),
        "within_retry_budget": retries <= allowed,
        "planned": planned,
        "sent_outside_plan": checks["sent_outside_plan"],
        "wrong_endpoint": checks["wrong_endpoint"],
        "report_wrong_status": report["wrong_status"],
        "report_missing_messages": report["not_in_report"],
        "report_cells": cells,
        "acked_events": webhooks["acked_events"],
        "landed_events": webhooks["landed_events"],
        "landed_not_acked": webhooks["landed_not_acked"],
        "send_requests": requests,
        "ledger_claims": claims,
        "flow_kills": send["flow_kills"],
        "flow_runs": send["flow_runs"],
        "receiver_kills": receiver.kills,
        "storms": len(schedule.storms),
        "send_seconds": send["send_seconds"],
        "rejected_by_code": stats["rejected"],
        "faults": stats["faults"],
        "webhook_retries": emitter["retries"],
        "webhook_redelivered_bodies": emitter["redelivered_bodies"],
        "webhook_duplicate_events": emitter["duplicates"],
        "webhook_failed_bodies": emitter["failed_bodies"],
        "final_ledger": send["final_ledger"],
        "recipients": settings.recipients,
        "seed": settings.seed,
    }
    zero = ("sent_twice", "never_sent", "acked_missing", "landed_twice", "report_mismatches")
    figures["ok"] = (
        all(figures[k] == 0 for k in zero)
        and figures["sent_outside_plan"] == figures["wrong_endpoint"] == 0
        and figures["report_wrong_status"] == figures["report_missing_messages"] == 0
        and figures["within_retry_budget"]
        and figures["webhook_failed_bodies"] == 0
        and figures["flow_kills"] >= settings.flow_kills
        and figures["receiver_kills"] >= settings.receiver_kills
    )
    return figures
