"""send_campaign: warehouse segment → clean audience → MM / Cloud arms → resumable batch send.

Steps: read the spec; check the template and its TTL; extract the segment to
`audience.parquet`; prepare `plan.parquet` (E.164, dedupe, suppression, arms, template
parameters) and `rejects.parquet`; plan the ledger; reconcile what a crashed run left
unknown; send chunk by chunk (thousands of messages per task run, two chunks at a time so
the rate holds across chunk boundaries); export `sends.parquet`.

Re-running the same spec resumes from the plan made by the first run (the segment is not
read again, and a spec that would change the messages is refused): accepted and rejected
messages are skipped, unknown ones are reconciled first, nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.deployments import run_deployment
from prefect.runtime import deployment, flow_run
from prefect.states import Failed

from mmapi.audience import mask_url
from mmapi.audience.settings import AUDIENCE_FILE, PLAN_FILE, REJECTS_FILE, SUPPRESSION_LIST_FILE
from mmapi.campaign import CampaignSpec
from mmapi.chunks import ChunkResult
from mmapi.client import ClientConfig, MMClient
from mmapi.errors import ConfigurationError, SpecError
from mmapi.landing.remote import readable_events
from mmapi.ledger import Ledger, check_ledger_url
from mmapi.rate_share import WORKER_TIMEOUT_SECONDS, RateShare
from mmapi.settings import DEFAULT_BASE_URL
from mmapi.storage import OutputFolder, join
from mmapi.throttle import RetryBudget
from tasks.extract import extract_segment
from tasks.prepare import prepare_plan
from tasks.send import (
    check_template,
    export_sends,
    plan_ledger,
    reconcile_unknown,
    resolve_api_key,
    send_chunk,
    suppress_late_opt_outs,
)
from tasks.storage import use_aws_credentials_block

BASE_URL_ENV = "D360_BASE_URL"
DEFAULT_CHUNK_SIZE = 5000
CONCURRENT_CHUNKS = 2
# A chunk whose worker has not heartbeaten for this long is taken over by another worker.
DEFAULT_LEASE_SECONDS = 60.0
# How often a waiting worker looks at the ledger (for a chunk that came free, for workers).
LEDGER_POLL_SECONDS = 1.0
# How long a run with workers=N waits for the runs it started to begin sending.
WORKERS_JOIN_TIMEOUT_SECONDS = 300.0
CAMPAIGN_RECORD = "campaign.json"
SENDS_FILE = "sends.parquet"
# Spec fields a resumed campaign may change: how fast it sends, not what it sends.
RESUMABLE_CHANGES = frozenset(
    {
        "messages_per_second",
        "max_in_flight",
        "arrival_jitter_seconds",
        "dry_run",
        "allow_template_changes",
    }
)


@flow(name="send_campaign", log_prints=False)
async def send_campaign(
    spec_path: str,
    out_dir: str = "campaigns",
    base_url: str | None = None,
    api_key_block: str | None = None,
    ledger_url: str | None = None,
    events_dir: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    unknown_grace_seconds: float = 3600.0,
    ad_sync_wait_seconds: float = 600.0,
    dry_run: bool | None = None,
    workers: int = 1,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    aws_credentials_block: str | None = None,
) -> dict[str, Any]:
    """Send a campaign described by a spec file; safe to re-run after any crash.

    Args:
        spec_path: The campaign spec (YAML; see `mmapi.campaign.CampaignSpec`).
        out_dir: Outputs go to `<out_dir>/<campaign_id>/`; an `s3://` URL is written through
            a local working folder (`mmapi.storage.OutputFolder`), which keeps the default
            SQLite ledger: resume such a campaign on the same machine, or use `ledger_url`.
        base_url: The API host (default: `D360_BASE_URL`, else 360dialog's).
        api_key_block: Name of a Prefect Secret block holding the key (else `D360_API_KEY`).
        ledger_url: SQLAlchemy URL of the ledger (default: SQLite in the campaign folder).
        events_dir: Landed events, for suppression and for reconciling unknown sends (an
            `s3://` folder is copied to the working folder once, when the run starts).
        chunk_size: Messages per task run.
        unknown_grace_seconds: How long after a send a missing status webhook proves that an
            `unknown` request never reached the API (then it is sent again).
        ad_sync_wait_seconds: Wait after changing the template's TTL (Meta's ad sync).
        dry_run: Override the spec's dry_run (everything but the sends).
        workers: How many flow runs send the campaign together. Run as a deployment with a
            shared `ledger_url`, this run starts `workers - 1` more runs of its deployment
            (any worker of the work pool takes them) once the plan is in the ledger; they
            claim chunks from it and share the spec's messages per second.
        lease_seconds: A worker that stops heartbeating (killed, cut off) loses its chunks
            this long after its last heartbeat; a worker still running takes them over, with
            the requests the dead one left in doubt settled as on a resume.
        aws_credentials_block: A prefect-aws `AwsCredentials` block for `s3://` paths
            (default: the environment's AWS credentials).

    Returns:
        accepted, rejected by reason, unknown, elapsed seconds, messages/s, and more.
    """
    logger = get_run_logger()
    started = time.monotonic()
    check_ledger_url(ledger_url)
    if workers > 1:
        _check_can_scale_out(ledger_url)
    spec = CampaignSpec.from_yaml(spec_path)
    if dry_run is not None:
        spec = spec.model_copy(update={"dry_run": dry_run})
    use_aws_credentials_block(aws_credentials_block)
    folder = OutputFolder(join(out_dir, spec.campaign_id))
    out = folder.local
    out.mkdir(parents=True, exist_ok=True)
    events = readable_events(events_dir) if events_dir else None  # s3://: a local copy
    config = ClientConfig(
        api_key=resolve_api_key(api_key_block),
        base_url=base_url or os.environ.get(BASE_URL_ENV, DEFAULT_BASE_URL),
        messages_per_second=spec.messages_per_second,
        max_in_flight=spec.max_in_flight,
        arrival_jitter_seconds=spec.arrival_jitter_seconds,
    )
    async with MMClient(config) as client:
        template, ttl = await check_template(spec, client, ad_sync_wait_seconds)
        ledger = Ledger(ledger_url or f"sqlite:///{(out / 'ledger.sqlite').resolve()}")
        try:
            plan_path = out / PLAN_FILE
            _pull_plan(folder, spec, ledger)
            resuming = bool(ledger.counts(spec.campaign_id)) and plan_path.exists()
            if resuming:
                # Resuming: the plan is frozen at the first run, so every run (and every
                # worker) sends the same messages, whatever the warehouse holds today.
                _check_spec_unchanged(out, spec)
                logger.info("resuming %s from its plan; the segment is not read again", out)
            else:
                audience = extract_segment(spec, out)
                prepared = prepare_plan(spec, audience, template, out, events)
                _record_campaign(out, spec, ttl.model_dump(mode="json"), prepared)
                folder.publish(
                    AUDIENCE_FILE, SUPPRESSION_LIST_FILE, PLAN_FILE, REJECTS_FILE, CAMPAIGN_RECORD
                )
                if spec.dry_run:
                    logger.info("dry run: %s messages planned, nothing sent", prepared["planned"])
                    return {"campaign_id": spec.campaign_id, "dry_run": True, **prepared}
            plan_ledger(spec, plan_path, ledger, chunk_size, ttl.ttl_seconds)
            if resuming:
                suppress_late_opt_outs(spec, ledger, events)
            if workers > 1:
                await _start_more_workers(workers - 1)
                await _wait_for_workers(spec, ledger, workers - 1)
            _free_chunks_of_dead_runs(spec, ledger)

            reconciled: Counter[str] = Counter()

            def settle_unknown() -> dict[str, int]:
                counts = reconcile_unknown(spec, ledger, events, unknown_grace_seconds)
                reconciled.update(counts)
                return counts

            settle_unknown()
            send_started = time.monotonic()
            with _collector_off_what_exists():
                results = await _send_chunks(
                    spec, ledger, client, plan_path, chunk_size, lease_seconds, settle_unknown
                )
            send_seconds = time.monotonic() - send_started
            export_sends(spec, ledger, out)
            folder.publish(SENDS_FILE)
            counts = ledger.counts(spec.campaign_id)
        finally:
            ledger.dispose()
    summary = _summary(spec, results, counts, dict(reconciled), send_seconds)
    summary["elapsed_seconds"] = round(time.monotonic() - started, 2)
    stopped = [r.stopped_reason for r in results if r.stopped_reason]
    if stopped:
        logger.warning("campaign stopped by the API: %s; the rest stays planned", stopped[0])
        return Failed(message=f"campaign stopped by the API: {stopped[0]}", data=summary)
    if summary["planned_left"]:
        logger.warning(
            "%s messages are still planned (deferred for later, or in chunks another worker "
            "holds); run the campaign again to send them",
            summary["planned_left"],
        )
    logger.info("campaign %s done: %s", spec.campaign_id, summary)
    return summary


@contextmanager
def _collector_off_what_exists() -> Iterator[None]:
    """Keep the garbage collector's full passes off the objects that exist before sending.

    A flow process holds a few hundred thousand long-lived objects (Prefect, the libraries, the
    plan): each full collection walked them all and paused the sender for 100-440 ms about
    every 10 s at 1,000 messages/s. Frozen for the send, they are collectable again after it.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _send_chunks(
    spec: CampaignSpec,
    ledger: Ledger,
    client: MMClient,
    plan_path: Path,
    chunk_size: int,
    lease_seconds: float,
    settle_unknown: Callable[[], dict[str, int]],
) -> list[ChunkResult]:
    """Claim and send chunks until none is left or the API stops the campaign.

    When nothing is left to claim but other workers still hold chunks, this worker waits
    (outside the rate share, so the senders keep the whole cap) and takes over any chunk whose
    worker stopped heartbeating; after a takeover, the requests the dead worker left in doubt
    are settled from the landed webhooks, as on a resume, and those proven unsent are sent.
    """
    plan = pq.read_table(plan_path, columns=["message_key", "recipient", "arm", "components"])
    owner = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    budget = RetryBudget()
    results: list[ChunkResult] = []
    total = max(1, ledger.counts(spec.campaign_id).get("planned", 0))
    progress_id = await acreate_progress_artifact(
        progress=0.0, description=f"Messages of {spec.campaign_id} with an outcome (%)"
    )
    done = 0
    stop = asyncio.Event()
    in_doubt: list[int] = []  # requests left in flight by dead workers whose chunks we took
    logger = get_run_logger()

    async def chunk_worker() -> None:
        nonlocal done
        while not stop.is_set():
            claimed = await asyncio.to_thread(
                ledger.claim_chunk, spec.campaign_id, owner, lease_seconds
            )
            if claimed is None:
                return
            if claimed.taken_from:
                logger.warning(
                    "Chunk %d of %s: taking it over from %s, whose lease ran out "
                    "(%d requests in doubt)",
                    claimed.chunk,
                    spec.campaign_id,
                    claimed.taken_from,
                    claimed.in_doubt,
                )
            if claimed.in_doubt:
                in_doubt.append(claimed.in_doubt)
            result = await send_chunk(spec, ledger, client, claimed.chunk, plan, budget)
            results.append(result)
            done += sum(v for k, v in result.counts.items() if k != "skipped")
            await aupdate_progress_artifact(progress_id, min(100.0, 100.0 * done / total))
            if result.stopped_reason:
                stop.set()

    # Other workers (processes, machines) may send this campaign too: they share its cap.
    share = RateShare(
        ledger,
        spec.campaign_id,
        owner,
        spec.messages_per_second,
        client.throttle,
        log=logger,  # type: ignore[arg-type]
        lease_seconds=lease_seconds,
    )
    while True:
        async with share:
            await asyncio.gather(*(chunk_worker() for _ in range(CONCURRENT_CHUNKS)))
        if stop.is_set():
            return results
        # A chunk taken over leaves its dead worker's requests in doubt: those the landed
        # webhooks prove unsent are planned again and sent in another round. (This run's own
        # requests in doubt wait for the next run, after the landing has caught up.)
        if in_doubt:
            in_doubt.clear()
            if settle_unknown().get("replanned"):
                continue
        pending, claimable = await asyncio.to_thread(ledger.chunks_left, spec.campaign_id)
        while pending and not claimable:
            await asyncio.sleep(LEDGER_POLL_SECONDS)
            pending, claimable = await asyncio.to_thread(ledger.chunks_left, spec.campaign_id)
        if not pending:
            return results
        logger.warning(
            "%s chunks of %s came free (their worker stopped heartbeating %.0f s ago, or "
            "left messages for later): taking them over",
            claimable,
            spec.campaign_id,
            lease_seconds,
        )


def _check_can_scale_out(ledger_url: str | None) -> None:
    """Several runs of one campaign need a deployment to start and a ledger they all reach.

    Raises:
        ConfigurationError: not a deployment run, or no shared `ledger_url`.
    """
    if deployment.id is None:
        raise ConfigurationError(
            "workers > 1 needs a deployment run (see prefect.yaml): its extra runs are "
            "started through the deployment, for any worker of the pool to take"
        )
    if not ledger_url:
        raise ConfigurationError(
            "workers > 1 needs ledger_url: a database every worker reaches (Postgres), "
            "not the default SQLite file next to one worker's outputs"
        )


async def _start_more_workers(count: int) -> None:
    """Start `count` more runs of this deployment with this run's parameters, not waiting.

    Each is a flow run of its own on the work pool (so any worker takes it, and a worker
    that dies takes only its run down); they find the campaign planned and resume from it.
    """
    parameters = {**flow_run.parameters, "workers": 1}
    for number in range(count):
        run = await run_deployment(
            deployment.id,
            parameters=parameters,
            timeout=0,
            # A retry of this run must not start its workers a second time.
            idempotency_key=f"{flow_run.id}-worker-{number}",
        )
        get_run_logger().info("started worker run %s", run.name)


async def _wait_for_workers(spec: CampaignSpec, ledger: Ledger, count: int) -> None:
    """Wait until `count` other runs send the campaign (or a timeout), then send too.

    A worker starting a run takes many seconds (polling, a new process, imports); sending
    alone meanwhile would take a far larger share than the others, and the campaign's pace
    is the same either way.
    """
    logger = get_run_logger()
    logger.info("waiting for %s more workers to start sending %s", count, spec.campaign_id)
    deadline = time.monotonic() + WORKERS_JOIN_TIMEOUT_SECONDS
    while True:
        live = await asyncio.to_thread(
            ledger.live_workers, spec.campaign_id, WORKER_TIMEOUT_SECONDS
        )
        pending, _ = await asyncio.to_thread(ledger.chunks_left, spec.campaign_id)
        if live >= count or not pending:
            return
        if time.monotonic() >= deadline:
            logger.warning(
                "only %s of %s more workers started within %.0f s; sending anyway",
                live,
                count,
                WORKERS_JOIN_TIMEOUT_SECONDS,
            )
            return
        await asyncio.sleep(LEDGER_POLL_SECONDS)


def _free_chunks_of_dead_runs(spec: CampaignSpec, ledger: Ledger) -> None:
    """Free the chunks a crashed run on this machine left leased, without waiting out the lease.

    Owners on other machines keep their chunks until the lease runs out.
    """
    dead = [o for o in ledger.lease_owners(spec.campaign_id) if _owner_is_dead_here(o)]
    if ledger.release_leases(spec.campaign_id, dead):
        get_run_logger().info("freed the chunks of dead runs %s", dead)
    for owner in dead:  # nor do they keep a share of the rate
        ledger.leave(spec.campaign_id, owner)


def _owner_is_dead_here(owner: str) -> bool:
    """Whether a lease owner (`host-pid-token`) is a process of this host that has exited."""
    parts = owner.rsplit("-", 2)
    if len(parts) != 3 or parts[0] != os.uname().nodename or not parts[1].isdigit():
        return False
    pid_text = parts[1]
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _check_spec_unchanged(out: Path, spec: CampaignSpec) -> None:
    """Refuse to resume a campaign whose spec now asks for different messages.

    Raises:
        SpecError: a field that shapes the messages differs from the recorded spec.
    """
    recorded = orjson.loads((out / CAMPAIGN_RECORD).read_bytes())["spec"]
    current = spec.model_dump(mode="json")
    current["segment"]["connection"] = mask_url(spec.segment.connection)
    changed = sorted(
        name
        for name in current
        if name not in RESUMABLE_CHANGES and current[name] != recorded.get(name)
    )
    if changed:
        raise SpecError(
            f"campaign {spec.campaign_id!r} was planned with a different {', '.join(changed)}; "
            "a planned campaign keeps its messages: give the new spec another campaign_id"
        )


def _pull_plan(folder: OutputFolder, spec: CampaignSpec, ledger: Ledger) -> None:
    """Fetch the plan an earlier run published to the object store, to resume from it.

    Raises:
        ConfigurationError: the store holds a plan of which this run's ledger has no message
            (it was planned with another machine's working folder, or another ledger):
            planning again could send its messages twice.
    """
    pulled = folder.pull(PLAN_FILE, CAMPAIGN_RECORD)
    if PLAN_FILE in pulled and not ledger.counts(spec.campaign_id):
        for name in pulled:  # not left behind to pass for this machine's own plan
            (folder.local / name).unlink()
        raise ConfigurationError(
            f"{folder.url(PLAN_FILE)} exists but this run's ledger has no message of "
            f"campaign {spec.campaign_id!r}: resume it where it was planned (its SQLite "
            "ledger is in that machine's working folder) or with the ledger_url it used, "
            "or give the spec a new campaign_id"
        )


def _record_campaign(out: Path, spec: CampaignSpec, ttl: dict[str, Any], prepared: dict) -> None:
    """campaign.json: the spec, the TTL in force and the prepare counts, for analysts."""
    spec_record = spec.model_dump(mode="json")
    # A SQLAlchemy URL may hold the warehouse password: the record keeps it masked.
    spec_record["segment"]["connection"] = mask_url(spec.segment.connection)
    record = {"spec": spec_record, "ttl": ttl, "prepare": prepared}
    temporary = out / f".{CAMPAIGN_RECORD}.{os.getpid()}.tmp"  # workers may record at once
    temporary.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2, default=str))
    temporary.replace(out / CAMPAIGN_RECORD)


def _summary(
    spec: CampaignSpec,
    results: list[ChunkResult],
    counts: dict[str, int],
    reconciled: dict[str, int],
    send_seconds: float,
) -> dict[str, Any]:
    errors: dict[str, int] = {}
    for result in results:
        for code, count in result.errors.items():
            errors[code] = errors.get(code, 0) + count
    accepted_now = sum(r.counts.get("accepted", 0) for r in results)
    return {
        "campaign_id": spec.campaign_id,
        "ledger": counts,
        "accepted": counts.get("accepted", 0),
        "rejected": counts.get("rejected", 0),
        "unknown": counts.get("unknown", 0),
        "planned_left": counts.get("planned", 0),
        "errors_by_code": errors,
        "reconciled": reconciled,
        "accepted_this_run": accepted_now,
        "task_runs": len(results),
        "retries": sum(r.retries for r in results),
        "send_seconds": round(send_seconds, 2),
        "messages_per_second": round(accepted_now / send_seconds, 1) if send_seconds else 0.0,
    }


if __name__ == "__main__":
    asyncio.run(send_campaign("campaigns/spring_sale.yaml", out_dir="demo_output/campaigns"))
