"""notebooks/explore.ipynb runs top to bottom on a real Jupyter kernel.

A fresh kernel, with no ``%matplotlib`` magic: tracekit's figures must display by
themselves (``docs/plots.md`` says they do).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"


pytestmark = pytest.mark.slow  # a Jupyter kernel runs the whole notebook


def run_notebook(path: Path) -> Any:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=True,
    )
    client.execute()
    return notebook


def outputs_of(notebook: Any) -> list[Any]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def test_notebook_has_no_matplotlib_magic() -> None:
    assert "%matplotlib" not in NOTEBOOK.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["checkout", "copied elsewhere"])
def test_notebook_runs_and_shows_tables_and_figures(where: str, tmp_path: Path) -> None:
    path = NOTEBOOK
    if where != "checkout":  # a user copies the notebook out of the repository
        path = tmp_path / "explore.ipynb"
        shutil.copy(NOTEBOOK, path)
    outputs = outputs_of(run_notebook(path))
    errors = [output for output in outputs if output.output_type == "error"]
    assert not errors, [(e.ename, e.evalue) for e in errors]
    html = [
        output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})
    ]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert any("tracekit analysis" in text for text in html)
    assert any("tracekit compare: REGRESSION" in text for text in html)
    assert len(images) >= 3  # stages, timeline, forest: inline without %matplotlib inline
    texts = [
        output["data"]["text/plain"] for output in outputs if "text/plain" in output.get("data", {})
    ]
    assert "(<Verdict.REGRESSION: 'REGRESSION'>, 1)" in texts
    assert any("PROMOTE" in text for text in texts)
    assert not [text for text in texts if text.startswith("<Analysis") and ".parquet" in text]


def test_notebook_says_where_the_samples_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEKIT_SAMPLES", str(tmp_path / "nowhere"))
    path = tmp_path / "explore.ipynb"
    shutil.copy(NOTEBOOK, path)
    errors = [output for output in outputs_of(run_notebook(path)) if output.output_type == "error"]
    assert errors
    assert errors[0].ename == "FileNotFoundError"
    assert "samples/ folder of the tracekit repository" in errors[0].evalue
    assert "TRACEKIT_SAMPLES" in errors[0].evalue
