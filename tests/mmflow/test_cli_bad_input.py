"""Bad input on the send path, as a user meets it: one line, exit 2, and not one request sent.

The sandbox counts every send request that reaches it (`stats()["requests"]`); each test
checks that count is 0 after the command, so "nothing sent" is measured, not assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import prefect.settings
import pytest
import yaml

from flows.send_campaign import send_campaign
from mmapi.errors import SuppressionListError
from mmapi.sandbox import SandboxConfig, SandboxServer
from mmflow.warehouse import build_demo_warehouse, demo_campaign_spec

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]
ROWS = 200
LATIN1_LIST = "recipient\nJosé,+4915100000040\n".encode("latin-1")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("warehouse") / "wh.duckdb", rows=ROWS)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(latency_ms=1)) as server:
        monkeypatch.setenv("D360_API_KEY", server.api_key)
        monkeypatch.setenv("D360_BASE_URL", server.url)
        yield server


def _spec_with_list(tmp_path: Path, warehouse: Path, data: bytes) -> tuple[Path, Path]:
    listed = tmp_path / "do_not_contact.csv"
    listed.write_bytes(data)
    spec = demo_campaign_spec(warehouse, suppression={"list_path": str(listed)})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    return path, listed


def _mmflow(*args: str, sandbox: SandboxServer, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=str(prefect.settings.PREFECT_API_URL.value()),
        D360_API_KEY=sandbox.api_key,
        D360_BASE_URL=sandbox.url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "mmflow.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_send_flow_with_a_bad_suppression_list_sends_nothing(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec, listed = _spec_with_list(tmp_path, warehouse, LATIN1_LIST)

    with pytest.raises(SuppressionListError, match="line 2: not UTF-8") as caught:
        await send_campaign(str(spec), out_dir=str(tmp_path / "campaigns"))
    assert str(caught.value).startswith(str(listed))
    assert sandbox.stats()["requests"] == 0
    assert not (tmp_path / "campaigns" / "demo-spring-sale" / "sends.parquet").exists()


def test_cli_send_with_a_bad_suppression_list_is_one_line_and_sends_nothing(
    tmp_path: Path, warehouse: Path, sandbox: SandboxServer
):
    spec, listed = _spec_with_list(tmp_path, warehouse, b"recipient\na@example.com\n")

    result = _mmflow(
        "send", str(spec), "--out", str(tmp_path / "out"), sandbox=sandbox, cwd=tmp_path
    )

    line = _one_line(result)
    assert str(listed) in line
    assert "none of its 1 entries is a phone number" in line
    assert sandbox.stats()["requests"] == 0


def test_cli_send_with_a_bad_spec_is_one_line_and_sends_nothing(
    tmp_path: Path, sandbox: SandboxServer
):
    spec = tmp_path / "spec.yaml"
    spec.write_text("campaign_id: a\ncampaign_id: b\n", encoding="utf-8")

    line = _one_line(_mmflow("send", str(spec), sandbox=sandbox, cwd=tmp_path))

    assert line == f"error: {spec}: line 2, column 1: not valid YAML (duplicate key 'campaign_id')"
    assert sandbox.stats()["requests"] == 0
