"""`mmflow`: the one command a user runs (demo, sandbox, and the pipeline's flows).

Exit codes scripts can rely on: 0 done, 1 the work failed, 2 bad usage or input
(wrong option, unreadable config), 3 the API or a service could not be reached.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from pydantic import ValidationError

from mmapi.sandbox import SandboxConfig

if TYPE_CHECKING:  # imported lazily at run time: `mmflow --help` must not load Prefect
    from prefect.states import State

    from mmapi.campaign import CampaignSpec


# The option of every command that reads or writes s3:// paths.
AwsBlockOption = Annotated[
    str | None,
    typer.Option(help="Prefect AwsCredentials block for s3:// paths (else AWS_* variables)."),
]
app = typer.Typer(
    name="mmflow",
    help="WhatsApp Marketing Messages campaigns on Prefect, with a local sandbox of the MM API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one error line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _load_sandbox_config(path: Path | None, overrides: dict[str, object]) -> SandboxConfig:
    values: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise fail(f"{path}: cannot read the sandbox config ({exc})", EXIT_BAD_INPUT) from None
        if not isinstance(loaded, dict):
            raise fail(f"{path}: the sandbox config must be a mapping", EXIT_BAD_INPUT)
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SandboxConfig.model_validate(values)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(config)"
        raise fail(f"{where}{field}: {first['msg']}", EXIT_BAD_INPUT) from None


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8360,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML file with any SandboxConfig field (faults, probabilities, ...)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="SANDBOX_API_KEY", help="Key clients must send as D360-API-KEY."),
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Added to every send answer.")] = None,
    rate_limit: Annotated[
        float | None, typer.Option(help="Messages/s before answering 130429.")
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="POST signed webhooks here (X-Hub-Signature-256).")
    ] = None,
    webhook_dir: Annotated[
        Path | None, typer.Option(help="Or write webhook bodies as NDJSON files here.")
    ] = None,
    time_compression: Annotated[
        float | None, typer.Option(help="Simulated seconds per real second (3600 = 1 h/s).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random choice.")] = None,
) -> None:
    """Run the local stand-in for 360dialog's MM API (and Meta's Cloud API).

    It validates sends as the documentation does, plays out deliveries, reads, clicks and
    opt-outs on a simulated clock, and sends the webhooks to --webhook-url or --webhook-dir.
    Control endpoints: /sandbox/health, /sandbox/stats, /sandbox/flush, /sandbox/ground_truth.
    """
    from mmapi.sandbox import serve

    settings = _load_sandbox_config(
        config,
        {
            "api_key": api_key,
            "latency_ms": latency_ms,
            "rate_limit_mps": rate_limit,
            "webhook_url": webhook_url,
            "webhook_dir": webhook_dir,
            "time_compression": time_compression,
            "seed": seed,
        },
    )
    typer.echo(f"sandbox listening on http://{host}:{port} (Ctrl+C stops it)")
    try:
        serve(settings, host=host, port=port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port} ({exc.strerror})", EXIT_UNREACHABLE) from None


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "demo_output"
    ),
    recipients: Annotated[int, typer.Option(help="Customers in the demo warehouse.", min=100)] = (
        50_000
    ),
    keep: Annotated[
        bool, typer.Option(help="Leave the Prefect server running afterwards.")
    ] = False,
    warehouse_url: Annotated[
        str | None,
        typer.Option(
            envvar="MMFLOW_DEMO_WAREHOUSE_URL",
            help="Also copy the customers into this database (SQLAlchemy URL, e.g. Postgres) "
            "and send from there. Give a password through the environment variable.",
        ),
    ] = None,
    prefect_port: Annotated[
        int, typer.Option(help="Port of the local Prefect server.", min=1, max=65535)
    ] = 4200,
) -> None:
    """Run the whole pipeline against the local sandbox and print a summary.

    Builds a demo warehouse, starts (or reuses) a local Prefect server under .prefect/, the
    webhook receiver and the sandbox, runs send_campaign, land_webhooks and build_report, and
    prints the funnel and cost by arm and where every output is.
    """
    from .demo import run_demo

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{out}: output folder not writable ({exc.strerror})", EXIT_BAD_INPUT) from None
    run_demo(
        out=out,
        recipients=recipients,
        keep=keep,
        warehouse_url=warehouse_url,
        prefect_port=prefect_port,
    )


@app.command()
def chaos(
    out: Annotated[Path, typer.Option(help="Folder for everything the run writes.")] = Path(
        "chaos_output"
    ),
    recipients: Annotated[
        int | None, typer.Option(help="Customers in the warehouse (default 200,000).", min=200)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the data and the fault schedule.")] = 0,
    flow_kills: Annotated[int | None, typer.Option(help="SIGKILLs of the send flow.", min=0)] = (
        None
    ),
    receiver_kills: Annotated[
        int | None, typer.Option(help="SIGKILLs of the webhook receiver.", min=0)
    ] = None,
    storm_seconds: Annotated[
        float | None, typer.Option(help="Length of the long 130429 storm.", min=0)
    ] = None,
    short: Annotated[
        bool, typer.Option(help="The short version the test suite runs (2,000 customers).")
    ] = False,
) -> None:
    """Send a campaign end to end against the sandbox under faults and score it.

    Kills the send flow and the receiver with SIGKILL and restarts them, injects 5xx, hangs,
    dropped connections, 130429 storms and webhook disorder, then prints one JSON line:
    sent_twice, never_sent, acked_missing, landed_twice, report_mismatches (all 0 when
    nothing was lost or doubled), retries_per_message and the achieved rate against the cap.
    Exits 0 when every check holds, 1 otherwise.
    """
    import json

    from .chaos import ChaosError, ChaosSettings, run_chaos, short_chaos_settings

    changes = {
        "recipients": recipients,
        "flow_kills": flow_kills,
        "receiver_kills": receiver_kills,
        "storm_seconds": storm_seconds,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    settings = (
        short_chaos_settings(seed=seed, **changes) if short else ChaosSettings(seed=seed, **changes)
    )
    import os

    try:
        # A Prefect server the user already runs saves starting one (half a minute).
        result = run_chaos(out, settings, prefect_api_url=os.environ.get("PREFECT_API_URL"))
    except ChaosError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(result, default=str))
    if not result["ok"]:
        raise typer.Exit(EXIT_FAILED)


def _load_spec(spec_path: Path) -> CampaignSpec:
    from mmapi.campaign import CampaignSpec
    from mmapi.errors import SpecError

    try:
        return CampaignSpec.from_yaml(spec_path)
    except SpecError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


@app.command()
def validate(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Campaign spec (YAML).")],
    out: Annotated[
        Path | None, typer.Option(help="Keep the trial plan and rejects here (else a temp dir).")
    ] = None,
) -> None:
    """Check a campaign spec and its segment query, sending nothing.

    Loads the spec, runs the segment query, and prepares the plan against the template
    (from the API when D360_API_KEY is set, else from the sandbox's catalogue by name), then
    prints the planned and rejected counts by reason.
    """
    import tempfile

    from mmapi.audience import extract_query, prepare_plan, segment_query
    from mmapi.errors import ExtractError, SpecError
    from mmapi.sandbox import default_templates
    from mmapi.templates import TemplateInfo

    spec = _load_spec(spec_path)
    catalogue = {(t.name, t.language): t for t in default_templates()}
    known = catalogue.get((spec.template.name, spec.template.language))
    if known is None:
        raise fail(
            f"template {spec.template.name!r} ({spec.template.language}) unknown; "
            "check it against your account with `mmflow send --dry-run`",
            EXIT_BAD_INPUT,
        )
    template = TemplateInfo.model_validate(known.model_dump())
    with tempfile.TemporaryDirectory() as scratch:
        folder = out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            audience = extract_query(
                segment_query(spec.segment),
                spec.segment.connection,
                folder / "audience.parquet",
                path=spec.segment.path,
            )
            result = prepare_plan(spec, audience.path, template, folder)
        except ExtractError as exc:
            raise fail(str(exc), EXIT_UNREACHABLE) from None
        except SpecError as exc:
            raise fail(str(exc), EXIT_BAD_INPUT) from None
    typer.echo(
        f"{spec_path}: valid. {result.rows:,} rows, {result.planned:,} would be sent "
        f"(arms {result.arms}), {result.rejected:,} rejected {result.rejected_by_reason}"
    )


@app.command()
def send(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Campaign spec (YAML).")],
    out: Annotated[
        str, typer.Option(help="Outputs go to OUT/<campaign_id>/ (a folder or s3:// URL).")
    ] = "campaigns",
    base_url: Annotated[
        str | None,
        typer.Option(envvar="D360_BASE_URL", help="API host (default 360dialog's)."),
    ] = None,
    api_key_block: Annotated[
        str | None, typer.Option(help="Prefect Secret block with the key (else D360_API_KEY).")
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(help="Landed events (folder or s3:// URL): suppression, reconciliation."),
    ] = None,
    ledger_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the ledger (default SQLite).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Everything except the sends.")] = False,
    chunk_size: Annotated[int, typer.Option(help="Messages per task run.", min=1)] = 5000,
    aws_credentials_block: AwsBlockOption = None,
) -> None:
    """Send a campaign: extract, prepare, and send through the MM and Cloud APIs.

    Safe to run again after any crash: it resumes, and never sends a message twice. Runs on
    the Prefect server at PREFECT_API_URL, or on a local one under .prefect/ started for it.
    """
    import asyncio
    import os

    spec = _load_spec(spec_path)
    if not (api_key_block or os.environ.get("D360_API_KEY", "").strip()):
        raise fail("no API key: set D360_API_KEY or pass --api-key-block NAME", EXIT_BAD_INPUT)
    _check_out(out, aws_credentials_block)
    _preflight(spec, base_url)
    _check_suppression(spec, _checkable(events, aws_credentials_block))
    _check_ledger_url(ledger_url)
    with _prefect_server():
        from flows.send_campaign import send_campaign
        from mmapi.storage import join, working_folder

        from .progress import LedgerProgress

        local = working_folder(join(out, spec.campaign_id))  # out's, or its working folder
        ledger = ledger_url or f"sqlite:///{(local / 'ledger.sqlite').resolve()}"
        with LedgerProgress(ledger, spec.campaign_id, enabled=not dry_run):
            state = asyncio.run(
                send_campaign(
                    str(spec_path),
                    out_dir=out,
                    base_url=base_url,
                    api_key_block=api_key_block,
                    ledger_url=ledger_url,
                    events_dir=events,
                    chunk_size=chunk_size,
                    dry_run=dry_run or None,
                    aws_credentials_block=aws_credentials_block,
                    return_state=True,
                )
            )
    _finish(state)


def _checkable(location: str | None, aws_credentials_block: str | None) -> str | None:
    """`location`, when this process can look at it before the flow starts, else None.

    An s3:// location named with an AwsCredentials block is only reachable once the block is
    loaded, from the Prefect server the flow runs on: the flow checks it then.
    """
    from mmapi.storage import is_url

    return None if location and is_url(location) and aws_credentials_block else location


def _check_out(out: str, aws_credentials_block: str | None) -> None:
    """A local output folder must be creatable, an s3:// one reachable (exit 2 otherwise)."""
    from mmapi import storage

    if not storage.is_url(out):
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise fail(
                f"{out}: output folder not writable ({exc.strerror})", EXIT_BAD_INPUT
            ) from None
        return
    if _checkable(out, aws_credentials_block) is None:
        return
    bucket = "/".join(str(storage.join(out, "")).split("/")[:3])
    try:
        reachable = storage.exists(bucket)
    except Exception as exc:  # s3fs raises what botocore and aiohttp raise
        raise fail(
            f"{bucket}: object store unreachable ({type(exc).__name__})", EXIT_UNREACHABLE
        ) from None
    if not reachable:
        raise fail(f"{bucket}: no such bucket", EXIT_BAD_INPUT)


def _check_ledger_url(ledger_url: str | None) -> None:
    """The flow's own check, before a Prefect server is started for nothing."""
    from mmapi.errors import ConfigurationError
    from mmapi.ledger import check_ledger_url

    try:
        check_ledger_url(ledger_url)
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


def _prefect_server() -> AbstractContextManager[object]:
    """The user's Prefect server when PREFECT_API_URL is set, else the project's local one."""
    import contextlib
    import os

    from .prefect_server import LocalPrefectServer

    if os.environ.get("PREFECT_API_URL"):
        return contextlib.nullcontext()
    return LocalPrefectServer(Path(".prefect"))


def _preflight(spec: CampaignSpec, base_url: str | None) -> None:
    """Catch the usual mistakes before the flow starts, each as one line.

    An unreachable warehouse or API found inside the flow would end as a failed run with a
    traceback in its logs; found here, it is one line and nothing has started.
    """
    import socket
    from urllib.parse import urlsplit

    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from mmapi.audience import connection_kind, mask_url
    from mmapi.settings import DEFAULT_BASE_URL

    segment = spec.segment
    if segment.path:
        if "://" not in segment.path and not Path(segment.path).exists():
            raise fail(f"segment file {segment.path} not found", EXIT_BAD_INPUT)
    elif connection_kind(segment.connection) == "duckdb":
        if not Path(segment.connection).exists():
            raise fail(f"warehouse {segment.connection} not found", EXIT_UNREACHABLE)
    elif connection_kind(segment.connection) == "sqlalchemy":
        engine = create_engine(segment.connection)
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            reason = type(exc.orig or exc).__name__
            raise fail(
                f"warehouse {mask_url(segment.connection)} unreachable ({reason})",
                EXIT_UNREACHABLE,
            ) from None
        finally:
            engine.dispose()
    url = urlsplit(base_url or DEFAULT_BASE_URL)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=5).close()
    except OSError as exc:
        raise fail(
            f"API {url.scheme}://{url.netloc} unreachable ({exc})", EXIT_UNREACHABLE
        ) from None


