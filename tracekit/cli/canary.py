"""``tracekit canary``: PROMOTE, CONTINUE or ROLLBACK for a phase of a staged rollout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import (
    DecisionFormat,
    DecisionFormatOption,
    NoColorOption,
    OutputOption,
    ReportOption,
    emit,
    write_plots,
)
from tracekit.decisions.policy import MAX_LOOK


def canary_command(
    control: Annotated[str, typer.Argument(help="Control: golden traces or a profile .json.")],
    canary: Annotated[str, typer.Argument(help="Canary: golden traces or a profile .json.")],
    phase: Annotated[int, typer.Option(help="Rollout phase (1, 2, 3 by default).")] = 1,
    look: Annotated[
        int | None,
        typer.Option(
            max=MAX_LOOK,
            help="Which look of this phase this is (a label; default: one more than --state "
            f"holds; at most {MAX_LOOK}).",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="State file of the phase's looks (created if missing): intervals narrow "
            "look by look and a ROLLBACK or PROMOTE, once reached, stands."
        ),
    ] = None,
    last: Annotated[
        str | None, typer.Option(help="Judge only the most recent window, e.g. 30m.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file whose canary: section sets the phases.")
    ] = None,
    output_format: DecisionFormatOption = DecisionFormat.table,
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
    from tracekit.decisions.canary import CanaryState
    from tracekit.decisions.policy import CanaryPolicy

    policy = CanaryPolicy.from_yaml(config) if config is not None else CanaryPolicy()
    previous = CanaryState.read(state) if state is not None else None
    result = judge_canary(
        control,
        canary,
        phase,
        policy,
        look=look,
        state=previous,
        last=last,
        skip_bad=skip_bad,
    )
    if state is not None and result.state is not None:
        result.state.write(state)
    emit(result, output_format, output, no_color=no_color, report=report)
    if plot is not None:
        from tracekit.present.plots import plot_canary

        write_plots(plot_canary(result), plot)
    raise typer.Exit(result.exit_code())
