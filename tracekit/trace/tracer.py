"""The tracer: cheap, asyncio-safe spans for a tick-based loop.

The hot path uses only the standard library: a monotonic nanosecond clock and a
:class:`contextvars.ContextVar` holding the current tick. Tasks created inside a
tick (``asyncio.gather``, ``create_task``, ``asyncio.to_thread``) copy the context,
so their spans land in that tick whatever the interleaving. Each thread running
its own ticks has its own context; :meth:`Tracer.bind` carries a tick into a thread
pool. With ``record_parents`` a second context variable holds the current span, so
each span also records the span it ran inside, through the same copies.

Every tick's own row is recorded. Stage and request spans are measured for
sampled ticks and, with ``keep_missed_detail``, for every tick, then kept only if
the tick was sampled or missed its deadline. Finished ticks go to the tracer's
sinks (:class:`~tracekit.trace.records.TickSink`: the golden writer, the Prometheus
feed). Nothing here raises into the traced program: misuse is counted in
:meth:`Tracer.stats`. A disabled tracer is a :class:`NullTracer`.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import functools
import itertools
import json
import logging
import math
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, cast

from tracekit._version import __version__
from tracekit.errors import ConfigError
from tracekit.store import schema
from tracekit.store.location import is_object_url
from tracekit.trace.clock import ClockNs, monotonic_ns
from tracekit.trace.config import TraceConfig
from tracekit.trace.records import (
    Attributes,
    AttributeValue,
    FinishedTick,
    GuardRecord,
    SinkReport,
    SpanRecord,
    TickSink,
)
from tracekit.trace.sampling import Sampler
from tracekit.trace.sinks.golden import GoldenWriter, WriterStats

if TYPE_CHECKING:
    from typing import Self

    from prometheus_client import CollectorRegistry

    from tracekit.trace.sinks.prometheus import PrometheusMetrics

logger = logging.getLogger("tracekit")

P = ParamSpec("P")
R = TypeVar("R")

MAX_NAME_CHARS: Final = 200
"""Longest stage, request, verb, symbol or guard-reason name accepted."""
MAX_ATTRIBUTES: Final = 8
"""Most attributes one span may carry."""
MAX_ATTRIBUTE_KEY_CHARS: Final = 64
MAX_ATTRIBUTE_TEXT_CHARS: Final = 200
RESERVED_NAMES: Final = frozenset({schema.TICK_TOTAL})
"""Names a stage, request or guard trip may not take (the tick's own row)."""
MAX_PARALLEL_SYMBOLS: Final = 2**31 - 1
WRITER_READY_WAIT_S: Final = 10.0
"""Longest wait of a ``Tracer`` built outside a running event loop for its golden
writer thread to import pyarrow (0.1-0.8 s, once per process)."""
"""``parallel_symbols`` is an int32 column."""
_MAX_CACHED_LABELS: Final = 4096
"""Valid names remembered per tracer, so a repeated name is checked by one set lookup."""
_INT64_MAX: Final = 2**63 - 1
_DETAIL_SAMPLED: Final = schema.DETAIL_SAMPLED
_DETAIL_MISS: Final = schema.DETAIL_DEADLINE_MISS
_DETAIL_NONE: Final = schema.DETAIL_NONE


# -- spans ----------------------------------------------------------------------------


class Span:
    """What :meth:`Tracer.stage`, :meth:`Tracer.request` and :meth:`Tracer.tick` return.

    Use it as a context manager (``with`` or ``async with``), or as a decorator of a
    function or coroutine function: every call of the decorated function is then one
    span (or tick), opened in the caller's context.
    """

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func``: each call runs inside a new span like this one."""
        opener = self._opener()
        if opener is None:
            return func
        return _decorate(opener, func)

    @property
    def tick_id(self) -> int:
        """The tick this span belongs to (0 when nothing is recorded)."""
        return 0

    def _opener(self) -> Callable[[], Span] | None:
        """Opens a new span like this one; None when decorating should change nothing."""
        return None


class _NullSpan(Span):
    """The span handed out when nothing is to be measured: it does nothing, and as a
    decorator it returns the function unchanged."""

    __slots__ = ()

    # Defined here again, not inherited: the unmeasured path is the cheapest span of all.
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


NULL_SPAN: Final = _NullSpan()


def _decorate(opener: Callable[[], Span], func: Callable[P, R]) -> Callable[P, R]:
    import inspect  # only when decorating: not on the hot path

    # A generator's body runs while it is iterated, not when it is called: the span of a
    # decorated generator function covers the iteration, from the first item to the end.
    if inspect.isasyncgenfunction(func):
        async_generator_function = cast(Callable[P, AsyncIterator[object]], func)

        async def iterate_async(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[object]:
            with opener():
                async for item in async_generator_function(*args, **kwargs):
                    yield item

        return cast(Callable[P, R], functools.wraps(func)(iterate_async))

    if inspect.isgeneratorfunction(func):
        generator_function = cast(Callable[P, Generator[object, object, object]], func)

        def iterate(*args: P.args, **kwargs: P.kwargs) -> Generator[object, object, object]:
            with opener():
                return (yield from generator_function(*args, **kwargs))

        return cast(Callable[P, R], functools.wraps(func)(iterate))

    if inspect.iscoroutinefunction(func):
        coroutine_function = cast(Callable[P, Awaitable[object]], func)

        async def run_async(*args: P.args, **kwargs: P.kwargs) -> object:
            with opener():
                return await coroutine_function(*args, **kwargs)

        return cast(Callable[P, R], functools.wraps(func)(run_async))

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with opener():
            return func(*args, **kwargs)

    return functools.wraps(func)(run)


class _TickState:
    """What one tick accumulates; shared by every task and span inside it."""

    __slots__ = (
        "attributes",
        "cancelled",
        "dropped",
        "guard_trips",
        "guards",
        "late",
        "measuring",
        "open",
        "parallel_symbols",
        "request_count",
        "sampled",
        "spans",
        "tick_id",
    )

    def __init__(self, tick_id: int, sampled: bool, measuring: bool, late: list[int]) -> None:
        self.tick_id = tick_id
        self.late = late  # the tracer's counter of spans that ended after their tick
        self.sampled = sampled
        self.measuring = measuring
        self.open = True
        self.spans: list[SpanRecord] = []
        self.guards: list[GuardRecord] = []
        self.guard_trips = 0
        self.request_count = 0
        self.parallel_symbols: int | None = None
        self.dropped = 0
        self.attributes: dict[int, Attributes] | None = None
        self.cancelled: list[tuple[int, object, int]] | None = None


class _NestingTickState(_TickState):
    """A tick's state when the tracer records parents: also numbers its spans."""

    __slots__ = ("span_ids",)

    def __init__(self, tick_id: int, sampled: bool, measuring: bool, late: list[int]) -> None:
        # _TickState.__init__ inlined: one call fewer per tick.
        self.tick_id = tick_id
        self.late = late
        self.sampled = sampled
        self.measuring = measuring
        self.open = True
        self.spans: list[SpanRecord] = []
        self.guards: list[GuardRecord] = []
        self.guard_trips = 0
        self.request_count = 0
        self.parallel_symbols: int | None = None
        self.dropped = 0
        self.attributes: dict[int, Attributes] | None = None
        self.cancelled: list[tuple[int, object, int]] | None = None
        # next() of a count is one C call, atomic under the GIL: threads of one tick
        # (to_thread, bind) never get the same id.
        self.span_ids = itertools.count(1)


def _error_name(state: _TickState, exc_type: type[BaseException], index: int) -> str | None:
    """The error type recorded for a span; remembers a cancellation, which
    :func:`_resolve_cancelled` may later find was a timeout."""
    if exc_type is GeneratorExit:  # a decorated generator closed before its end
        return None
    name = exc_type.__name__
    if name == "CancelledError":
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None:
            try:
                task = asyncio.current_task()
            except RuntimeError:  # no running loop
                task = None
            if task is not None:
                if state.cancelled is None:
                    state.cancelled = []
                state.cancelled.append((index, task, task.cancelling()))
    return name


def _resolve_cancelled(state: _TickState) -> None:
    """Record as ``TimeoutError`` the spans that ``asyncio.timeout`` (or ``wait_for``)
    cancelled: by the tick's end the timeout has withdrawn its cancellation request
    (``Task.uncancel``), which a cancellation of the task itself never does."""
    for index, task, level in state.cancelled or ():
        cancelling = getattr(task, "cancelling", None)
        if cancelling is not None and cancelling() < level and index < len(state.spans):
            record = state.spans[index]
            state.spans[index] = (*record[:4], "TimeoutError", *record[5:])


class _SpanFactory:
    """The two span classes of one tracer: without and with attributes."""

    __slots__ = ("plain", "request", "stage", "with_attributes")

    def __init__(
        self,
        plain: Callable[..., Span],
        stage: Callable[..., Span],
        request: Callable[..., Span],
        with_attributes: Callable[..., Span],
    ) -> None:
        self.plain = plain
        self.stage = stage
        self.request = request
        self.with_attributes = with_attributes


def _span_type(
    tracer: Tracer,
    clock: ClockNs,
    max_records: int,
    current_span: contextvars.ContextVar[int | None] | None = None,
) -> _SpanFactory:
    """Build the span classes of one tracer.

    The clock and the record cap are closure variables rather than attributes, as
    this is the hottest code in tracekit: a closure read is the cheapest lookup
    CPython has. With ``current_span`` (``record_parents``) the classes returned are
    subclasses that also number each span and record its parent's number; the
    classes of a tracer without it are untouched, so they cost nothing more.
    """

    class _Span(Span):
        __slots__ = ("_kind", "_name", "_start_ns", "_state", "_symbol", "_verb")

        def __init__(
            self, state: _TickState, kind: str, name: str, symbol: str | None, verb: str | None
        ) -> None:
            self._state = state
            self._kind = kind
            self._name = name
            self._symbol = symbol
            self._verb = verb

        def __enter__(self) -> Self:
            self._start_ns = clock()
            return self

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        self._kind,
                        self._name,
                        self._symbol,
                        self._verb,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                    )
                )
            else:
                state.dropped += 1

        @property
        def tick_id(self) -> int:
            return self._state.tick_id

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(tracer, self._kind, self._name, self._symbol, self._verb, None)

    kind_stage = schema.KIND_STAGE

    class _StageSpan(_Span):
        """A stage span without attributes: the commonest span, with the fewest stores."""

        __slots__ = ()

        def __init__(self, state: _TickState, name: str, symbol: str | None) -> None:
            self._state = state
            self._name = name
            self._symbol = symbol

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        kind_stage,
                        self._name,
                        self._symbol,
                        None,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                    )
                )
            else:
                state.dropped += 1

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(tracer, kind_stage, self._name, self._symbol, None, None)

    kind_request = schema.KIND_REQUEST

    class _RequestSpan(_Span):
        """A request span without attributes: its kind is fixed, one store fewer."""

        __slots__ = ()

        def __init__(self, state: _TickState, name: str, symbol: str | None, verb: str) -> None:
            self._state = state
            self._name = name
            self._symbol = symbol
            self._verb = verb

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        kind_request,
                        self._name,
                        self._symbol,
                        self._verb,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                    )
                )
            else:
                state.dropped += 1

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(tracer, kind_request, self._name, self._symbol, self._verb, None)

    class _AttributeSpan(_Span):
        """A span that also carries attributes (only spans given ``attributes=``)."""

        __slots__ = ("_attributes",)

        def __init__(
            self,
            state: _TickState,
            kind: str,
            name: str,
            symbol: str | None,
            verb: str | None,
            attributes: Attributes,
        ) -> None:
            super().__init__(state, kind, name, symbol, verb)
            self._attributes = attributes

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            state = self._state
            index = len(state.spans)
            super().__exit__(exc_type, exc, traceback)
            if len(state.spans) > index:  # kept: remember its attributes
                if state.attributes is None:
                    state.attributes = {}
                state.attributes[index] = self._attributes

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(
                tracer, self._kind, self._name, self._symbol, self._verb, self._attributes
            )

    if current_span is None:
        return _SpanFactory(_Span, _StageSpan, _RequestSpan, _AttributeSpan)

    get_parent = current_span.get
    set_parent = current_span.set
    reset_parent = current_span.reset

    class _NestedSpan(_Span):
        """A span that takes a number in its tick and becomes the current span of its
        context until it ends, so spans opened inside it (also in tasks and threads
        that copy the context) record it as their parent."""

        __slots__ = ("_id", "_parent", "_token")
        _state: _NestingTickState

        def __enter__(self) -> Self:
            self._id = span_id = next(self._state.span_ids)
            self._parent = get_parent()
            self._token = set_parent(span_id)
            self._start_ns = clock()
            return self

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            try:
                reset_parent(self._token)
            except (ValueError, RuntimeError):  # exited in another context, or twice
                set_parent(self._parent)
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        self._kind,
                        self._name,
                        self._symbol,
                        self._verb,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                        self._id,
                        self._parent,
                    )
                )
            else:
                state.dropped += 1

    class _NestedStageSpan(_NestedSpan):
        """:class:`_StageSpan`, numbered."""

        __slots__ = ()

        def __init__(self, state: _NestingTickState, name: str, symbol: str | None) -> None:
            self._state = state
            self._name = name
            self._symbol = symbol

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            try:
                reset_parent(self._token)
            except (ValueError, RuntimeError):
                set_parent(self._parent)
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        kind_stage,
                        self._name,
                        self._symbol,
                        None,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                        self._id,
                        self._parent,
                    )
                )
            else:
                state.dropped += 1

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(tracer, kind_stage, self._name, self._symbol, None, None)

    class _NestedRequestSpan(_NestedSpan):
        """:class:`_RequestSpan`, numbered."""

        __slots__ = ()

        def __init__(
            self, state: _NestingTickState, name: str, symbol: str | None, verb: str
        ) -> None:
            self._state = state
            self._name = name
            self._symbol = symbol
            self._verb = verb

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            try:
                reset_parent(self._token)
            except (ValueError, RuntimeError):
                set_parent(self._parent)
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        kind_request,
                        self._name,
                        self._symbol,
                        self._verb,
                        None if exc_type is None else _error_name(state, exc_type, len(spans)),
                        self._start_ns,
                        end_ns - self._start_ns,
                        self._id,
                        self._parent,
                    )
                )
            else:
                state.dropped += 1

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(tracer, kind_request, self._name, self._symbol, self._verb, None)

    class _NestedAttributeSpan(_NestedSpan):
        """:class:`_AttributeSpan`, numbered."""

        __slots__ = ("_attributes",)

        def __init__(
            self,
            state: _NestingTickState,
            kind: str,
            name: str,
            symbol: str | None,
            verb: str | None,
            attributes: Attributes,
        ) -> None:
            super().__init__(state, kind, name, symbol, verb)
            self._attributes = attributes

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            state = self._state
            index = len(state.spans)
            super().__exit__(exc_type, exc, traceback)
            if len(state.spans) > index:  # kept: remember its attributes
                if state.attributes is None:
                    state.attributes = {}
                state.attributes[index] = self._attributes

        def _opener(self) -> Callable[[], Span]:
            return _opener_of(
                tracer, self._kind, self._name, self._symbol, self._verb, self._attributes
            )

    return _SpanFactory(_NestedSpan, _NestedStageSpan, _NestedRequestSpan, _NestedAttributeSpan)