def _check_suppression(spec: CampaignSpec, events: str | None) -> None:
    """Read the suppression lists and events once before the flow starts.

    Inside the flow a bad list fails the run with a logged traceback; here it is one line
    (exit 2) and nothing has started. The flow reads them again: they may change meanwhile.
    """
    from mmapi.audience import SuppressionList
    from mmapi.errors import SpecError

    try:
        SuppressionList.load(
            spec.suppression, default_region=spec.default_region, events_dir=events
        )
    except SpecError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


def _finish(state: State) -> None:
    """Print a finished flow run's result or its one-line error, and exit accordingly."""
    from mmapi.errors import (
        ConfigurationError,
        SpecError,
        TransportError,
        WarehouseUnreachableError,
    )

    if state.is_completed():
        typer.echo(state.result())
        return
    try:
        state.result()
    except (TransportError, WarehouseUnreachableError) as exc:
        raise fail(str(exc).splitlines()[0], EXIT_UNREACHABLE) from None
    except (SpecError, ConfigurationError) as exc:
        raise fail(str(exc).splitlines()[0], EXIT_BAD_INPUT) from None
    except Exception as exc:  # any other failure: its first line, exit 1
        raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    raise fail(state.message or "the flow run failed")


@app.command()
def land(
    source: Annotated[
        str, typer.Option(help="Folder, glob or URL of raw webhook files (segments, exports).")
    ],
    out: Annotated[str, typer.Option(help="Output folder or s3:// URL: tables go to OUT/events/.")],
    batch_mb: Annotated[int, typer.Option(help="Raw megabytes read per batch.", min=1)] = 512,
    memory_limit: Annotated[str, typer.Option(help="DuckDB's memory limit.")] = "1GB",
    aws_credentials_block: AwsBlockOption = None,
) -> None:
    """Land raw webhooks as Parquet: OUT/events/{statuses,clicks,preferences,...}/dt=.../.

    Incremental: only what is new since the last run is read (segments still being written
    up to their last complete line), duplicates are dropped, bad lines are quarantined.
    Runs on the Prefect server at PREFECT_API_URL, or on a local one under .prefect/.
    """
    is_local = "://" not in source and not any(mark in source for mark in "*?[")
    if is_local and not Path(source).exists():
        raise fail(f"{source}: no such file or folder", EXIT_BAD_INPUT)
    _check_out(out, aws_credentials_block)
    with _prefect_server():
        from flows.land_webhooks import land_webhooks

        state = land_webhooks(
            source=source,
            out=out,
            batch_mb=batch_mb,
            memory_limit=memory_limit,
            aws_credentials_block=aws_credentials_block,
            return_state=True,
        )
    _finish(state)


