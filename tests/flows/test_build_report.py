"""The build_report flow and its tasks, on the hand-made campaign of the analytics tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from flows.build_report import build_report
from mmflow.cli import EXIT_BAD_INPUT, app
from tasks.report import (
    COST_ARTIFACT_KEY,
    FUNNEL_ARTIFACT_KEY,
    build_analytics_database,
    publish_report_artifacts,
    settings_dict,
    write_html_report,
)
from tests.mmapi.analytics.scenario import AS_OF, write_scenario

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    return write_scenario(tmp_path_factory.mktemp("report_inputs"))


def test_build_analytics_database_task_returns_plain_data(inputs, tmp_path: Path):
    settings = settings_dict(
        as_of=AS_OF.isoformat(), no_webhook_after_hours=24, attribution_days=7, min_arm_size=10
    )

    built = build_analytics_database.fn(
        str(inputs.sends), str(inputs.events), str(tmp_path), None, settings
    )

    assert Path(built["database"]).is_file()
    assert built["as_of"] == AS_OF.isoformat()
    assert built["row_counts"]["funnel"] == 2
    assert built["files"] == {"sends": 1, "statuses": 1, "clicks": 1, "preferences": 0}
    html = write_html_report.fn(built["database"], str(tmp_path))
    assert Path(html).read_text(encoding="utf-8").count("data:image/png;base64,") == 4


def test_settings_dict_rejects_bad_values():
    with pytest.raises(ValueError, match="min_arm_size"):
        settings_dict(as_of=None, no_webhook_after_hours=24, attribution_days=7, min_arm_size=0)


def test_build_report_flow_writes_everything_and_publishes_artifacts(inputs, tmp_path: Path):
    result = build_report(
        sends=str(inputs.sends),
        events=str(inputs.events),
        out=str(tmp_path),
        as_of=AS_OF.isoformat(),
    )

    assert Path(result["html"]).is_file()
    assert (tmp_path / "analytics.duckdb").is_file()
    assert (tmp_path / "tables" / "funnel.parquet").is_file()
    funnel = {row["arm"]: row for row in result["summary"]["funnel"]}
    assert (funnel["mm"]["accepted"], funnel["mm"]["delivered"], funnel["mm"]["read"]) == (6, 4, 2)
    assert result["summary"]["cost_comparison"][0]["delivery_verdict"] == "inconclusive"
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts()}
    assert "mm" in str(artifacts[FUNNEL_ARTIFACT_KEY].data)
    assert "MM versus Cloud" in str(artifacts[COST_ARTIFACT_KEY].data)


@pytest.mark.filterwarnings("ignore:Artifact creation outside of a flow:FutureWarning")
def test_publish_report_artifacts_summary_is_json_ready(inputs, tmp_path: Path):
    import json

    build_report(sends=str(inputs.sends), events=str(inputs.events), out=str(tmp_path))
    summary = publish_report_artifacts.fn(str(tmp_path / "analytics.duckdb"))

    assert json.loads(json.dumps(summary))["reconciliation"][0]["balanced"] is True


def test_cli_report_runs_the_flow(inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from prefect.settings import PREFECT_API_URL

    # The test harness's server, not a local one under .prefect/.
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    runner = CliRunner()
    args = ["report", "--sends", str(inputs.sends), "--events", str(inputs.events)]

    done = runner.invoke(app, [*args, "--out", str(tmp_path), "--as-of", AS_OF.isoformat()])

    assert done.exit_code == 0, done.output
    assert "c1 mm: accepted 6, delivered 4, read 2" in done.output
    assert (tmp_path / "report.html").is_file()


def test_cli_report_bad_input_is_one_line_and_exit_2(inputs, tmp_path: Path):
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "report",
            "--sends",
            str(tmp_path / "none.parquet"),
            "--events",
            str(inputs.events),
            "--out",
            str(tmp_path),
        ],
    )
    card = tmp_path / "card.csv"
    card.write_text("country,price\nAR,0.1\n")
    bad_card = runner.invoke(
        app,
        [
            "report",
            "--sends",
            str(inputs.sends),
            "--events",
            str(inputs.events),
            "--out",
            str(tmp_path),
            "--rate-card",
            str(card),
        ],
    )

    assert missing.exit_code == EXIT_BAD_INPUT
    assert "no sends Parquet file found" in missing.output
    assert bad_card.exit_code == EXIT_BAD_INPUT
    assert "lacks column(s)" in bad_card.output
