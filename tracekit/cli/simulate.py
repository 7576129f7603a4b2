"""``tracekit simulate``: run the simulated market-making loop and write golden traces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import NoColorOption


def simulate_command(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Dataset root for the golden traces (default: the --config file's "
            "trace.output_dir, else traces).",
            show_default=False,
        ),
    ] = None,
    ticks: Annotated[int, typer.Option(help="Ticks to simulate.")] = 2000,
    symbols: Annotated[int, typer.Option(help="Symbols in the universe (1-12).")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of latencies and sampling.")] = 0,
    slow: Annotated[
        list[str] | None,
        typer.Option(help="Inject a regression, e.g. spread=+10% (repeatable)."),
    ] = None,
    batching: Annotated[
        bool,
        typer.Option(
            help="Async batching: one batch_cancel and one batch_orders request per tick."
        ),
    ] = False,
    spike_probability: Annotated[
        float, typer.Option(help="Chance a stage or request spikes 3-8x.")
    ] = 0.004,
    tick_interval_ms: Annotated[float, typer.Option(help="Time between tick starts.")] = 250.0,
    run_id: Annotated[str | None, typer.Option(help="Run name (default sim-<seed>).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file whose trace: section configures the tracer.")
    ] = None,
    sample_rate: Annotated[float | None, typer.Option(help="Override trace.sample_rate.")] = None,
    interval: Annotated[
        int | None, typer.Option(help="Override trace.golden_trace_interval.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_color: NoColorOption = False,
) -> None:
    """Simulate a market-making loop on a virtual clock and write its golden traces."""
    from tracekit.cli.common import emit
    from tracekit.sim.simulator import SimulationSpec, parse_slow, simulate
    from tracekit.trace.config import TraceConfig

    base = TraceConfig.from_yaml(config) if config is not None else TraceConfig()
    if output is None:
        output = Path(base.output_dir) if config is not None else Path("traces")
    overrides: dict[str, object] = {"output_dir": str(output)}
    if sample_rate is not None:
        overrides["sample_rate"] = sample_rate
    if interval is not None:
        overrides["golden_trace_interval"] = interval
    trace_config = TraceConfig.from_mapping({**base.to_dict(), **overrides}, source="command line")
    spec = SimulationSpec(
        ticks=ticks,
        symbols=symbols,
        seed=seed,
        slow=dict(parse_slow(item) for item in slow or []),
        batching=batching,
        spike_probability=spike_probability,
        tick_interval_ms=tick_interval_ms,
    )
    result = simulate(spec, trace_config, run_id=run_id)
    if result.stats.writer.write_errors:
        from tracekit.errors import InputError

        raise InputError(
            f"{output}: could not write the golden traces ({result.stats.writer.last_error}); "
            "choose a writable --output folder"
        )
    emit(result, "json" if as_json else "table", no_color=no_color)
