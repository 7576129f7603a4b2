"""Decorated generator functions: the span covers the iteration, not the call."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tracekit import Tracer, VirtualClock

MS = 1_000_000


def spans(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(tick_id, kind, name, error_type, duration_ns) of every span row, in order."""
    return [
        (row["tick_id"], row["kind"], row["name"], row["error_type"], row["duration_ns"])
        for row in rows
        if row["kind"] != "tick"
    ]


def test_a_decorated_generator_is_one_span_from_first_item_to_the_end(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer: Tracer = make_tracer(clock=clock, sample_rate=1.0, golden_trace_interval=10)

    @tracer.stage("read_book")
    def levels(count: int) -> Iterator[int]:
        for level in range(count):
            clock.advance(2 * MS)  # the work happens while iterated
            yield level
        return None

    with tracer.tick():
        created = levels(3)
        clock.advance(5 * MS)  # between the call and the iteration: not in the span
        assert list(created) == [0, 1, 2]
    with tracer.tick():
        for level in levels(10):  # left early: the generator is closed, not failed
            if level == 1:
                break
    tracer.close()
    assert inspect.isgeneratorfunction(levels)
    assert levels.__name__ == "levels"
    assert spans(helpers.read_rows(out_dir)) == [
        (1, "stage", "read_book", None, 6 * MS),
        (2, "stage", "read_book", None, 4 * MS),
    ]
    assert tracer.stats().invalid_calls == 0


def test_a_generator_send_and_return_value_pass_through(make_tracer: Any) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0, export_golden=False)

    @tracer.stage("echo")
    def echo() -> Generator[Any, Any, str]:
        received = yield "ready"
        yield f"got {received}"
        return "done"

    with tracer.tick():
        generator = echo()
        assert next(generator) == "ready"
        assert generator.send("x") == "got x"
        with pytest.raises(StopIteration) as stop:
            next(generator)
    assert stop.value.value == "done"


def test_a_decorated_async_generator_is_one_span_and_errors_are_recorded(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer: Tracer = make_tracer(clock=clock, sample_rate=1.0, golden_trace_interval=10)

    @tracer.request("GET", "trades")
    async def trades(fail_at: int | None = None) -> AsyncIterator[int]:
        for trade in range(3):
            await asyncio.sleep(0)
            clock.advance(1 * MS)
            if trade == fail_at:
                raise ConnectionError("feed dropped")
            yield trade

    received: list[int] = []

    async def consume(fail_at: int | None = None) -> None:
        async for trade in trades(fail_at):
            received.append(trade)

    async def main() -> None:
        async with tracer.tick():
            await consume()
        async with tracer.tick():
            with pytest.raises(ConnectionError):
                await consume(fail_at=1)

    assert inspect.isasyncgenfunction(trades)
    asyncio.run(main())
    assert received == [0, 1, 2, 0]
    tracer.close()
    assert spans(helpers.read_rows(out_dir)) == [
        (1, "request", "trades", None, 3 * MS),
        (2, "request", "trades", "ConnectionError", 2 * MS),
    ]


def test_a_decorated_generator_tick_closed_early_is_not_an_error(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer: Tracer = make_tracer(clock=clock, sample_rate=1.0, golden_trace_interval=10)

    @tracer.tick()
    def ticks() -> Generator[int | None, None, None]:
        while True:
            clock.advance(1 * MS)
            yield tracer.current_tick_id()

    generator = ticks()
    assert next(generator) == 1
    assert next(generator) == 1  # one call, one tick, however many items
    generator.close()
    tracer.close()
    rows = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [(row["tick_id"], row["error_type"], row["duration_ns"]) for row in rows] == [
        (1, None, 2 * MS)
    ]
