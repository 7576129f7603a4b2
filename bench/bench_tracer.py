"""Overhead of tracekit's tracer, side by side with the OpenTelemetry SDK.

Usage::

    python bench/bench_tracer.py            # full run, under ~60 s
    python bench/bench_tracer.py --quick    # ~5 s
    python bench/bench_tracer.py --json results.json

Method. Every case is a *batch*: a loop of ``--batch`` operations (1,000 by
default) timed as a whole with :func:`time.perf_counter_ns`. Span cases run their
whole batch inside one tick, so the tick's own cost is outside the timed loop. One
*round* runs one batch of every case, in a shuffled order, so that all cases see
the same machine state; rounds repeat until the time budget is spent, after some
untimed warm-up rounds. A batch's per-operation cost is its elapsed time divided
by the batch size, minus the per-iteration cost of the empty loop (the median of
the ``loop`` case, measured in the same rounds). The table gives the median and
the 90th percentile of those per-operation batch means. The cyclic garbage
collector is off during the measured rounds (``gc.collect()`` runs every 100
rounds, outside any timed batch) unless ``--keep-gc`` is given. Background
threads (the OpenTelemetry BatchSpanProcessor's, tracekit's golden writer) run
during their own case's batch as they would in production, and are flushed or
drained after it, outside the timing, so that they do not take the GIL from the
next case.

Only the standard library is used for the measurement and the table;
``opentelemetry-sdk`` is needed for the OpenTelemetry rows (they are skipped,
with a message, when it is not installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tracekit import TraceConfig, Tracer, TracerStats
from tracekit.trace.tracer import NULL_SPAN

SPAN_FORMS = callable(NULL_SPAN)
"""The tracer offers decorators and ``async with`` (rows measured only then)."""

perf_counter_ns = time.perf_counter_ns

Batch = Callable[[int], int]
"""Runs ``n`` operations and returns the elapsed ns of the timed loop."""

# The targets, in ns per operation (median).
TARGET_SAMPLED_NS = 500.0
TARGET_UNSAMPLED_NS = 150.0
TARGET_DISABLED_NS = 60.0

LOOP_KEY = "baseline.loop"
GC_EVERY_ROUNDS = 100
WRITER_DRAIN_TIMEOUT_S = 10.0


# -- what is measured ------------------------------------------------------------


@dataclass
class Case:
    """One row of the table."""

    key: str
    label: str
    run: Batch
    target_ns: float | None = None
    after_batch: Callable[[], None] | None = None
    """Runs after every batch, outside the timing (e.g. let a writer drain)."""
    per_op_raw: list[float] = field(default_factory=list)


class _EmptyContext:
    """The cheapest context manager Python code can write."""

    __slots__ = ()

    def __enter__(self) -> _EmptyContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_EMPTY = _EmptyContext()


class _FloorTracer:
    """Has the shape of ``tracer.stage(...)`` and does nothing: a method call + an empty with."""

    __slots__ = ()

    def stage(self, name: str, symbol: str | None = None) -> _EmptyContext:
        return _EMPTY


def loop_batch() -> Batch:
    def run(n: int) -> int:
        rng = range(n)
        start = perf_counter_ns()
        for _ in rng:
            pass
        return perf_counter_ns() - start

    return run


def empty_with_batch() -> Batch:
    def run(n: int) -> int:
        empty = _EMPTY
        rng = range(n)
        start = perf_counter_ns()
        for _ in rng:
            with empty:
                pass
        return perf_counter_ns() - start

    return run


def floor_call_with_batch() -> Batch:
    floor = _FloorTracer()

    def run(n: int) -> int:
        rng = range(n)
        start = perf_counter_ns()
        for _ in rng:
            with floor.stage("spread", symbol="BTC"):
                pass
        return perf_counter_ns() - start

    return run


def clock_batch() -> Batch:
    def run(n: int) -> int:
        clock = perf_counter_ns
        rng = range(n)
        start = perf_counter_ns()
        for _ in rng:
            clock()
        return perf_counter_ns() - start

    return run


def stage_batch(tracer: Tracer) -> Batch:
    def run(n: int) -> int:
        with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                with tracer.stage("spread", symbol="BTC"):
                    pass
            return perf_counter_ns() - start

    return run


def request_batch(tracer: Tracer) -> Batch:
    def run(n: int) -> int:
        with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                with tracer.request("POST", "place_order", symbol="BTC"):
                    pass
            return perf_counter_ns() - start

    return run


def decorator_batch(tracer: Tracer) -> Batch:
    """``@tracer.stage(...)`` on a function, the function called in the timed loop."""

    @tracer.stage("spread", symbol="BTC")
    def spread() -> None:
        return None

    def run(n: int) -> int:
        with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                spread()
            return perf_counter_ns() - start

    return run


def call_in_with_batch(tracer: Tracer) -> Batch:
    """``with tracer.stage(...)`` around a call of an empty function: what the
    decorator row does, written by hand."""

    def spread() -> None:
        return None

    def run(n: int) -> int:
        with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                with tracer.stage("spread", symbol="BTC"):
                    spread()
            return perf_counter_ns() - start

    return run


def async_batch(tracer: Tracer, loop: asyncio.AbstractEventLoop, *, async_with: bool) -> Batch:
    """Stage spans inside a coroutine, with ``async with`` or with plain ``with``."""

    async def timed_async_with(n: int) -> int:
        async with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                async with tracer.stage("spread", symbol="BTC"):
                    pass
            return perf_counter_ns() - start

    async def timed_with(n: int) -> int:
        with tracer.tick():
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                with tracer.stage("spread", symbol="BTC"):
                    pass
            return perf_counter_ns() - start

    body = timed_async_with if async_with else timed_with

    def run(n: int) -> int:
        return loop.run_until_complete(body(n))

    return run


def tick_batch(tracer: Tracer) -> Batch:
    def run(n: int) -> int:
        rng = range(n)
        start = perf_counter_ns()
        for _ in rng:
            with tracer.tick():
                pass
        return perf_counter_ns() - start

    return run


def drain_metrics(tracer: Tracer) -> Callable[[], None]:
    """Feed the queued ticks into the metrics outside the timing (as the metrics
    thread does), so the next case does not pay for it."""

    def drain() -> None:
        if tracer.metrics is not None:
            tracer.metrics.drain()

    return drain


def otel_batch(otel_tracer: Any) -> Batch:
    """The same stage span through OpenTelemetry, inside one parent span per batch."""

    def run(n: int) -> int:
        with otel_tracer.start_as_current_span("tick"):
            rng = range(n)
            start = perf_counter_ns()
            for _ in rng:
                with otel_tracer.start_as_current_span("spread", attributes={"symbol": "BTC"}):
                    pass
            return perf_counter_ns() - start

    return run


def wait_for_writer(tracer: Tracer, interval: int) -> Callable[[], None]:
    """After a batch, wait until the golden writer has handled every full window."""

    def drain() -> None:
        deadline = time.monotonic() + WRITER_DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            stats = tracer.stats()
            writer = stats.writer
            handled = writer.files_written + writer.write_errors + writer.windows_dropped
            if handled >= stats.ticks // interval:
                return
            time.sleep(0.0005)

    return drain


# -- OpenTelemetry -----------------------------------------------------------------


@dataclass
class OtelSetup:
    """OpenTelemetry providers and their span counters."""

    tracers: dict[str, Any]
    providers: dict[str, Any]
    exporters: dict[str, Any]
    version: str

    def flusher(self, name: str) -> Callable[[], None]:
        """After a batch, export what the batch queued, so that the processor's thread
        is idle when the next case runs (it competes for the GIL)."""
        provider = self.providers[name]

        def flush() -> None:
            provider.force_flush()

        return flush

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def make_otel() -> OtelSetup | None:
    """Providers with a BatchSpanProcessor and a discarding exporter, or None without OTel."""
    try:
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, TraceIdRatioBased
    except ImportError:
        return None

    class DiscardExporter(SpanExporter):
        """Counts the spans it is given and drops them."""

        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    samplers = {
        "sampled": ALWAYS_ON,
        "unsampled": ALWAYS_OFF,
        "ratio0": TraceIdRatioBased(0.0),
    }
    tracers: dict[str, Any] = {}
    providers: dict[str, Any] = {}
    exporters: dict[str, Any] = {}
    for name, sampler in samplers.items():
        provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        exporter = DiscardExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        providers[name] = provider
        exporters[name] = exporter
        tracers[name] = provider.get_tracer("bench_tracer")
    return OtelSetup(tracers, providers, exporters, importlib.metadata.version("opentelemetry-sdk"))


# -- running -------------------------------------------------------------------------


@dataclass
class Tracers:
    """The tracekit tracers under test."""

    sampled: Tracer
    unsampled_keep: Tracer
    unsampled_head: Tracer
    tick_export: Tracer
    tick_no_export: Tracer
    tick_metrics: Tracer
    disabled: Tracer
    sampled_parents: Tracer | None = None
    """``record_parents: true`` (None when the tracekit measured has no such key)."""
    tick_parents: Tracer | None = None

    def all(self) -> dict[str, Tracer]:
        return {name: tracer for name, tracer in vars(self).items() if tracer is not None}


@contextlib.contextmanager
def make_tracers(
    output_dir: Path,
    interval: int,
    tracer_type: Callable[..., Tracer] = Tracer,
    config_type: Callable[..., TraceConfig] = TraceConfig,
) -> Iterator[Tracers]:
    """The tracers of the rows; ``tracer_type``/``config_type`` may come from another
    version of tracekit (bench/bench_tracer_ab.py builds the same tracers from both)."""

    def span_config(rate: float, keep_missed_detail: bool = True) -> TraceConfig:
        return config_type(
            sample_rate=rate,
            export_golden=False,
            keep_missed_detail=keep_missed_detail,
            sample_seed=1,
        )

    tracers = Tracers(
        sampled=tracer_type(span_config(1.0), run_id="bench-sampled"),
        unsampled_keep=tracer_type(span_config(0.0, True), run_id="bench-unsampled-keep"),
        unsampled_head=tracer_type(span_config(0.0, False), run_id="bench-unsampled-head"),
        tick_export=tracer_type(
            config_type(
                export_golden=True,
                output_dir=str(output_dir),
                golden_trace_interval=interval,
                sample_seed=1,
            ),
            run_id="bench-tick",
        ),
        tick_no_export=tracer_type(
            config_type(export_golden=False, sample_seed=1), run_id="bench-tick-no-export"
        ),
        tick_metrics=tracer_type(
            config_type(export_golden=False, metrics=True, sample_seed=1),
            run_id="bench-tick-metrics",
        ),
        disabled=tracer_type(config_type(enabled=False)),
    )
    if hasattr(config_type(), "record_parents"):  # tracekit with span ids and parents
        tracers.sampled_parents = tracer_type(
            config_type(sample_rate=1.0, export_golden=False, sample_seed=1, record_parents=True),
            run_id="bench-sampled-parents",
        )
        tracers.tick_parents = tracer_type(
            config_type(export_golden=False, sample_seed=1, record_parents=True),
            run_id="bench-tick-parents",
        )
    try:
        yield tracers
    finally:
        for tracer in tracers.all().values():
            tracer.close()


def check_setup(tracers: Tracers, null_span: object = NULL_SPAN) -> None:
    """Make sure each tracer takes the path its row claims to measure (``null_span``:
    the null span of the tracekit version the tracers come from)."""
    with tracers.sampled.tick():
        assert tracers.sampled.stage("check") is not null_span, "sampled span is a null span"
        assert tracers.sampled.request("GET", "check") is not null_span
    nested = tracers.sampled_parents
    if nested is not None:
        with nested.tick(), nested.stage("outer"):
            assert nested.stage("check") is not null_span, "record_parents: not measured"
            assert type(nested.stage("check")) is not type(tracers.sampled.stage("x")), (
                "record_parents: the default span class"
            )
    with tracers.unsampled_keep.tick():
        assert tracers.unsampled_keep.stage("check") is not null_span, "keep_missed: not measured"
    with tracers.unsampled_head.tick():
        assert tracers.unsampled_head.stage("check") is null_span, "head sampling: measured"
    with tracers.disabled.tick():
        assert tracers.disabled.stage("check") is null_span, "disabled tracer: measured"


def build_cases(
    tracers: Tracers,
    otel: OtelSetup | None,
    interval: int,
    loop: asyncio.AbstractEventLoop | None = None,
) -> list[Case]:
    cases = [
        Case(LOOP_KEY, "empty loop iteration (subtracted from all rows)", loop_batch()),
        Case("baseline.empty_with", "empty Python `with` (floor)", empty_with_batch()),
        Case(
            "baseline.call_with",
            "method call + empty `with` (floor of the API shape)",
            floor_call_with_batch(),
        ),
        Case("baseline.clock", "time.perf_counter_ns() call", clock_batch()),
        Case(
            "tracekit.stage.sampled",
            "stage span, sampled tick (rate 1.0)",
            stage_batch(tracers.sampled),
            TARGET_SAMPLED_NS,
        ),
        Case(
            "tracekit.stage.unsampled_keep",
            "stage span, unsampled, keep_missed_detail=True",
            stage_batch(tracers.unsampled_keep),
            TARGET_UNSAMPLED_NS,
        ),
        Case(
            "tracekit.stage.unsampled_head",
            "stage span, unsampled, keep_missed_detail=False",
            stage_batch(tracers.unsampled_head),
            TARGET_UNSAMPLED_NS,
        ),
        Case(
            "tracekit.request.sampled",
            "request span, sampled tick (rate 1.0)",
            request_batch(tracers.sampled),
        ),
        Case(
            "tracekit.tick.export",
            f"tick, golden export on (interval {interval}, rate 0.2)",
            tick_batch(tracers.tick_export),
            after_batch=wait_for_writer(tracers.tick_export, interval),
        ),
        Case(
            "tracekit.tick.no_export",
            "tick, golden export off (rate 0.2)",
            tick_batch(tracers.tick_no_export),
        ),
        Case(
            "tracekit.tick.metrics",
            "tick, Prometheus metrics on, export off (rate 0.2)",
            tick_batch(tracers.tick_metrics),
            after_batch=drain_metrics(tracers.tick_metrics),
        ),
    ]
    if tracers.sampled_parents is not None and tracers.tick_parents is not None:
        cases += [
            Case(
                "tracekit.stage.sampled_parents",
                "stage span, sampled tick, record_parents=True",
                stage_batch(tracers.sampled_parents),
            ),
            Case(
                "tracekit.request.sampled_parents",
                "request span, sampled tick, record_parents=True",
                request_batch(tracers.sampled_parents),
            ),
            Case(
                "tracekit.tick.no_export_parents",
                "tick, golden export off (rate 0.2), record_parents=True",
                tick_batch(tracers.tick_parents),
            ),
        ]
    cases += [
        Case(
            "tracekit.disabled.stage",
            "disabled tracer: stage span",
            stage_batch(tracers.disabled),
            TARGET_DISABLED_NS,
        ),
        Case(
            "tracekit.disabled.tick",
            "disabled tracer: tick",
            tick_batch(tracers.disabled),
            TARGET_DISABLED_NS,
        ),
    ]
    if SPAN_FORMS and loop is not None:  # decorators and async with (newer tracekit)
        cases += [
            Case(
                "tracekit.stage.decorator",
                "`@tracer.stage` decorated function called, sampled",
                decorator_batch(tracers.sampled),
            ),
            Case(
                "tracekit.stage.call_in_with",
                "`with tracer.stage` around an empty function call, sampled",
                call_in_with_batch(tracers.sampled),
            ),
            Case(
                "tracekit.stage.async_with",
                "`async with tracer.stage` in a coroutine, sampled",
                async_batch(tracers.sampled, loop, async_with=True),
            ),
            Case(
                "tracekit.stage.with_in_coroutine",
                "`with tracer.stage` in a coroutine, sampled",
                async_batch(tracers.sampled, loop, async_with=False),
            ),
        ]
    if otel is not None:
        for name, label in (
            ("sampled", "OTel span, ALWAYS_ON"),
            ("unsampled", "OTel span, ALWAYS_OFF"),
            ("ratio0", "OTel span, TraceIdRatioBased(0)"),
        ):
            cases.append(
                Case(
                    f"otel.{name}",
                    label,
                    otel_batch(otel.tracers[name]),
                    after_batch=otel.flusher(name),
                )
            )
    return cases


def run_rounds(
    cases: list[Case], batch: int, warmup_rounds: int, budget_s: float, keep_gc: bool, seed: int
) -> tuple[int, float]:
    """Warm up, then run shuffled rounds until the budget is spent; returns (rounds, seconds)."""
    order = list(cases)
    shuffle = random.Random(seed).shuffle
    for _ in range(warmup_rounds):
        for case in order:
            case.run(batch)
            if case.after_batch is not None:
                case.after_batch()
    gc.collect()
    gc.freeze()  # what exists now is never scanned again: periodic collections stay cheap
    if not keep_gc:
        gc.disable()
    rounds = 0
    started = time.perf_counter()
    try:
        while rounds < 5 or time.perf_counter() - started < budget_s:
            shuffle(order)
            for case in order:
                elapsed = case.run(batch)
                case.per_op_raw.append(elapsed / batch)
                if case.after_batch is not None:
                    case.after_batch()
            rounds += 1
            if not keep_gc and rounds % GC_EVERY_ROUNDS == 0:
                gc.collect()
    finally:
        gc.enable()
        gc.unfreeze()
    return rounds, time.perf_counter() - started


# -- reporting -------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    median_ns: float
    p90_ns: float
    mean_ns: float
    min_ns: float
    raw_median_ns: float
    batches: int
    target_ns: float | None
    otel_ratio: float | None = None
    otel_ratio_of: str | None = None


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def summarise(cases: list[Case]) -> list[Row]:
    baseline = statistics.median(next(c for c in cases if c.key == LOOP_KEY).per_op_raw)
    rows = []
    for case in cases:
        subtract = 0.0 if case.key == LOOP_KEY else baseline
        net = [value - subtract for value in case.per_op_raw]
        rows.append(
            Row(
                key=case.key,
                label=case.label,
                median_ns=statistics.median(net),
                p90_ns=p90(net),
                mean_ns=statistics.fmean(net),
                min_ns=min(net),
                raw_median_ns=statistics.median(case.per_op_raw),
                batches=len(net),
                target_ns=case.target_ns,
            )
        )
    by_key = {row.key: row for row in rows}
    ratio_pairs = {
        "tracekit.stage.sampled": "otel.sampled",
        "tracekit.request.sampled": "otel.sampled",
        "tracekit.stage.unsampled_keep": "otel.unsampled",
        "tracekit.stage.unsampled_head": "otel.unsampled",
    }
    for key, otel_key in ratio_pairs.items():
        if key in by_key and otel_key in by_key and by_key[key].median_ns > 0:
            by_key[key].otel_ratio = by_key[otel_key].median_ns / by_key[key].median_ns
            by_key[key].otel_ratio_of = otel_key
    return rows


PARENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("tracekit.stage.sampled_parents", "tracekit.stage.sampled"),
    ("tracekit.request.sampled_parents", "tracekit.request.sampled"),
    ("tracekit.tick.no_export_parents", "tracekit.tick.no_export"),
)
"""The rows with ``record_parents: true`` and the default rows they are compared with."""
PAIR_RESAMPLES = 2000


@dataclass
class ParentCost:
    """What ``record_parents`` adds to a row, from the batches of the same rounds."""

    key: str
    of: str
    extra_ns: float
    """Median over rounds of (with - without), ns per operation."""
    ratio: float
    """Median over rounds of with / without (loop cost subtracted from both)."""
    ratio_low: float
    ratio_high: float
    """A 95 % percentile-bootstrap interval of ``ratio``."""
    min_extra_ns: float
    """Minimum with less minimum without: the least loaded batches of each."""


def parent_costs(cases: list[Case], seed: int) -> list[ParentCost]:
    """Pair each ``record_parents`` row with its default row round by round (each round
    runs one batch of both, in a shuffled order), so the machine's load hits both."""
    by_key = {case.key: case for case in cases}
    loop = statistics.median(by_key[LOOP_KEY].per_op_raw)
    rng = random.Random(seed)
    costs = []
    for key, of in PARENT_PAIRS:
        if key not in by_key or of not in by_key:
            continue
        pairs = list(zip(by_key[key].per_op_raw, by_key[of].per_op_raw, strict=True))
        ratios = [(a - loop) / (b - loop) for a, b in pairs if b > loop]
        medians = sorted(
            statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(PAIR_RESAMPLES)
        )
        costs.append(
            ParentCost(
                key=key,
                of=of,
                extra_ns=statistics.median(a - b for a, b in pairs),
                ratio=statistics.median(ratios),
                ratio_low=medians[int(0.025 * PAIR_RESAMPLES)],
                ratio_high=medians[int(0.975 * PAIR_RESAMPLES) - 1],
                min_extra_ns=min(by_key[key].per_op_raw) - min(by_key[of].per_op_raw),
            )
        )
    return costs