def _opener_of(
    tracer: Tracer,
    kind: str,
    name: str,
    symbol: str | None,
    verb: str | None,
    attributes: Attributes | None,
) -> Callable[[], Span]:
    # Positional arguments only: the cheapest call a partial can make.
    if kind == schema.KIND_STAGE:
        return functools.partial(tracer.stage, name, symbol, attributes)
    return functools.partial(tracer.request, verb or "", name, symbol, attributes)


class _UnboundSpan(Span):
    """A span asked for outside any tick: entered, it is an orphan (counted); as a
    decorator, each call of the function opens a span in the caller's tick."""

    __slots__ = ("_attributes", "_kind", "_name", "_symbol", "_tracer", "_verb")

    def __init__(
        self,
        tracer: Tracer,
        kind: str,
        name: str,
        symbol: str | None,
        verb: str | None,
        attributes: Attributes | None,
    ) -> None:
        self._tracer = tracer
        self._kind = kind
        self._name = name
        self._symbol = symbol
        self._verb = verb
        self._attributes = attributes

    def __enter__(self) -> Self:
        self._tracer._count_orphan()
        return self

    def _opener(self) -> Callable[[], Span]:
        return _opener_of(
            self._tracer, self._kind, self._name, self._symbol, self._verb, self._attributes
        )


