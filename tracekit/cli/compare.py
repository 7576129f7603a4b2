"""``tracekit compare`` (the perf gate) and ``tracekit profile`` (write a profile)."""

from __future__ import annotations

import enum
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
    say,
    warn,
    write_plots,
)
from tracekit.cli.engine import Engine, EngineOption, SparkMasterOption, spark_session
from tracekit.errors import ConfigError, InputError


class InconclusiveAs(enum.StrEnum):
    inconclusive = "inconclusive"
    pass_ = "pass"


def _stage_thresholds(items: list[str]) -> dict[str, dict[str, float]]:
    """Parse ``spread:p95=0.05`` (or ``spread:p95=5%``, ``spread:min_effect_ms=1``) items."""
    result: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            key, value = item.split("=", 1)
            stage, metric = key.split(":", 1)
            number = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
        except ValueError:
            raise ConfigError(
                f"--stage-threshold {item[:60]!r} is not STAGE:METRIC=VALUE, e.g. spread:p95=0.05"
            ) from None
        result.setdefault(stage, {})[metric] = number
    return result


def compare_command(
    sides: Annotated[
        list[str] | None,
        typer.Argument(help="BASELINE CURRENT: golden-trace paths or profile .json files."),
    ] = None,
    baseline: Annotated[
        list[str] | None, typer.Option(help="Baseline traces or profile (repeatable).")
    ] = None,
    current: Annotated[
        list[str] | None, typer.Option(help="Current traces or profile (repeatable).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file whose gate: section sets the policy.")
    ] = None,
    p50: Annotated[float | None, typer.Option(help="Allowed p50 rise (0.03 = +3%).")] = None,
    p95: Annotated[float | None, typer.Option(help="Allowed p95 rise (0.03 = +3%).")] = None,
    p99: Annotated[float | None, typer.Option(help="Allowed p99 rise (0.05 = +5%).")] = None,
    miss_rate_pp: Annotated[
        float | None, typer.Option(help="Allowed miss-rate rise in percentage points.")
    ] = None,
    stage_threshold: Annotated[
        list[str] | None,
        typer.Option(help="Per-stage threshold, STAGE:METRIC=VALUE (repeatable)."),
    ] = None,
    critical: Annotated[
        list[str] | None,
        typer.Option(
            help="Also critical: STAGE:METRIC, e.g. spread:p95 (repeatable; added to the "
            "defaults tick_total:p95 and deadline:miss_rate)."
        ),
    ] = None,
    min_effect_ms: Annotated[
        float | None,
        typer.Option(
            help="No change below this many ms is a regression (default: 0.1% of the deadline)."
        ),
    ] = None,
    ignore_stage: Annotated[
        list[str] | None, typer.Option(help="Leave a stage out of the gate (repeatable).")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Fail only when the whole interval exceeds the threshold.")
    ] = False,
    inconclusive: Annotated[
        InconclusiveAs, typer.Option(help="Exit code for INCONCLUSIVE: 3, or 0 with 'pass'.")
    ] = InconclusiveAs.inconclusive,
    output_format: DecisionFormatOption = DecisionFormat.table,
    output: OutputOption = None,
    report: ReportOption = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip unreadable trace files.")] = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Read every row, even when the files carry summaries (by default a "
            "large dataset with summaries is profiled from the files' footers).",
        ),
    ] = False,
    no_color: NoColorOption = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write overlay and forest plots (PNG) to this folder.")
    ] = None,
) -> None:
    """A perf gate: exit 0 PASS, 1 REGRESSION, 3 INCONCLUSIVE, 2 bad input."""
    from tracekit.decisions import compare
    from tracekit.decisions.policy import GatePolicy

    baseline_paths, current_paths = _sides(sides or [], baseline or [], current or [])
    overrides = {
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "miss_rate_pp": miss_rate_pp,
        "min_effect_ms": min_effect_ms,
        "strict": strict or None,
        "stages": _stage_thresholds(stage_threshold) if stage_threshold else None,
        "ignore": list(ignore_stage) if ignore_stage else None,
    }
    policy = GatePolicy.load(config, critical=critical or [], **overrides)
    comparison = compare(baseline_paths, current_paths, policy, skip_bad=skip_bad, exact=exact)
    for side in (comparison.baseline_profile, comparison.current_profile):
        for line in side.warnings if side is not None else ():
            warn(line)
    emit(comparison, output_format, output, no_color=no_color, report=report)
    if plot is not None:
        from tracekit.present.plots import plot_comparison

        write_plots(plot_comparison(comparison, deadline_ms=None), plot)
    raise typer.Exit(comparison.exit_code(inconclusive is InconclusiveAs.pass_))


def _sides(
    positional: list[str], baseline: list[str], current: list[str]
) -> tuple[list[str], list[str]]:
    if positional and (baseline or current):
        raise InputError("give BASELINE CURRENT either as arguments or as --baseline/--current")
    if positional:
        if len(positional) != 2:
            raise InputError(
                f"expected BASELINE CURRENT (2 paths), got {len(positional)}; "
                "for several paths per side use --baseline X --baseline Y --current Z"
            )
        return [positional[0]], [positional[1]]
    if not baseline or not current:
        raise InputError("give BASELINE and CURRENT (or --baseline and --current)")
    return baseline, current


def profile_command(
    paths: Annotated[list[str], typer.Argument(help="Golden-trace files, folders or globs.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the profile JSON.")
    ] = Path("perf_profile.json"),
    skip_bad: Annotated[bool, typer.Option(help="Skip unreadable trace files.")] = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Read every row, even when the files carry summaries (by default a "
            "large dataset with summaries is profiled from the files' footers).",
        ),
    ] = False,
    engine: EngineOption = Engine.polars,
    spark_master: SparkMasterOption = None,
) -> None:
    """Write a perf profile (histograms and counts) that compare reads."""
    if engine is Engine.spark:
        from tracekit.spark import build_profile

        session, cache = spark_session(spark_master, paths)
        profile = build_profile(session, paths, skip_bad=skip_bad, cache=cache)
    else:
        from tracekit.decisions.sides import load_side

        profile = load_side(paths, skip_bad=skip_bad, exact=exact)
        for line in profile.warnings:
            warn(line)
    profile.write(output)
    source = (
        f"; from {profile.inputs.get('files_from_summaries', 0):,} file summaries and "
        f"{profile.inputs.get('files_from_rows', 0):,} files' rows (percentiles from "
        "histograms, within 1%; --exact reads every row)"
        if profile.point_estimates == "histograms" and profile.inputs
        else ""
    )
    say(f"Wrote {output}: {profile.summary()}{source}")