def format_parent_costs(costs: list[ParentCost]) -> str:
    lines = [
        "record_parents=True against the default, paired by round:",
        f"{'case':<34}  {'extra ns (median)':>17}  {'ratio [95% CI]':>22}  {'extra ns (mins)':>15}",
    ]
    for cost in costs:
        interval = f"{cost.ratio:.3f} [{cost.ratio_low:.3f}, {cost.ratio_high:.3f}]"
        lines.append(
            f"{cost.key:<34}  {cost.extra_ns:>17,.1f}  {interval:>22}  {cost.min_extra_ns:>15,.1f}"
        )
    return "\n".join(lines)


def format_table(rows: list[Row]) -> str:
    header = ("case", "median ns/op", "p90 ns/op", "target", "median/target", "OTel/tracekit")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        target = "" if row.target_ns is None else f"<= {row.target_ns:.0f}"
        if row.target_ns is None:
            versus = ""
        else:
            share = row.median_ns / row.target_ns
            versus = f"{share:.2f}x {'ok' if share <= 1.0 else 'MISSED'}"
        ratio = "" if row.otel_ratio is None else f"{row.otel_ratio:.1f}x"
        lines.append(
            (row.label, f"{row.median_ns:,.1f}", f"{row.p90_ns:,.1f}", target, versus, ratio)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for number, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "tracekit": importlib.metadata.version("tracekit"),
        "switch_interval_s": sys.getswitchinterval(),
    }


