"""The `mmflow` command as a user runs it: the demo, the sandbox's options, one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.mmflow.conftest import DemoRun


MMFLOW = [sys.executable, "-m", "mmflow.cli"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command
        [*MMFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def test_demo_runs_clean_and_prints_the_summary(demo_run: DemoRun):
    out, result = demo_run.out, demo_run.result
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "ERROR" not in output
    assert "Error logging to API" not in output  # Prefect's own words, at exit
    assert "funnel and cost by arm" in output
    assert (out / "campaigns" / "demo-spring-sale" / "sends.parquet").exists()
    assert (out / "report" / "analytics.duckdb").exists()
    assert (out / "report" / "report.html").exists()
    assert list((out / "lake" / "events" / "statuses").rglob("*.parquet"))
    # Everything it started is stopped: nothing answers on the demo's Prefect port.
    assert "stopped now" in output
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", demo_run.prefect_port), timeout=2).close()


def test_sandbox_bad_config_is_one_line_error(tmp_path: Path):
    config = tmp_path / "sandbox.yaml"
    config.write_text("p_500: 7\n", encoding="utf-8")
    result = _run("sandbox", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "p_500" in lines[0]
    assert str(config) in lines[0]


def test_help_lists_the_commands(tmp_path: Path):
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "sandbox" in result.stdout
    assert "demo" in result.stdout
