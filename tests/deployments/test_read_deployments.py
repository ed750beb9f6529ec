"""Reading prefect.yaml for `mmflow serve`: the project's file, and bad files as one error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmapi.errors import ConfigurationError
from mmflow.deployments import read_deployments
from tests.deployments.helpers import REPO


def test_read_deployments_reads_the_project_file():
    specs = {spec.name: spec for spec in read_deployments(REPO / "prefect.yaml")}

    assert specs["send-campaign"].entrypoint == "flows/send_campaign.py:send_campaign"
    assert specs["send-campaign"].schedules == []
    assert specs["land-webhooks"].schedules == [{"interval": 300, "timezone": "UTC"}]
    assert specs["land-webhooks"].parameters == {"source": "raw", "out": "lake"}
    assert specs["build-report"].schedules == [{"cron": "0 * * * *", "timezone": "UTC"}]
    one_at_a_time = {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert specs["build-report"].concurrency_limit == one_at_a_time
    assert specs["land-webhooks"].tags == ["mmflow"]


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("    concurrency_limit: 0\n", "`concurrency_limit` must be a positive number"),
        (
            "    concurrency_limit: {limit: 1, collision_strategy: DROP}\n",
            "`concurrency_limit` must be a positive number",
        ),
        ("    schedules: [{interval: 60, cron: '* * * * *'}]\n", "each schedule needs one of"),
        ("    parameters: [raw]\n", "`parameters` must be a mapping"),
    ],
)
def test_read_deployments_bad_entry_names_file_and_deployment(
    tmp_path: Path, entry: str, complaint: str
):
    config = tmp_path / "prefect.yaml"
    config.write_text(
        "deployments:\n  - name: land\n    entrypoint: flows/land_webhooks.py:land_webhooks\n"
        + entry,
        encoding="utf-8",
    )

    with pytest.raises(ConfigurationError, match=complaint) as raised:
        read_deployments(config)

    assert str(raised.value).startswith(f"{config}: deployment 'land': ")


def test_read_deployments_missing_file_says_where_to_run(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="not found; run from the project folder"):
        read_deployments(tmp_path / "prefect.yaml")