def stats_dict(stats: TracerStats) -> dict[str, Any]:
    values = dict(vars(stats))
    values["writer"] = dict(vars(stats.writer))
    return values


def check_after(tracers: Tracers) -> list[str]:
    """Problems that would make a row measure something else than it claims."""
    problems = []
    for tracer in (tracers.sampled, tracers.sampled_parents):
        if tracer is None:
            continue
        sampled = tracer.stats()
        if sampled.ticks_sampled != sampled.ticks or sampled.records_dropped:
            problems.append(f"sampled tracer {tracer.run_id}: {sampled}")
    for name in ("unsampled_keep", "unsampled_head"):
        stats = getattr(tracers, name).stats()
        if stats.ticks_sampled or stats.ticks_kept_for_miss:
            problems.append(f"{name} tracer kept detail: {stats}")
    for name, tracer in tracers.all().items():
        if tracer.stats().orphan_calls:
            problems.append(f"{name} tracer counted orphan calls")
    return problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~5 s run (fewer rounds)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument("--batch", type=int, default=1000, help="operations per batch")
    parser.add_argument(
        "--seconds", type=float, help="measuring budget (default 40, or 4 with --quick)"
    )
    parser.add_argument("--keep-gc", action="store_true", help="leave gc enabled while timing")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the case order")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget_s = args.seconds if args.seconds is not None else (4.0 if args.quick else 40.0)
    warmup_rounds = 5 if args.quick else 30
    interval = 100
    wall_started = time.perf_counter()
    threads_before = {thread.ident for thread in threading.enumerate()}

    otel = make_otel()
    loop = asyncio.new_event_loop()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="tracekit-bench-") as tmp,
            make_tracers(Path(tmp), interval) as tracers,
        ):
            check_setup(tracers)
            cases = build_cases(tracers, otel, interval, loop)
            rounds, measured_s = run_rounds(
                cases, args.batch, warmup_rounds, budget_s, args.keep_gc, args.seed
            )
            problems = check_after(tracers)
            tracer_stats = {name: t.stats() for name, t in tracers.all().items()}
    finally:
        loop.close()
        if otel is not None:
            otel.shutdown()
    leftover = [t.name for t in threading.enumerate() if t.ident not in threads_before]

    rows = summarise(cases)
    info = machine()
    print(
        f"tracekit {info['tracekit']} tracer overhead -- Python {info['python']}, "
        f"{info['nproc']} CPUs ({info['cpu_model']})"
    )
    print(
        f"{rounds} rounds x {len(cases)} cases x {args.batch} ops/batch, "
        f"{warmup_rounds} warm-up rounds, {measured_s:.1f} s measuring; "
        f"gc {'enabled' if args.keep_gc else 'disabled'} while timing"
    )
    loop_ns = next(row for row in rows if row.key == LOOP_KEY).median_ns
    print(
        f"ns per operation; the empty-loop cost ({loop_ns:.1f} ns/iteration, same run) "
        "is subtracted from every other row"
    )
    print()
    print(format_table(rows))
    print()
    costs = parent_costs(cases, args.seed)
    if costs:
        print(format_parent_costs(costs))
        print()
    if otel is None:
        print("opentelemetry-sdk is not installed: OTel rows skipped")
    else:
        exported = {name: exporter.spans for name, exporter in otel.exporters.items()}
        print(f"OTel {otel.version}: spans exported by the discarding exporters: {exported}")
    writer = tracer_stats["tick_export"].writer
    print(
        f"golden writer (tick, export on): {writer.files_written} files, "
        f"{writer.rows_written} rows, {writer.windows_dropped} windows dropped, "
        f"{writer.write_errors} write errors"
    )
    for problem in problems:
        print(f"WARNING: {problem}")
    if leftover:
        print(f"WARNING: threads left running: {leftover}")
    total_s = time.perf_counter() - wall_started
    print(f"total run time {total_s:.1f} s")

    if args.json is not None:
        document = {
            "benchmark": "bench/bench_tracer.py",
            "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
            "machine": info,
            "method": {
                "ops_per_batch": args.batch,
                "rounds": rounds,
                "warmup_rounds": warmup_rounds,
                "measuring_s": measured_s,
                "gc_disabled_while_timing": not args.keep_gc,
                "loop_baseline_ns_subtracted": loop_ns,
                "statistic": "median and p90 of per-op batch means, loop baseline subtracted",
            },
            "opentelemetry_sdk": None if otel is None else otel.version,
            "results": [dict(vars(row)) for row in rows],
            "record_parents_costs": [dict(vars(cost)) for cost in costs],
            "tracer_stats": {name: stats_dict(s) for name, s in tracer_stats.items()},
            "problems": problems,
            "threads_left": leftover,
            "total_s": total_s,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if problems or leftover else 0


if __name__ == "__main__":
    sys.exit(main())