@app.command()
def report(
    sends: Annotated[
        str,
        typer.Option(
            help="sends.parquet, a folder of campaigns (sends*.parquet), or a glob; or s3://."
        ),
    ],
    events: Annotated[
        str, typer.Option(help="Landing folder (holding events/<table>/dt=...), or s3://.")
    ],
    out: Annotated[
        str, typer.Option(help="Output (folder or s3://): analytics.duckdb, tables/, report.html.")
    ],
    rate_card: Annotated[
        str | None,
        typer.Option(help="Rate card CSV, or s3:// (default: bundled example rates)."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="ISO time the report is as of (default: latest event).")
    ] = None,
    no_webhook_after_hours: Annotated[
        float, typer.Option(help="List accepted messages without a webhook after this.", min=0)
    ] = 24.0,
    min_arm_size: Annotated[
        int, typer.Option(help="Smaller arms make the MM-vs-Cloud result inconclusive.", min=1)
    ] = 100_000,
    aws_credentials_block: AwsBlockOption = None,
) -> None:
    """Build the campaign report: funnels, costs, MM versus Cloud, reconciliation.

    Writes OUT/analytics.duckdb (replaced atomically), OUT/tables/*.parquet and the
    self-contained OUT/report.html, and publishes Prefect artifacts. Runs on the Prefect
    server at PREFECT_API_URL, or on a local one under .prefect/.
    """
    from datetime import datetime

    from mmapi.analytics import find_event_files, find_sends_files, load_rate_card

    try:
        if _checkable(sends, aws_credentials_block):
            find_sends_files(sends)
        if _checkable(events, aws_credentials_block):
            find_event_files(events)
        if rate_card is None or _checkable(rate_card, aws_credentials_block) is not None:
            load_rate_card(rate_card)
        if as_of:
            datetime.fromisoformat(as_of)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).splitlines()[0], EXIT_BAD_INPUT) from None
    _check_out(out, aws_credentials_block)
    with _prefect_server():
        from flows.build_report import build_report

        state = build_report(
            sends=sends,
            events=events,
            out=out,
            rate_card=rate_card,
            as_of=as_of,
            no_webhook_after_hours=no_webhook_after_hours,
            min_arm_size=min_arm_size,
            aws_credentials_block=aws_credentials_block,
            return_state=True,
        )
    if not state.is_completed():
        _finish(state)
        return
    result = state.result()
    for row in result["summary"]["funnel"]:
        typer.echo(
            f"{row['campaign_id']} {row['arm']}: accepted {row['accepted']:,}, "
            f"delivered {row['delivered']:,}, read {row['read']:,}, clicks {row['clicks']:,}"
        )
    typer.echo(f"report: {result['html']}\ndatabase: {result['location']}")


