"""`mmflow`: the one command a user runs (demo, sandbox, and the pipeline's flows).

Exit codes scripts can rely on: 0 done, 1 the work failed, 2 bad usage or input
(wrong option, unreadable config), 3 the API or a service could not be reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from mmapi.sandbox import SandboxConfig

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
    recipients: Annotated[int, typer.Option(help="Audience size.", min=10)] = 20_000,
) -> None:
    """Run the pipeline end to end against a local sandbox and print a summary."""
    from .demo import run_demo

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{out}: output folder not writable ({exc.strerror})", EXIT_BAD_INPUT) from None
    run_demo(out=out, recipients=recipients)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
