"""``tracekit canary``: PROMOTE, CONTINUE or ROLLBACK for a phase of a staged rollout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import (
    DecisionFormatOption,
    NoColorOption,
    OutputFormat,
    OutputOption,
    ReportOption,
    emit,
)

MAX_LOOK = 1000
"""The last look of a phase that ``--look`` accepts: the alpha of look k falls as 1/k^2,
and from about k = 10^7 it is below what a double can tell from 0."""


def canary_command(
    control: Annotated[str, typer.Argument(help="Control: golden traces or a profile .json.")],
    canary: Annotated[str, typer.Argument(help="Canary: golden traces or a profile .json.")],
    phase: Annotated[int, typer.Option(help="Rollout phase (1, 2, 3 by default).")] = 1,
    look: Annotated[
        int,
        typer.Option(
            max=MAX_LOOK,
            help=f"Which decision of this phase this is (1, 2, ... {MAX_LOOK}): spends alpha.",
        ),
    ] = 1,
    last: Annotated[
        str | None, typer.Option(help="Judge only the most recent window, e.g. 30m.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file whose canary: section sets the phases.")
    ] = None,
    output_format: DecisionFormatOption = OutputFormat.table,
    output: OutputOption = None,
    report: ReportOption = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip unreadable trace files.")] = False,
    no_color: NoColorOption = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write overlay and criteria plots (PNG) to this folder.")
    ] = None,
) -> None:
    """Judge a canary: exit 0 PROMOTE, 1 ROLLBACK, 3 CONTINUE, 2 bad input."""
    from tracekit.decisions import judge_canary
    from tracekit.decisions.canary import CanaryPolicy

    policy = CanaryPolicy.from_yaml(config) if config is not None else CanaryPolicy()
    result = judge_canary(control, canary, phase, policy, look=look, last=last, skip_bad=skip_bad)
    emit(result, output_format, output, no_color=no_color, report=report)
    if plot is not None:
        from tracekit.present.plots import plot_canary, save_figures

        save_figures(plot_canary(result), plot)
    raise typer.Exit(result.exit_code())