class _TickSpan(Span):
    """The context manager returned by :meth:`Tracer.tick`."""

    __slots__ = ("_deadline_ns", "_start_ns", "_state", "_token", "_tracer")

    def __init__(self, tracer: Tracer, deadline_ns: int) -> None:
        self._tracer = tracer
        self._deadline_ns = deadline_ns

    def __enter__(self) -> Self:
        tracer = self._tracer
        # Tracer._begin_tick inlined: one call fewer per tick.
        tick_id = next(tracer._tick_ids)
        sampled = tracer._decide(tick_id)
        state = self._state = _TickState(
            tick_id, sampled, sampled or tracer._keep_missed, tracer._late_spans
        )
        self._token = tracer._current.set(state)
        self._start_ns = tracer._clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tracer = self._tracer
        end_ns = tracer._clock()
        try:
            tracer._current.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            tracer._current.set(None)
        tracer._end_tick(
            self._state,
            self._start_ns,
            end_ns - self._start_ns,
            self._deadline_ns,
            None if exc_type is None or exc_type is GeneratorExit else exc_type.__name__,
        )

    @property
    def tick_id(self) -> int:
        """The number of this tick within the run (valid inside the ``with`` block)."""
        return self._state.tick_id

    def _opener(self) -> Callable[[], Span]:
        return functools.partial(_TickSpan, self._tracer, self._deadline_ns)


