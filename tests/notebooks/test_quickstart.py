"""notebooks/quickstart.ipynb run top to bottom in a fresh kernel, as an analyst runs it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT_SECONDS = 300

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_quickstart_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from prefect.settings import PREFECT_API_URL

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    out = tmp_path / "out"
    # The kernel inherits the environment: its outputs in tmp_path, its flow runs on the
    # session's Prefect server instead of one it would start.
    monkeypatch.setenv("MMFLOW_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )

    client.execute()  # raises CellExecutionError naming the cell on any error

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    streams = "".join(output.get("text", "") for output in outputs)
    assert "Traceback" not in streams
    assert "ERROR" not in streams
    tables = [
        output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})
    ]
    funnel = tables[0]
    assert "delivery_rate" in funnel
    assert ">mm<" in funnel
    assert ">cloud<" in funnel
    assert any("image/png" in output.get("data", {}) for output in outputs)
    assert (out / "report" / "analytics.duckdb").is_file()
    assert list((out / "lake" / "events" / "statuses").rglob("*.parquet"))
