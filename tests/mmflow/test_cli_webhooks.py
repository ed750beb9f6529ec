"""`mmflow webhooks serve` and `mmflow land` as a user runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from mmapi.sandbox.generator import generate_webhook_files
from mmapi.webhooks import sign_body
from mmflow.cli import app

MMFLOW = [sys.executable, "-m", "mmflow.cli"]
SECRET = "cli-test-app-secret-0123"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command
        [*MMFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_land_missing_source_is_a_one_line_error(tmp_path: Path):
    result = _run("land", "--source", str(tmp_path / "nowhere"), "--out", "lake", cwd=tmp_path)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2
    assert len(lines) == 1
    assert "no such file or folder" in lines[0]
    assert "Traceback" not in result.stderr


def test_webhooks_serve_bad_option_is_a_one_line_error(tmp_path: Path):
    result = _run("webhooks", "serve", "--path", "no-slash", cwd=tmp_path)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2
    assert len(lines) == 1
    assert "path" in lines[0]


def test_webhooks_serve_stores_signed_bodies_and_stops_cleanly(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "MMFLOW_WEBHOOK_APP_SECRET": SECRET}
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*MMFLOW, "webhooks", "serve", "--dir", "raw", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        body = orjson.dumps({"object": "whatsapp_business_account", "entry": []})
        good = httpx.post(
            f"{url}/webhook", content=body, headers={"X-Hub-Signature-256": sign_body(body, SECRET)}
        )
        bad = httpx.post(f"{url}/webhook", content=body)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)

    assert (good.status_code, bad.status_code) == (200, 401)
    assert process.returncode in (0, 130), err  # 130: ended by the SIGINT, after a clean stop
    assert "checks: X-Hub-Signature-256" in out
    assert SECRET not in out + err
    [segment] = (tmp_path / "raw").glob("webhooks-*.ndjson")
    assert segment.read_bytes().count(b"\n") == 1


@pytest.mark.usefixtures("prefect_harness")
def test_land_command_runs_the_flow_and_prints_the_summary(tmp_path: Path, monkeypatch):
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    generate_webhook_files(tmp_path / "raw", messages=200, seed=2)

    result = CliRunner().invoke(
        app, ["land", "--source", str(tmp_path / "raw"), "--out", str(tmp_path / "lake")]
    )

    assert result.exit_code == 0, result.output
    assert "'statuses':" in result.output
    assert list((tmp_path / "lake" / "events" / "statuses").glob("dt=*/*.parquet"))