webhooks_app = typer.Typer(
    help="The webhook receiver: every body is on disk before it is answered 200.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("serve")
def webhooks_serve(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder of the NDJSON segments (created if missing).")
    ] = Path("raw"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    path: Annotated[str, typer.Option(help="URL path of the webhook.")] = "/webhook",
    max_body_bytes: Annotated[
        int, typer.Option(help="Larger bodies are answered 413.", min=1)
    ] = 1_048_576,
    segment_mb: Annotated[int, typer.Option(help="Segment size before rotation.", min=1)] = 64,
    segment_seconds: Annotated[
        float, typer.Option(help="Segment age before rotation.", min=1)
    ] = 300.0,
) -> None:
    """Receive WhatsApp webhooks: each body is synced to a segment file before the 200.

    Secrets come from the environment only, never the command line:
    MMFLOW_WEBHOOK_APP_SECRET turns on X-Hub-Signature-256, MMFLOW_WEBHOOK_360DIALOG_SECRET
    turns on x-360dialog-signature, MMFLOW_WEBHOOK_VERIFY_TOKEN answers Meta's GET
    handshake. Counters: /health (JSON), /metrics (Prometheus). Ctrl+C syncs, then stops.
    Land the segments with `mmflow land --source DIR --out LAKE`.
    """
    import os

    from mmapi.receiver import ReceiverConfig, check_directory, serve

    try:
        config = ReceiverConfig(
            directory=directory,
            path=path,
            max_body_bytes=max_body_bytes,
            segment_max_bytes=segment_mb << 20,
            segment_max_seconds=segment_seconds,
            app_secret=os.environ.get("MMFLOW_WEBHOOK_APP_SECRET"),
            d360_secret=os.environ.get("MMFLOW_WEBHOOK_360DIALOG_SECRET"),
            verify_token=os.environ.get("MMFLOW_WEBHOOK_VERIFY_TOKEN"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise fail(f"{field}: {first['msg']}", EXIT_BAD_INPUT) from None
    checks = [
        name
        for name, secret in (
            ("X-Hub-Signature-256", config.app_secret),
            ("x-360dialog-signature", config.d360_secret),
            ("verify handshake", config.verify_token),
        )
        if secret is not None
    ]
    try:
        check_directory(directory)
    except BlockingIOError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except OSError as exc:
        raise fail(f"{directory}: not writable ({exc.strerror})", EXIT_BAD_INPUT) from None
    typer.echo(
        f"receiver on http://{host}:{port}{path} writing to {directory} "
        f"(checks: {', '.join(checks) or 'none'}; Ctrl+C stops it)"
    )
    try:
        serve(config, host=host, port=port)
    except BlockingIOError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port} ({exc})", EXIT_UNREACHABLE) from None


@app.command("serve")
def serve_deployments_command(
    config: Annotated[
        Path, typer.Option(help="The deployments file (schedules, parameters).")
    ] = Path("prefect.yaml"),
    limit: Annotated[
        int | None, typer.Option(help="Most flow runs at a time (default: no limit).", min=1)
    ] = None,
) -> None:
    """Serve the deployments of prefect.yaml on their schedules from this process, no worker.

    land-webhooks runs every 5 minutes and build-report hourly; send-campaign runs when
    triggered (`prefect deployment run send_campaign/send-campaign --param spec_path=SPEC`).
    Runs start in the current folder, so the parameters' relative paths (raw/, lake/,
    campaigns/, report/) are its folders. Uses the Prefect server at PREFECT_API_URL, or a
    local one under .prefect/ (stopped on exit). Ctrl+C or SIGTERM stop it cleanly; the
    deployments stay paused until served again.
    """
    import contextlib
    import os
    import signal

    from mmapi.errors import ConfigurationError

    from .deployments import (
        check_not_on_a_work_pool,
        read_deployments,
        runner_deployment,
        serve_deployments,
    )

    def stop_on_sigterm(signum: int, frame: object) -> None:
        # Until Prefect's runner takes SIGTERM over: unwind, so a server started here stops.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Ctrl+C stops it even when a script started it in the background (SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        specs = read_deployments(config)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(_prefect_server())
            except RuntimeError as exc:
                raise fail(str(exc), EXIT_UNREACHABLE) from None
            deployments = [runner_deployment(spec) for spec in specs]
            check_not_on_a_work_pool(deployments)
            typer.echo(f"serving {len(deployments)} deployments from {config}:")
            for spec, deployment in zip(specs, deployments, strict=True):
                when = ", ".join(
                    (f"every {s['interval']} s" if "interval" in s else f"cron {s['cron']}")
                    + (f" ({s['timezone']})" if "timezone" in s else "")
                    for s in spec.schedules
                )
                typer.echo(f"  {deployment.flow_name}/{spec.name}: {when or 'when triggered'}")
            typer.echo(
                f"Prefect API {os.environ.get('PREFECT_API_URL')}; runs start in "
                f"{Path.cwd()}. Ctrl+C stops."
            )
            serve_deployments(deployments, limit=limit)
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        pass
    typer.echo("stopped; the deployments are paused until served again")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