class _NestingTickSpan(_TickSpan):
    """:class:`_TickSpan` of a tracer that records parents: its state numbers the
    spans, and spans opened directly inside the tick have no parent (null)."""

    __slots__ = ("_span_token",)

    def __enter__(self) -> Self:
        tracer = self._tracer
        tick_id = next(tracer._tick_ids)
        sampled = tracer._decide(tick_id)
        state = self._state = _NestingTickState(
            tick_id, sampled, sampled or tracer._keep_missed, tracer._late_spans
        )
        self._token = tracer._current.set(state)
        current_span = tracer._current_span
        # A tick opened inside a span (of another tick): its own spans start afresh.
        # Usually no span is current, and a read is cheaper than a set and a reset.
        self._span_token = None if current_span.get() is None else current_span.set(None)
        self._start_ns = tracer._clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # _TickSpan.__exit__ inlined (one call fewer per tick), then the current span.
        tracer = self._tracer
        end_ns = tracer._clock()
        try:
            tracer._current.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            tracer._current.set(None)
        token = self._span_token
        if token is not None:
            try:
                tracer._current_span.reset(token)
            except (ValueError, RuntimeError):
                tracer._current_span.set(None)
        tracer._end_tick(
            self._state,
            self._start_ns,
            end_ns - self._start_ns,
            self._deadline_ns,
            None if exc_type is None or exc_type is GeneratorExit else exc_type.__name__,
        )

    def _opener(self) -> Callable[[], Span]:
        return functools.partial(_NestingTickSpan, self._tracer, self._deadline_ns)


@dataclasses.dataclass(frozen=True)
class TracerStats:
    """Counters of a tracer: what it recorded, kept, dropped and wrote.

    Attributes:
        ticks: Ticks finished.
        ticks_sampled: Ticks chosen by the sampling decision.
        ticks_kept_for_miss: Unsampled ticks whose detail was kept because they missed.
        deadline_misses: Ticks slower than their deadline.
        records_dropped: Span records over ``max_records_per_tick`` in their tick.
        orphan_calls: Spans, guard trips or parallel-symbol counts outside any tick
            (for example in a thread pool without :meth:`Tracer.bind`).
        invalid_calls: Calls with an unusable argument (a NaN ``deadline_ms``, a
            reserved or non-text name, a bad attribute, ...): the call was refused
            (or its default used) and the tick kept, never an exception.
        ticks_after_close: Ticks finished after :meth:`Tracer.close` (not recorded).
        writer: The golden writer's counters (all zero without a writer).
        spans_after_tick: Spans that ended after their tick had ended (in a task that
            outlived its tick): not recorded.
        ticks_after_fork: Ticks finished in a forked child process, where the parent's
            tracer records nothing (see ``docs/tracer.md``, "Fork").
        sink_reports: What each sink could not write when the tracer closed.
    """

    ticks: int
    ticks_sampled: int
    ticks_kept_for_miss: int
    deadline_misses: int
    records_dropped: int
    orphan_calls: int
    invalid_calls: int
    ticks_after_close: int
    writer: WriterStats
    spans_after_tick: int = 0
    ticks_after_fork: int = 0
    sink_reports: tuple[SinkReport, ...] = ()


class _PrometheusSink:
    """The live Prometheus metrics as a :class:`TickSink` (they take every tick)."""

    name = "prometheus"

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self.metrics = metrics
        self.on_tick = metrics.submit

    def on_window(self, window: Sequence[FinishedTick]) -> None:
        return None

    def shutdown(self, timeout_s: float, last_window: Sequence[FinishedTick] = ()) -> SinkReport:
        closer = threading.Thread(
            target=self.metrics.close, name="tracekit-metrics-close", daemon=True
        )
        closer.start()
        closer.join(max(0.0, timeout_s))
        return SinkReport(self.name, timed_out=closer.is_alive())


