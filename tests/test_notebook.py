"""notebooks/explore.ipynb runs top to bottom on a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"


def test_notebook_runs_and_shows_tables_and_figures() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [output for output in outputs if output.output_type == "error"]
    html = [
        output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})
    ]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert any("tracekit analysis" in text for text in html)
    assert any("tracekit compare: REGRESSION" in text for text in html)
    assert len(images) >= 3
    texts = [
        output["data"]["text/plain"] for output in outputs if "text/plain" in output.get("data", {})
    ]
    assert "(<Verdict.REGRESSION: 'REGRESSION'>, 1)" in texts
    assert any("PROMOTE" in text for text in texts)
