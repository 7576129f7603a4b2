"""The background writer of golden traces.

The traced loop hands each finished window (a list of :class:`FinishedTick`) to
:meth:`GoldenWriter.submit`, which never blocks: when the bounded queue is full the
window is dropped and counted. A daemon thread turns windows into Parquet files.

Each file is written to a hidden temporary name in the partition folder, flushed
to disk and renamed into place (:func:`tracekit.store.parquet.atomic_write`), so a
crash leaves at most a ``.*.tmp`` file that no reader picks up, never a partial
``*.parquet``. Write errors are counted, logged and kept in :class:`WriterStats`;
they never reach the traced program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tracekit.store import schema
from tracekit.store.parquet import atomic_write, write_parquet
from tracekit.trace.records import FinishedTick

logger = logging.getLogger("tracekit")

_STOP = object()


@dataclasses.dataclass(frozen=True)
class WriterStats:
    """Counters of the golden writer.

    Attributes:
        files_written: Golden files renamed into place.
        rows_written: Rows in those files.
        windows_dropped: Windows dropped because the queue was full.
        write_errors: Windows that failed to write (the error was logged).
        last_error: Text of the most recent write error, if any.
        queue_depth: Windows waiting for the writer now.
    """

    files_written: int = 0
    rows_written: int = 0
    windows_dropped: int = 0
    write_errors: int = 0
    last_error: str | None = None
    queue_depth: int = 0


class GoldenWriter:
    """Writes windows of finished ticks as Parquet files on a background thread.

    Args:
        root: Dataset root; files go to ``root/run_id=<run_id>/``.
        run_id: The run's name.
        metadata: Run-level Parquet key-value metadata added to every file.
        wall_offset_ns: Added to a monotonic reading to give wall-clock ns since the epoch.
        max_queue_windows: Windows that may wait; beyond that, windows are dropped.
        write_table: Writes a pyarrow table to a path; replaceable in tests to
            simulate I/O failures.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        metadata: dict[str, str],
        wall_offset_ns: int,
        max_queue_windows: int,
        write_table: Callable[[Any, Path], None] | None = None,
    ) -> None:
        self.folder = root / f"{schema.PARTITION_KEY}={run_id}"
        self._run_id = run_id
        self._metadata = metadata
        self._wall_offset_ns = wall_offset_ns
        self._write_table = write_table or write_parquet
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue_windows)
        self._lock = threading.Lock()
        self._window_seq, self.last_tick_id = _resume_point(self.folder)
        self._files_written = 0
        self._rows_written = 0
        self._windows_dropped = 0
        self._write_errors = 0
        self._last_error: str | None = None
        self._closed = False
        import pyarrow.parquet  # noqa: F401  # imported here, not on the first window mid-loop

        self._thread = threading.Thread(target=self._run, name="tracekit-golden", daemon=True)
        self._thread.start()

    def submit(self, window: list[FinishedTick]) -> bool:
        """Queue a window for writing without blocking; False when it was dropped."""
        with self._lock:
            if self._closed:
                self._windows_dropped += 1
                return False
            self._window_seq += 1
            item = (self._window_seq, window)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._windows_dropped += 1
            return False
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread (waits up to ``timeout_s``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("tracekit: golden writer did not finish within %.1f s", timeout_s)

    def stats(self) -> WriterStats:
        """A snapshot of the writer's counters."""
        with self._lock:
            return WriterStats(
                files_written=self._files_written,
                rows_written=self._rows_written,
                windows_dropped=self._windows_dropped,
                write_errors=self._write_errors,
                last_error=self._last_error,
                queue_depth=self._queue.qsize(),
            )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            seq, window = item
            try:
                rows = self._write_window(seq, window)
            except Exception as exc:  # the writer must never die or raise into the loop
                logger.error("tracekit: cannot write golden window %d: %s", seq, exc)
                with self._lock:
                    self._write_errors += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
            else:
                with self._lock:
                    self._files_written += 1
                    self._rows_written += rows

    def _write_window(self, seq: int, window: Sequence[FinishedTick]) -> int:
        table = window_table(
            self._run_id,
            window,
            self._wall_offset_ns,
            {
                **self._metadata,
                schema.META_WINDOW: str(seq),
                schema.META_TICKS: str(len(window)),
                schema.META_LAST_TICK: str(max((tick.tick_id for tick in window), default=0)),
            },
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / schema.window_file_name(seq)
        atomic_write(final, lambda temporary: self._write_table(table, temporary), durable=True)
        return int(table.num_rows)


def _resume_point(folder: Path) -> tuple[int, int]:
    """The highest window number already in ``folder`` and the last tick id it holds,
    so a resumed run appends windows and continues its tick numbering."""
    import pyarrow.parquet as pq

    numbered: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for path in folder.glob(schema.GOLDEN_FILE_GLOB):
            windows = schema.file_windows(path.name)  # golden-N, or golden-A-B once compacted
            if windows is not None:
                numbered.append((windows[1], path))
    if not numbered:
        return 0, 0
    last_tick = 0
    for _, path in numbered:
        with contextlib.suppress(Exception):  # an unreadable file only loses its hint
            metadata = pq.read_schema(path).metadata or {}
            last_tick = max(last_tick, int(metadata.get(schema.META_LAST_TICK.encode(), b"0")))
    return max(number for number, _ in numbered), last_tick


def window_table(
    run_id: str,
    window: Sequence[FinishedTick],
    wall_offset_ns: int,
    metadata: dict[str, str],
) -> Any:
    """Build the schema-v1 pyarrow table of one window, rows in tick order.

    Columns are built in bulk (``zip``, list comprehensions and Arrow kernels), not
    row by row: this runs on the writer thread, and every millisecond it holds the
    GIL is a millisecond the traced loop waits.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow_schema = schema.arrow_schema(metadata)

    def nulls(count: int, name: str) -> Any:
        return pa.nulls(count, type=arrow_schema.field(name).type)

    def part(count: int, values: dict[str, Any]) -> Any:
        columns = []
        for field in arrow_schema:
            value = values.get(field.name)
            if value is None:
                columns.append(nulls(count, field.name))
            elif isinstance(value, str):
                columns.append(pa.array([value] * count, type=field.type))
            elif field.type == pa.string():
                columns.append(_strings(value))
            else:
                columns.append(pa.array(value, type=field.type))
        return pa.Table.from_arrays(columns, schema=arrow_schema)

    def wall(starts: Sequence[int]) -> Any:
        return pc.add(pa.array(starts, type=pa.int64()), wall_offset_ns)

    def status(error_types: Sequence[str | None]) -> list[str]:
        return [schema.STATUS_OK if e is None else schema.STATUS_ERROR for e in error_types]

    tick_errors = [tick.error_type for tick in window]
    parts = [
        part(
            len(window),
            {
                "run_id": run_id,
                "tick_id": [tick.tick_id for tick in window],
                "kind": schema.KIND_TICK,
                "name": schema.TICK_TOTAL,
                "status": status(tick_errors),
                "error_type": tick_errors,
                "start_unix_ns": wall([tick.start_ns for tick in window]),
                "duration_ns": [tick.duration_ns for tick in window],
                "deadline_ns": [tick.deadline_ns for tick in window],
                "deadline_missed": [tick.deadline_missed for tick in window],
                "parallel_symbols": [tick.parallel_symbols for tick in window],
                "guard_trips": [tick.guard_trips for tick in window],
                "request_count": [tick.request_count for tick in window],
                "detail": [tick.detail for tick in window],
            },
        )
    ]
    spans = [span for tick in window for span in tick.spans]
    if spans:
        kinds, names, symbols, verbs, errors, starts, durations = zip(*spans, strict=True)
        parts.append(
            part(
                len(spans),
                {
                    "run_id": run_id,
                    "tick_id": [tick.tick_id for tick in window for _ in tick.spans],
                    "kind": kinds,
                    "name": names,
                    "symbol": symbols,
                    "verb": verbs,
                    "status": status(errors),
                    "error_type": errors,
                    "start_unix_ns": wall(starts),
                    "duration_ns": durations,
                    "detail": [tick.detail for tick in window for _ in tick.spans],
                },
            )
        )
    guards = [guard for tick in window for guard in tick.guards]
    if guards:
        reasons, guard_symbols, ats = zip(*guards, strict=True)
        parts.append(
            part(
                len(guards),
                {
                    "run_id": run_id,
                    "tick_id": [tick.tick_id for tick in window for _ in tick.guards],
                    "kind": schema.KIND_GUARD,
                    "name": reasons,
                    "symbol": guard_symbols,
                    "status": schema.STATUS_OK,
                    "start_unix_ns": wall(ats),
                    "detail": [tick.detail for tick in window for _ in tick.guards],
                },
            )
        )
    table = pa.concat_tables(parts)
    order = pc.sort_indices(table, sort_keys=[("tick_id", "ascending")])
    return table.take(order)


def _strings(values: Sequence[Any]) -> Any:
    """A string column; a label that is not a str (a symbol passed as an int, say) is
    written as its text rather than costing the whole window."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