class Tracer:
    """Records ticks, stage spans, exchange requests and guard trips.

    Args:
        config: Settings; the defaults when omitted. With ``enabled: false`` the
            tracer built is a :class:`NullTracer`.
        clock: Monotonic clock in ns (inject a :class:`tracekit.trace.clock.VirtualClock`
            in tests and simulations).
        wall_anchor_ns: Wall-clock ns since the epoch that corresponds to the clock's
            reading at construction; the current time when omitted.
        run_id: Overrides ``config.run_id``.
        run_metadata: Extra or replacement Parquet key-value metadata for every file
            (the simulator sets a fixed host and pid so its output is reproducible).
        metrics_registry: A ``prometheus_client.CollectorRegistry`` to register the
            live metrics in (with ``config.metrics``); a new one when omitted.
        sinks: More consumers of finished ticks, beside the golden writer and the
            Prometheus feed the config asks for.

    The tracer is a context manager; :meth:`close` also runs at interpreter exit.
    """

    # Slots: the hot path reads a few attributes per call, and slot reads stay fast
    # however many attributes the tracer has.
    __slots__ = (
        "__weakref__",
        "_attribute_span_cls",
        "_clock",
        "_closed",
        "_current",
        "_current_get",
        "_current_span",
        "_deadline_misses",
        "_deadline_ns",
        "_decide",
        "_forked",
        "_interval",
        "_invalid_calls",
        "_keep_missed",
        "_labels",
        "_late_spans",
        "_lock",
        "_orphan_calls",
        "_records_dropped",
        "_request_span_cls",
        "_sampler",
        "_sink_reports",
        "_sinks",
        "_span_cls",
        "_stage_span_cls",
        "_tick_ids",
        "_tick_sinks",
        "_tick_span_cls",
        "_ticks",
        "_ticks_after_close",
        "_ticks_after_fork",
        "_ticks_kept_for_miss",
        "_ticks_sampled",
        "_wall_offset_ns",
        "_window",
        "_window_sinks",
        "_writer",
        "config",
        "enabled",
        "metrics",
        "metrics_port",
        "run_id",
        "sample_seed",
    )

    def __new__(
        cls,
        config: TraceConfig | None = None,
        *,
        clock: ClockNs | None = None,
        wall_anchor_ns: int | None = None,
        run_id: str | None = None,
        run_metadata: Mapping[str, str] | None = None,
        metrics_registry: CollectorRegistry | None = None,
        sinks: Sequence[TickSink] = (),
    ) -> Tracer:
        if cls is Tracer and config is not None and not config.enabled:
            return object.__new__(NullTracer)
        return object.__new__(cls)

    def __init__(
        self,
        config: TraceConfig | None = None,
        *,
        clock: ClockNs | None = None,
        wall_anchor_ns: int | None = None,
        run_id: str | None = None,
        run_metadata: Mapping[str, str] | None = None,
        metrics_registry: CollectorRegistry | None = None,
        sinks: Sequence[TickSink] = (),
    ) -> None:
        self.config = config if config is not None else TraceConfig()
        if run_id is not None:  # checked like the config's own run_id
            self.config = dataclasses.replace(self.config, run_id=run_id)
        self._clock: ClockNs = clock if clock is not None else monotonic_ns
        self._current: contextvars.ContextVar[_TickState | None] = contextvars.ContextVar(
            f"tracekit_tick_{id(self)}", default=None
        )
        self._current_get = self._current.get  # bound once: the hot path calls it
        self.enabled = self.config.enabled
        anchor_mono_ns = self._clock()
        anchor_wall_ns = wall_anchor_ns if wall_anchor_ns is not None else time.time_ns()
        self._wall_offset_ns = anchor_wall_ns - anchor_mono_ns
        self.run_id = self.config.run_id or _default_run_id(anchor_wall_ns)
        seed = self.config.sample_seed
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        self.sample_seed = seed
        self._lock = threading.Lock()
        self._window: list[FinishedTick] = []
        self._ticks = 0
        self._ticks_sampled = 0
        self._ticks_kept_for_miss = 0
        self._deadline_misses = 0
        self._records_dropped = 0
        self._late_spans = [0]
        self._orphan_calls = 0
        self._invalid_calls = 0
        self._ticks_after_close = 0
        self._ticks_after_fork = 0
        self._closed = False
        self._forked = False
        self._sink_reports: tuple[SinkReport, ...] = ()
        self.metrics: PrometheusMetrics | None = None
        self.metrics_port: int | None = None
        self._writer: GoldenWriter | None = None
        self._sinks: tuple[TickSink, ...] = ()
        if not self.enabled:  # a subclass that chose to run disabled
            return
        self._sampler = Sampler(self.config.sample_rate, seed)
        self._decide = self._sampler.decide
        self._keep_missed = self.config.keep_missed_detail
        self._deadline_ns = round(self.config.deadline_ms * 1_000_000)
        # Ids and parents (record_parents) come from other span and tick classes,
        # chosen once here: the default classes have no branch for them.
        self._current_span: contextvars.ContextVar[int | None] = contextvars.ContextVar(
            f"tracekit_span_{id(self)}", default=None
        )
        nesting = self.config.record_parents
        self._tick_span_cls: type[_TickSpan] = _NestingTickSpan if nesting else _TickSpan
        spans = _span_type(
            self,
            self._clock,
            self.config.max_records_per_tick,
            self._current_span if nesting else None,
        )
        self._span_cls = spans.plain
        self._stage_span_cls = spans.stage
        self._request_span_cls = spans.request
        self._attribute_span_cls = spans.with_attributes
        self._labels: set[str] = set()  # names and symbols seen valid (never tick_total)
        self._tick_ids = itertools.count(1)
        built: list[TickSink] = []
        if self.config.metrics:
            built.append(_PrometheusSink(self._start_metrics(metrics_registry)))
        if self.config.export_golden:
            output = self.config.output_dir
            self._writer = GoldenWriter(
                output if is_object_url(output) else Path(output),
                self.run_id,
                {**self._run_metadata(), **(run_metadata or {})},
                self._wall_offset_ns,
                self.config.max_queue_windows,
                s3_endpoint_url=self.config.s3_endpoint_url,
                s3_region=self.config.s3_region,
                at_exit=self.close,
            )
            # A resumed run continues its tick numbering, so (run_id, tick_id) stays unique.
            self._tick_ids = itertools.count(self._writer.last_tick_id + 1)
            built.append(self._writer)
            if not _in_running_event_loop():
                # Nothing runs yet: let the writer thread's imports hold the GIL now,
                # not in the loop's first ticks (inside a running loop: don't block it).
                self._writer.wait_ready(WRITER_READY_WAIT_S)
        self._sinks = (*built, *sinks)
        # The golden writer takes whole windows: calling its empty on_tick every tick
        # would cost a Python call per tick for nothing.
        self._tick_sinks = tuple(sink.on_tick for sink in self._sinks if sink is not self._writer)
        # Likewise the Prometheus feed takes ticks one by one, never windows.
        self._window_sinks = tuple(
            sink.on_window for sink in self._sinks if not isinstance(sink, _PrometheusSink)
        )
        self._interval = self.config.golden_trace_interval
        atexit.register(self.close)
        _LIVE_TRACERS.add(self)

    def _start_metrics(self, registry: CollectorRegistry | None) -> PrometheusMetrics:
        from tracekit.trace.sinks.prometheus import PrometheusMetrics

        metrics = PrometheusMetrics.from_config(self.config, registry, self._health)
        self.metrics = metrics
        if self.config.metrics_port is not None:
            try:
                self.metrics_port = metrics.serve(
                    self.config.metrics_port, self.config.metrics_addr
                )
            except OSError as error:
                metrics.close()
                address = f"{self.config.metrics_addr}:{self.config.metrics_port}"
                raise ConfigError(
                    f"trace.metrics_port: cannot serve metrics on {address} "
                    f"({error.strerror or error}); choose a free port, or 0 for any"
                ) from None
        return metrics

    # -- the traced program's API -------------------------------------------------

    def tick(self, deadline_ms: float | None = None) -> Span:
        """One tick: measures ``tick_total`` and the deadline.

        A context manager (``with`` / ``async with``), or a decorator: each call of the
        decorated function is one tick.

        Args:
            deadline_ms: This tick's deadline; ``config.deadline_ms`` when omitted.
        """
        if deadline_ms is None:
            return self._tick_span_cls(self, self._deadline_ns)
        if (
            not isinstance(deadline_ms, int | float)
            or isinstance(deadline_ms, bool)
            or not 0 < deadline_ms < 1e12
        ):
            self._invalid_calls += 1  # never raise into the loop: use the configured deadline
            return self._tick_span_cls(self, self._deadline_ns)
        return self._tick_span_cls(self, round(deadline_ms * 1_000_000))

    def stage(
        self, name: str, symbol: str | None = None, attributes: Attributes | None = None
    ) -> Span:
        """One stage of the current tick, optionally per symbol.

        A context manager (``with`` / ``async with``), or a decorator: each call of the
        decorated function is one stage span of the tick it is called in.

        Args:
            name: The stage's name: text, 1-200 characters, not ``tick_total``
                (checked here; an invalid name is refused and counted).
            symbol: The symbol the stage works on, if any (text; checked by the
                golden writer, off the loop: see ``WriterStats.labels_repaired``).
            attributes: A few named values to record with the span (at most 8; keys
                are identifiers, values text, whole numbers, finite floats or bools).
        """
        state = self._current_get()
        if state is None:
            return _UnboundSpan(self, schema.KIND_STAGE, name, symbol, None, attributes)
        if not state.measuring:
            return NULL_SPAN
        try:
            if name not in self._labels and not self._check_labels(name, None, None):
                return NULL_SPAN
        except TypeError:  # unhashable: certainly not a name
            self._invalid_calls += 1
            return NULL_SPAN
        if attributes is not None:
            checked = self._check_attributes(attributes)
            if checked is not None:
                return self._attribute_span_cls(
                    state, schema.KIND_STAGE, name, symbol, None, checked
                )
        return self._stage_span_cls(state, name, symbol)

    def request(
        self,
        verb: str,
        api: str,
        symbol: str | None = None,
        attributes: Attributes | None = None,
    ) -> Span:
        """One exchange API request (``verb`` such as POST, ``api`` such as place_order).

        Used like :meth:`stage`; the names follow the same rules.
        """
        state = self._current_get()
        if state is None:
            return _UnboundSpan(self, schema.KIND_REQUEST, api, symbol, verb, attributes)
        state.request_count += 1
        if not state.measuring:
            return NULL_SPAN
        labels = self._labels
        try:
            if (api not in labels or verb not in labels) and not self._check_labels(
                api, None, verb
            ):
                return NULL_SPAN
        except TypeError:  # unhashable: certainly not a name
            self._invalid_calls += 1
            return NULL_SPAN
        if attributes is not None:
            checked = self._check_attributes(attributes)
            if checked is not None:
                return self._attribute_span_cls(
                    state, schema.KIND_REQUEST, api, symbol, verb, checked
                )
        return self._request_span_cls(state, api, symbol, verb)

    def guard_trip(self, reason: str, symbol: str | None = None) -> None:
        """Record that a risk guard tripped (always kept, sampled or not)."""
        state = self._current_get()
        if state is None:
            self._count_orphan()
            return
        if not self._check_labels(reason, symbol, None):
            return
        state.guard_trips += 1
        if state.open:
            state.guards.append((reason, symbol, self._clock()))

    def set_parallel_symbols(self, count: int) -> None:
        """Record how many symbols the current tick processes concurrently (a whole
        number from 0 to 2**31 - 1; anything else is counted as invalid)."""
        state = self._current_get()
        if state is None:
            self._count_orphan()
            return
        if type(count) is not int or not 0 <= count <= MAX_PARALLEL_SYMBOLS:
            self._invalid_calls += 1
            return
        state.parallel_symbols = count

    def current_tick_id(self) -> int | None:
        """The id of the tick the caller is in, or None outside any tick."""
        state = self._current_get()
        return None if state is None else state.tick_id

    def bind(self, func: Callable[P, R]) -> Callable[P, R]:
        """Carry the caller's tick into another thread.

        ``pool.submit(tracer.bind(work), x)`` or
        ``loop.run_in_executor(None, tracer.bind(work), x)``: ``work`` then runs in a
        copy of the caller's context, so its spans belong to the caller's tick (without
        it they are orphans, counted in ``stats().orphan_calls``). ``asyncio.to_thread``
        does this by itself. With ``record_parents``, the span current where ``bind``
        is called is the parent of the spans ``work`` opens.
        """
        context = contextvars.copy_context()

        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return context.copy().run(func, *args, **kwargs)

        return functools.wraps(func)(run)

    # -- life cycle ----------------------------------------------------------------

    def close(self, timeout_s: float | None = None) -> tuple[SinkReport, ...]:
        """Write the last, partial window and stop the sinks. Safe to call twice.

        Waits at most ``timeout_s`` seconds in all (``config.close_timeout_s`` when
        omitted; also at interpreter exit). What could not be written by then is
        counted (``stats().writer.windows_abandoned``) and returned, one report per sink.
        """
        with self._lock:
            if self._closed:
                return self._sink_reports
            self._closed = True
            window, self._window = self._window, []
        atexit.unregister(self.close)
        if self._forked:  # the sinks' threads belong to the parent process
            return ()
        budget_s = self.config.close_timeout_s if timeout_s is None else timeout_s
        give_up_at = time.monotonic() + max(0.0, budget_s)
        reports = []
        for sink in self._sinks:
            try:
                reports.append(sink.shutdown(max(0.0, give_up_at - time.monotonic()), window))
            except Exception as error:  # a sink must not make close() raise
                logger.error("tracekit: sink %s failed to shut down: %s", sink.name, error)
                reports.append(SinkReport(sink.name, timed_out=True))
        for report in reports:
            if report.timed_out or report.windows_abandoned:
                logger.warning(
                    "tracekit: sink %s did not finish within %.1f s; abandoned %d window(s), "
                    "%d tick(s)",
                    report.sink,
                    budget_s,
                    report.windows_abandoned,
                    report.ticks_abandoned,
                )
        with self._lock:
            self._sink_reports = tuple(reports)
        return self._sink_reports

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> TracerStats:
        """A snapshot of the tracer's counters."""
        with self._lock:
            return TracerStats(
                ticks=self._ticks,
                ticks_sampled=self._ticks_sampled,
                ticks_kept_for_miss=self._ticks_kept_for_miss,
                deadline_misses=self._deadline_misses,
                records_dropped=self._records_dropped,
                orphan_calls=self._orphan_calls,
                invalid_calls=self._invalid_calls,
                ticks_after_close=self._ticks_after_close,
                writer=self._writer.stats() if self._writer is not None else WriterStats(),
                spans_after_tick=self._late_spans[0],
                ticks_after_fork=self._ticks_after_fork,
                sink_reports=self._sink_reports,
            )

    @property
    def output_folder(self) -> Path | None:
        """The folder this run's golden files go to, or None when none are written."""
        return self._writer.folder if self._writer is not None else None

    def to_wall_ns(self, clock_ns: int) -> int:
        """Turn a reading of the tracer's clock into wall-clock ns since the epoch."""
        return clock_ns + self._wall_offset_ns

    # -- internals -----------------------------------------------------------------

    def _count_orphan(self) -> None:
        self._orphan_calls += 1

    def _check_labels(self, name: object, symbol: object, verb: object) -> bool:
        """True when the names may be recorded (and remembers them); otherwise counts
        an invalid call."""
        if (
            not _valid_name(name)
            or (symbol is not None and not _valid_text(symbol))
            or (verb is not None and not _valid_name(verb))
        ):
            self._invalid_calls += 1
            return False
        if len(self._labels) < _MAX_CACHED_LABELS:
            for label in (name, symbol, verb):
                if label is not None and label not in RESERVED_NAMES:
                    self._labels.add(cast(str, label))
        return True

    def _check_attributes(self, attributes: object) -> Attributes | None:
        """A private copy of valid attributes; None (and an invalid call) otherwise."""
        if not isinstance(attributes, Mapping) or not 0 < len(attributes) <= MAX_ATTRIBUTES:
            self._invalid_calls += 1
            return None
        checked: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            if not (
                _valid_text(key)
                and len(key) <= MAX_ATTRIBUTE_KEY_CHARS
                and key.isidentifier()
                and _valid_attribute_value(value)
            ):
                self._invalid_calls += 1
                return None
            checked[key] = value
        return checked

    def _after_fork_in_child(self) -> None:
        # The writer and metrics threads did not survive the fork, and a lock held by one
        # of them would stay held: the child's copy records nothing and never waits.
        self._lock = threading.Lock()
        self._forked = True
        self._closed = True
        self._window = []
        self._sinks = ()
        self._tick_sinks = ()
        self._window_sinks = ()

    def _end_tick(
        self,
        state: _TickState,
        start_ns: int,
        duration_ns: int,
        deadline_ns: int,
        error_type: str | None,
    ) -> None:
        state.open = False
        if state.cancelled is not None:
            _resolve_cancelled(state)
        missed = duration_ns > deadline_ns
        sampled = state.sampled
        kept_for_miss = not sampled and missed and state.measuring
        finished = None
        if self._sinks:
            if sampled:
                detail, spans, attributes = _DETAIL_SAMPLED, state.spans, state.attributes
            elif kept_for_miss:
                detail, spans, attributes = _DETAIL_MISS, state.spans, state.attributes
            else:
                detail, spans, attributes = _DETAIL_NONE, [], None
            finished = FinishedTick(
                state.tick_id,
                start_ns,
                duration_ns,
                deadline_ns,
                missed,
                error_type,
                state.parallel_symbols,
                state.guard_trips,
                state.request_count,
                detail,
                spans,
                state.guards,
                attributes,
            )
        full: list[FinishedTick] | None = None
        with self._lock:
            if self._closed:
                if self._forked:
                    self._ticks_after_fork += 1
                else:
                    self._ticks_after_close += 1
                return
            self._ticks += 1
            self._deadline_misses += missed
            self._ticks_sampled += sampled
            self._ticks_kept_for_miss += kept_for_miss
            self._records_dropped += state.dropped
            if finished is not None and self._window_sinks:
                window = self._window
                window.append(finished)
                if len(window) >= self._interval:
                    full, self._window = window, []
        if finished is not None:
            for on_tick in self._tick_sinks:
                on_tick(finished)
            if full is not None:
                for on_window in self._window_sinks:
                    on_window(full)

    def _health(self) -> tuple[int, int, int]:
        stats = self.stats()
        return (
            stats.records_dropped + stats.spans_after_tick,
            stats.writer.windows_dropped + stats.writer.windows_abandoned,
            stats.writer.write_errors,
        )

    def _run_metadata(self) -> dict[str, str]:
        return {
            schema.META_SCHEMA_VERSION: str(schema.SCHEMA_VERSION),
            schema.META_TRACEKIT_VERSION: __version__,
            schema.META_RUN_ID: self.run_id,
            schema.META_HOST: socket.gethostname(),
            schema.META_PID: str(os.getpid()),
            schema.META_CONFIG: json.dumps(self.config.to_dict(), sort_keys=True),
            schema.META_SAMPLE_RATE: repr(self.config.sample_rate),
            schema.META_SAMPLE_SEED: str(self.sample_seed),
        }


