"""`tracekit --help` stays fast: no heavy library is imported to parse the command line."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("polars", "pyarrow", "matplotlib", "numpy", "prometheus_client", "rich.table")


def test_cli_import_pulls_in_no_heavy_library() -> None:
    code = f"import sys, tracekit.cli, tracekit; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_tracer_import_is_standard_library_only() -> None:
    code = (
        "import sys; from tracekit import Tracer, TraceConfig; "
        "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        "{'polars', 'pyarrow', 'numpy', 'yaml', 'matplotlib', 'typer', 'rich'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
