"""Secret audit: the demo ran with a known API key, webhook secret and database password;
none of them may appear in anything it produced. And the scanner finds them when they do."""

from __future__ import annotations

import gzip
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmapi.audience import extract_query
from mmapi.campaign import CampaignSpec
from mmapi.errors import ExtractError, SpecError
from tests.secret_scan import SecretScanner, format_hits

if TYPE_CHECKING:
    from tests.mmflow.conftest import DemoRun


PLANTED = {"planted": "planted-secret-7f3a9c2e41"}
_RUNS_WITHOUT_THEIR_LAST_LOG = """
    SELECT flow.name
    FROM flow_run
    JOIN flow ON flow.id = flow_run.flow_id
    WHERE NOT EXISTS (
        SELECT 1 FROM log
        WHERE log.flow_run_id = flow_run.id AND log.message LIKE 'Finished in state %'
    )
"""


def test_demo_leaves_no_secret_anywhere(demo_run: DemoRun, tmp_path: Path):
    result = demo_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    scanner = SecretScanner(demo_run.secrets)
    database = demo_run.prefect_home / "prefect.db"
    # The audit reads what the run produced, or it proves nothing.
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as prefect:
        logs = prefect.execute("SELECT count(*) FROM log").fetchone()[0]
        artifacts = prefect.execute("SELECT count(*) FROM artifact").fetchone()[0]
        # The last log of every flow run reached the server, the last run's too: the demo
        # sends what its log worker still holds before it stops the server.
        unfinished = prefect.execute(_RUNS_WITHOUT_THEIR_LAST_LOG).fetchall()
    assert logs > 0
    assert artifacts > 0
    assert unfinished == []
    assert list(demo_run.out.rglob("*.parquet"))
    campaign = (demo_run.out / "campaigns" / "demo-spring-sale" / "campaign.json").read_text()
    assert '"connection": "postgresql://postgres:***@127.0.0.1:5432/' in campaign  # from Postgres

    hits = scanner.scan_text("demo stdout", result.stdout)
    hits += scanner.scan_text("demo stderr", result.stderr)
    # The spec is the one input the demo writes for the user to read: it names its warehouse
    # as the user gave it. Everything else the run wrote is output.
    hits += scanner.scan_tree(demo_run.out, skip=[demo_run.out / "spring_sale.yaml"])
    # Prefect's database (logs, artifacts, flow and task runs, states) and the server's log.
    hits += scanner.scan_tree(demo_run.prefect_home)
    hits += _exceptions_with_the_password(scanner, demo_run, tmp_path)

    assert not hits, format_hits(hits)


def _exceptions_with_the_password(
    scanner: SecretScanner, demo_run: DemoRun, tmp_path: Path
) -> list:
    """The errors a user meets with the same password in a URL: bad query, no server, bad spec."""
    password = demo_run.secrets["db_password"]
    hits = []
    with pytest.raises(ExtractError) as bad_query:
        extract_query(
            "SELECT no_such_column FROM pg_class",
            f"postgresql://postgres:{password}@127.0.0.1:5432/postgres",
            tmp_path / "a.parquet",
        )
    hits += scanner.scan_exception("extract error (bad query)", bad_query.value)
    with pytest.raises(ExtractError) as no_server:
        extract_query("SELECT 1", f"postgresql://app:{password}@127.0.0.1:1/shop", tmp_path / "b")
    hits += scanner.scan_exception("extract error (no server)", no_server.value)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"campaign_id: c\nsegment: {{query: x, connection: 'postgresql://u:{password}@h/db', "
        "bogus: 1}\ntemplate: {name: t, language: en}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as bad_spec:
        CampaignSpec.from_yaml(spec)
    hits += scanner.scan_exception("spec error", bad_spec.value)
    loaded = CampaignSpec.from_mapping(
        {
            "campaign_id": "c",
            "segment": {"query": "x", "connection": f"postgresql://u:{password}@h/db"},
            "template": {"name": "t", "language": "en"},
        }
    )
    hits += scanner.scan_text("CampaignSpec repr", repr(loaded))
    return hits


def test_secret_scanner_finds_a_planted_secret_in_every_kind_of_output(tmp_path: Path):
    secret = PLANTED["planted"]
    scanner = SecretScanner(PLANTED)
    pq.write_table(
        pa.table({"n": [1, 2], "nested": [{"a": ["x"]}, {"a": [f"k={secret}"]}]}),
        tmp_path / "nested.parquet",
    )
    pq.write_table(
        pa.table({"s": pa.array(["x", secret]).dictionary_encode()}), tmp_path / "dict.parquet"
    )
    with duckdb.connect(str(tmp_path / "analytics.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS n, ? AS s", [f"<{secret}>"])
    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        connection.execute("CREATE TABLE t (b BLOB)")
        connection.execute("INSERT INTO t VALUES (?)", [secret.encode() * 500])
    (tmp_path / "events.ndjson.gz").write_bytes(gzip.compress(f'{{"k": "{secret}"}}'.encode()))
    (tmp_path / "report.html").write_text(f"<td>postgresql://u:{secret}@h/db</td>")
    (tmp_path / "clean.txt").write_text("nothing to see")

    hits = scanner.scan_tree(tmp_path)

    found = {Path(hit.where.split(" ")[0]).name for hit in hits}
    assert found == {
        "nested.parquet",
        "dict.parquet",
        "analytics.duckdb",
        "ledger.sqlite",
        "events.ndjson.gz",
        "report.html",
    }
    assert "column nested" in format_hits(hits)
    assert secret not in format_hits(hits)  # a hit names the secret, never shows it


def test_secret_scanner_finds_encoded_forms_and_exceptions():
    secret = "p@ss/word with space-123"
    scanner = SecretScanner({"password": secret})

    assert scanner.scan_text("url", "postgresql://u:p%40ss%2Fword%20with%20space-123@h/db")
    assert scanner.scan_text("json", '{"pw": "p@ss/word with space-123"}')
    chained = RuntimeError("wrapped")
    chained.__cause__ = ValueError(f"connect failed for {secret}")
    assert scanner.scan_exception("chained", chained)
    assert not scanner.scan_text("clean", "postgresql://u:***@h/db")
    with pytest.raises(ValueError, match="shorter than"):
        SecretScanner({"short": "abc"})


@pytest.mark.usefixtures("prefect_harness")
async def test_secret_scanner_reads_a_running_prefect_server():
    from prefect import flow, get_run_logger
    from prefect.artifacts import create_markdown_artifact
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    secret = f"prefect-planted-{uuid.uuid4().hex}"
    scanner = SecretScanner({"in_log": f"log-{secret}", "in_artifact": f"art-{secret}"})

    @flow
    def leaky() -> None:
        get_run_logger().info("the key is log-%s", secret)
        create_markdown_artifact(f"| key |\n|---|\n| art-{secret} |")

    leaky()
    await APILogHandler.aflush()  # logs reach the server in batches
    async with get_client() as client:
        hits = await scanner.scan_prefect(client)

    assert {hit.secret for hit in hits} == {"in_log", "in_artifact"}