class NullTracer(Tracer):
    """A tracer that records nothing: every call is a no-op with the same signature.

    ``Tracer(TraceConfig(enabled=False))`` builds one: no records, no files, no
    folder, no thread. Its spans are :data:`NULL_SPAN`, and as decorators they return
    the function unchanged.
    """

    def __init__(
        self,
        config: TraceConfig | None = None,
        *,
        clock: ClockNs | None = None,
        wall_anchor_ns: int | None = None,
        run_id: str | None = None,
        run_metadata: Mapping[str, str] | None = None,
        metrics_registry: CollectorRegistry | None = None,
        sinks: Sequence[TickSink] = (),
    ) -> None:
        base = config if config is not None else TraceConfig()
        super().__init__(
            dataclasses.replace(base, enabled=False),
            clock=clock,
            wall_anchor_ns=wall_anchor_ns,
            run_id=run_id,
        )

    def tick(self, deadline_ms: float | None = None) -> Span:
        return NULL_SPAN

    def stage(
        self, name: str, symbol: str | None = None, attributes: Attributes | None = None
    ) -> Span:
        return NULL_SPAN

    def request(
        self,
        verb: str,
        api: str,
        symbol: str | None = None,
        attributes: Attributes | None = None,
    ) -> Span:
        return NULL_SPAN

    def guard_trip(self, reason: str, symbol: str | None = None) -> None:
        return None

    def set_parallel_symbols(self, count: int) -> None:
        return None

    def current_tick_id(self) -> int | None:
        return None

    def bind(self, func: Callable[P, R]) -> Callable[P, R]:
        return func

    def close(self, timeout_s: float | None = None) -> tuple[SinkReport, ...]:
        self._closed = True
        return ()


