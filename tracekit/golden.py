"""The background writer of golden traces.

The traced loop hands each finished window (a list of :class:`FinishedTick`) to
:meth:`GoldenWriter.submit`, which never blocks: when the bounded queue is full the
window is dropped and counted. A daemon thread turns windows into Parquet files.

Each file is written to a hidden temporary name in the partition folder, flushed
to disk and renamed into place, so a crash leaves at most a ``.*.tmp`` file that no
reader picks up, never a partial ``*.parquet``. Write errors are counted, logged
and kept in :class:`WriterStats`; they never reach the traced program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tracekit import schema
from tracekit.records import FinishedTick

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


def golden_file_name(window: int) -> str:
    """The file name of window number ``window`` (numbered from 1 within a run)."""
    return f"golden-{window:06d}.parquet"


class GoldenWriter:
    """Writes windows of finished ticks as Parquet files on a background thread.

    Args:
        root: Dataset root; files go to ``root/run_id=<run_id>/``.
        run_id: The run's name.
        metadata: Run-level Parquet key-value metadata added to every file.
        to_wall_ns: Turns a monotonic reading into wall-clock ns since the epoch.
        max_queue_windows: Windows that may wait; beyond that, windows are dropped.
        write_table: Writes a pyarrow table to a path; replaceable in tests to
            simulate I/O failures.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        metadata: dict[str, str],
        to_wall_ns: Callable[[int], int],
        max_queue_windows: int,
        write_table: Callable[[Any, Path], None] | None = None,
    ) -> None:
        self.folder = root / f"{schema.PARTITION_KEY}={run_id}"
        self._run_id = run_id
        self._metadata = metadata
        self._to_wall_ns = to_wall_ns
        self._write_table = write_table or _write_parquet
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue_windows)
        self._lock = threading.Lock()
        self._window_seq = _last_window(self.folder)
        self._files_written = 0
        self._rows_written = 0
        self._windows_dropped = 0
        self._write_errors = 0
        self._last_error: str | None = None
        self._closed = False
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
            self._to_wall_ns,
            {
                **self._metadata,
                schema.META_WINDOW: str(seq),
                schema.META_TICKS: str(len(window)),
            },
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / golden_file_name(seq)
        temporary = self.folder / f".{final.name}.{os.getpid()}.tmp"
        try:
            self._write_table(table, temporary)
            _fsync_file(temporary)
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_dir(self.folder)
        return int(table.num_rows)


def _last_window(folder: Path) -> int:
    """The highest window number already in ``folder``, so a resumed run appends."""
    numbers = [0]
    with contextlib.suppress(OSError):
        for path in folder.glob("golden-*.parquet"):
            with contextlib.suppress(ValueError):
                numbers.append(int(path.stem.removeprefix("golden-")))
    return max(numbers)


def window_table(
    run_id: str,
    window: Sequence[FinishedTick],
    to_wall_ns: Callable[[int], int],
    metadata: dict[str, str],
) -> Any:
    """Build the schema-v1 pyarrow table of one window."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in schema.COLUMN_NAMES}
    append = {name: columns[name].append for name in schema.COLUMN_NAMES}

    def row(
        tick: FinishedTick,
        kind: str,
        name: str,
        symbol: str | None,
        verb: str | None,
        error_type: str | None,
        start_ns: int,
        duration_ns: int | None,
        tick_row: bool,
    ) -> None:
        append["run_id"](run_id)
        append["tick_id"](tick.tick_id)
        append["kind"](kind)
        append["name"](name)
        append["symbol"](symbol)
        append["verb"](verb)
        append["status"](schema.STATUS_OK if error_type is None else schema.STATUS_ERROR)
        append["error_type"](error_type)
        append["start_unix_ns"](to_wall_ns(start_ns))
        append["duration_ns"](duration_ns)
        append["deadline_ns"](tick.deadline_ns if tick_row else None)
        append["deadline_missed"](tick.deadline_missed if tick_row else None)
        append["parallel_symbols"](tick.parallel_symbols if tick_row else None)
        append["guard_trips"](tick.guard_trips if tick_row else None)
        append["request_count"](tick.request_count if tick_row else None)
        append["detail"](tick.detail)

    for tick in window:
        row(
            tick,
            schema.KIND_TICK,
            schema.TICK_TOTAL,
            None,
            None,
            tick.error_type,
            tick.start_ns,
            tick.duration_ns,
            True,
        )
        for kind, name, symbol, verb, error_type, start_ns, duration_ns in tick.spans:
            row(tick, kind, name, symbol, verb, error_type, start_ns, duration_ns, False)
        for reason, symbol, at_ns in tick.guards:
            row(tick, schema.KIND_GUARD, reason, symbol, None, None, at_ns, None, False)

    arrow_schema = schema.arrow_schema(metadata)
    return pa.Table.from_pydict(columns, schema=arrow_schema)


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=list(schema.DICTIONARY_COLUMNS),
    )


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
