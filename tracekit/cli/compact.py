"""``tracekit compact``: merge a run's small golden files into larger ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import say, warn


def compact_command(
    root: Annotated[str, typer.Argument(help="Dataset root (or one run folder) to compact.")],
    target_rows: Annotated[int, typer.Option(help="Rows per merged file (about).")] = 1_000_000,
    skip_bad: Annotated[
        bool,
        typer.Option(help="Leave unreadable or foreign files untouched (listed on stderr)."),
    ] = False,
) -> None:
    """Merge consecutive golden files of each run (safe to interrupt and re-run)."""
    from tracekit.errors import InputError
    from tracekit.store.compact import compact
    from tracekit.store.location import is_object_url

    if is_object_url(root):
        raise InputError(
            f"{root}: tracekit compact works on local folders only (it renames and removes "
            "files); compact a copy and upload it, see docs/object-store.md"
        )
    say(compact(Path(root), target_rows, skip_bad=skip_bad, warn=warn).summary())