def _valid_text(value: object) -> bool:
    """Text that every reader can store: a non-empty str without lone surrogates."""
    if type(value) is not str or not 0 < len(value) <= MAX_NAME_CHARS:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_name(value: object) -> bool:
    return _valid_text(value) and value not in RESERVED_NAMES


def _valid_attribute_value(value: object) -> bool:
    kind = type(value)
    if kind is bool:
        return True
    if kind is int:
        return -_INT64_MAX - 1 <= cast(int, value) <= _INT64_MAX
    if kind is float:
        return math.isfinite(cast(float, value))
    if kind is str:
        text = cast(str, value)
        return len(text) <= MAX_ATTRIBUTE_TEXT_CHARS and (text == "" or _valid_text(text))
    return False


_LIVE_TRACERS: weakref.WeakSet[Tracer] = weakref.WeakSet()


def _in_running_event_loop() -> bool:
    """Whether the calling thread runs an asyncio event loop (asyncio not imported: no)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _after_fork_in_child() -> None:
    for tracer in list(_LIVE_TRACERS):
        tracer._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _default_run_id(wall_ns: int) -> str:
    started = datetime.fromtimestamp(wall_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())
    host = host.split(".")[0] or "host"
    # The random suffix keeps two tracers started in the same second apart.
    return f"{started}-{host}-{os.getpid()}-{os.urandom(3).hex()}"
