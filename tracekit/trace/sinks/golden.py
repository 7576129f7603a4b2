"""The background writer of golden traces: a :class:`~tracekit.trace.records.TickSink`.

The traced loop hands each finished window (a list of :class:`FinishedTick`) to
:meth:`GoldenWriter.on_window` (also :meth:`GoldenWriter.submit`), which never
blocks: when the bounded queue is full the window is dropped and counted. A daemon
thread imports pyarrow and turns windows into Parquet files.

The writer never holds the GIL for long: its work is cut into units of tens of
microseconds of CPU (gathering a few hundred span records, converting one column of a
slice of at most :data:`SLICE_ROWS` rows, freeing a few hundred records or one
column), and the thread
lets the traced loop run once a step has used :data:`STEP_BUDGET_NS` of CPU
(:class:`StepClock` cuts and times the steps, ``bench/bench_loop_stall.py`` measures
the loop's stalls). Slices are joined, the file written and synced, by pyarrow and the
OS without the GIL. Each slice becomes one record batch, so the writer leaves the
cyclic garbage collector few objects to track and seldom triggers a collection.

Each file is written under a temporary name in a hidden folder *beside* the dataset
root (``<parent>/.<root name>.tracekit-tmp/``, same file system), flushed to disk
and renamed into place, so a crash leaves at most a ``*.tmp`` file outside the
dataset, and no reader (``pl.scan_parquet('<root>/')``, DuckDB's ``**/*.parquet``)
ever sees a partial file. Write errors are counted, logged and kept in
:class:`WriterStats`; they never reach the traced program.

A root written ``s3://bucket/prefix`` is an object store (``docs/object-store.md``):
each window is encoded in memory and sent as one finished object (a PUT), so a
reader sees it whole or not at all and no temporary object exists. A failed PUT is
retried by the writer thread only, :data:`PUT_ATTEMPTS` times with a doubling
backoff; a window that still fails is counted in ``write_errors`` and the writer
moves on, so later windows are written once the store is back.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tracekit.store import location, parquet, schema
from tracekit.store.parquet import (
    fsync_dir,
    fsync_file,
    parquet_writer,
    put_object,
    write_parquet,
)
from tracekit.store.summary import prepare_summaries, summarized
from tracekit.trace.records import Attributes, FinishedTick, SinkReport

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger("tracekit")

SLICE_ROWS: Final = 256
"""Rows the writer gathers and converts to Arrow as one record batch (a slice), and
records it frees, per unit of work."""
SLICE_PAUSE_S: Final = 0.00005
"""How long the writer sleeps between steps: long enough for a waiting thread to take
the GIL (``time.sleep(0)`` returns before the waiting thread wakes)."""
TEMP_SUFFIX: Final = ".tmp"
PUT_ATTEMPTS: Final = 4
"""Attempts to send one window to an object store before it is counted as lost."""
PUT_BACKOFF_S: Final = 0.25
"""Wait after the first failed attempt; doubled after each further one (0.25, 0.5, 1 s)."""

WriteTable = Callable[["pa.Table", Path], None]

_Item = tuple[str, int, Sequence[FinishedTick]]
"""A queued item: ("window", window number, ticks), or ("stop", 0, ()) to finish."""
_STOP: Final[_Item] = ("stop", 0, ())


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
        windows_abandoned: Windows still queued or being written when ``shutdown``
            ran out of time (a hung disk, say).
        ticks_abandoned: Ticks in dropped and abandoned windows.
        labels_repaired: Span symbols that were not storable text (an int, a lone
            surrogate): written as their text, with U+FFFD for what cannot be stored.
        write_retries: Attempts repeated after a failed PUT to an object store (a
            window written on its second attempt counts one).
    """

    files_written: int = 0
    rows_written: int = 0
    windows_dropped: int = 0
    write_errors: int = 0
    last_error: str | None = None
    queue_depth: int = 0
    windows_abandoned: int = 0
    ticks_abandoned: int = 0
    labels_repaired: int = 0
    write_retries: int = 0


class GoldenWriter:
    """Writes windows of finished ticks as Parquet files on a background thread.

    Args:
        root: Dataset root; files go to ``root/run_id=<run_id>/``. A text
            ``s3://bucket/prefix`` is on an object store.
        run_id: The run's name.
        metadata: Run-level Parquet key-value metadata added to every file.
        wall_offset_ns: Added to a monotonic reading to give wall-clock ns since the epoch.
        max_queue_windows: Windows that may wait; beyond that, windows are dropped.
        write_table: Writes a pyarrow table to a path; replaceable in tests to
            simulate I/O failures.
        on_step: Told the CPU ns and wall ns of each step of the writer thread (see
            :class:`StepClock`), on that thread; for benchmarks and tests.
        s3_endpoint_url: The object store's endpoint, before the AWS settings.
        s3_region: The object store's region, before the AWS settings.
        at_exit: What closes the writer's owner (the tracer's ``close``); run at
            interpreter exit before pyarrow shuts its S3 client down, so the last
            window still reaches the object store.

    Building one imports nothing third-party in the caller's thread: pyarrow is
    imported by the writer thread, and a resumed run's last tick id is read from the
    files' footers with the standard library.
    """

    name = "golden"

    def __init__(
        self,
        root: Path | str,
        run_id: str,
        metadata: dict[str, str],
        wall_offset_ns: int,
        max_queue_windows: int,
        write_table: WriteTable | None = None,
        on_step: Callable[[int, int], None] | None = None,
        *,
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
        at_exit: Callable[[], object] | None = None,
    ) -> None:
        partition = f"{schema.PARTITION_KEY}={run_id}"
        self._remote = (
            location.parse_object_url(root).child(partition)
            if isinstance(root, str) and location.is_object_url(root)
            else None
        )
        self._store = (s3_endpoint_url, s3_region)
        self._at_exit = at_exit
        self._filesystem: object | None = None
        self._settings: location.StoreSettings | None = None
        self._write_retries = 0
        root = Path(root) if self._remote is None else Path(self._remote.path)
        self.location = str(self._remote) if self._remote is not None else str(root / partition)
        """Where this run's files go: a folder, or an ``s3://`` prefix."""
        self.folder = root / partition if self._remote is None else Path(self._remote.path)
        self._root = root
        self._run_id = run_id
        self._metadata = metadata
        self._wall_offset_ns = wall_offset_ns
        self._write_table = write_table
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue_windows)
        self._lock = threading.Lock()
        # A run on an object store is not resumed: its default run id is unique.
        self._window_seq, self.last_tick_id = (
            _resume_point(self.folder) if self._remote is None else (0, 0)
        )
        self._files_written = 0
        self._rows_written = 0
        self._windows_dropped = 0
        self._write_errors = 0
        self._last_error: str | None = None
        self._windows_abandoned = 0
        self._ticks_abandoned = 0
        self._labels_repaired = 0
        self._in_flight: int | None = None
        """Ticks in the window being written."""
        self._steps = StepClock(_pause, on_step)
        self._temp_folder: Path | None = None
        self._closed = False
        self._ready = threading.Event()
        """Set once the writer thread has imported what it writes with."""
        self._summaries = True
        """Whether windows get their summary (numpy, which they need, may be absent)."""
        self._thread = threading.Thread(target=self._run, name="tracekit-golden", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` for the writer thread to import pyarrow (and what
        summaries use): an import holds the GIL for tens of milliseconds at a time,
        which a program can take before its loop starts rather than in its first ticks."""
        return self._ready.wait(timeout_s)

    # -- the sink protocol -----------------------------------------------------------

    def on_tick(self, tick: FinishedTick) -> None:
        """Nothing per tick: the golden writer takes whole windows."""
        return None

    def on_window(self, window: Sequence[FinishedTick]) -> None:
        """Queue a window for writing without blocking (see :meth:`submit`)."""
        self.submit(window)

    def submit(self, window: Sequence[FinishedTick]) -> bool:
        """Queue a window for writing without blocking; False when it was dropped."""
        with self._lock:
            if self._closed:
                self._windows_dropped += 1
                self._ticks_abandoned += len(window)
                return False
            self._window_seq += 1
            item = ("window", self._window_seq, window)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._windows_dropped += 1
                self._ticks_abandoned += len(window)
            return False
        return True

    def shutdown(self, timeout_s: float, last_window: Sequence[FinishedTick] = ()) -> SinkReport:
        """Queue ``last_window`` (waiting for room if need be), write what is queued and
        stop the thread, all within ``timeout_s`` seconds. What is still queued or
        being written then is abandoned, counted, and reported."""
        give_up_at = time.monotonic() + max(0.0, timeout_s)
        with self._lock:
            if self._closed:
                return SinkReport(self.name)
            if last_window:
                self._window_seq += 1
                final: _Item | None = (
                    "window",
                    self._window_seq,
                    last_window,
                )
            else:
                final = None
            self._closed = True
        abandoned_windows = 0
        abandoned_ticks = 0
        if final is not None:
            try:
                self._queue.put(final, timeout=max(0.0, give_up_at - time.monotonic()))
            except queue.Full:
                abandoned_windows += 1
                abandoned_ticks += len(last_window)
        stop_queued = True
        try:
            self._queue.put(_STOP, timeout=max(0.0, give_up_at - time.monotonic()))
        except queue.Full:
            stop_queued = False
        self._thread.join(max(0.0, give_up_at - time.monotonic()))
        timed_out = self._thread.is_alive()
        if timed_out:
            while True:  # abandon what is still queued, so the thread finds the stop sign
                try:
                    _kind, _seq, window = self._queue.get_nowait()
                except queue.Empty:
                    break
                if _kind != "stop":
                    abandoned_windows += 1
                    abandoned_ticks += len(window)
            with self._lock:
                in_flight = self._in_flight
            if in_flight is not None:
                abandoned_windows += 1
                abandoned_ticks += in_flight
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
        elif not stop_queued:  # cannot happen: the thread only ends on the stop sign
            timed_out = True
        with self._lock:
            self._windows_abandoned += abandoned_windows
            self._ticks_abandoned += abandoned_ticks
        if not timed_out:
            self._remove_temp_folder()
        return SinkReport(self.name, abandoned_windows, abandoned_ticks, timed_out)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread (waits up to ``timeout_s``)."""
        report = self.shutdown(timeout_s)
        if report.timed_out:
            logger.warning(
                "tracekit: golden writer did not finish within %.1f s; abandoned %d window(s)",
                timeout_s,
                report.windows_abandoned,
            )

    @property
    def longest_step_ns(self) -> int:
        """CPU time of the longest step the writer thread ran holding the GIL, in ns
        (see :class:`StepClock`): about how long it may have kept the traced loop
        waiting. A timing, so not in :class:`WriterStats` (whose counters are the
        same on every run of the same program)."""
        return self._steps.longest_ns

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
                windows_abandoned=self._windows_abandoned,
                ticks_abandoned=self._ticks_abandoned,
                labels_repaired=self._labels_repaired,
                write_retries=self._write_retries,
            )

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            import pyarrow.parquet  # noqa: F401  # here, off the caller's thread
        except ImportError as exc:  # reported per window below
            logger.error("tracekit: the golden writer needs pyarrow: %s", exc)
        # and the summaries' kernels, before the first window; without numpy (a lean
        # install) windows are written without summaries: compact adds them
        self._summaries = prepare_summaries()
        self._ready.set()
        steps = self._steps
        if self._remote is not None:
            _close_before_s3_finalized(self._at_exit or self.close)
        while True:
            kind, seq, window = self._queue.get()
            steps.restart()
            if kind == "stop":
                self._remove_temp_folder()  # also after a shutdown that timed out
                if self._filesystem is not None:
                    self._filesystem = None
                    _finalize_s3_if_exiting()
                return
            # The writer's own list of the ticks, so that it can free them a few at a
            # time (release_ticks) once written; the caller's list is left alone.
            ticks = list(window)
            del window
            with self._lock:
                self._in_flight = len(ticks)
            try:
                rows = self._write_window(seq, ticks)
            except Exception as exc:  # the writer must never die or raise into the loop
                logger.error("tracekit: cannot write golden window %d: %s", seq, exc)
                with self._lock:
                    self._write_errors += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    self._in_flight = None
            else:
                with self._lock:
                    self._files_written += 1
                    self._rows_written += rows
                    self._in_flight = None
            release_ticks(ticks, steps)
            steps.end()

    def _write_window(self, seq: int, window: list[FinishedTick]) -> int:
        steps = self._steps
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
            repaired=self._count_repaired,
            clock=steps,
        )
        if self._summaries:  # kernels without the GIL, short steps
            table = summarized(table, steps.gil_released)
        rows = int(table.num_rows)
        columns = table.columns
        steps.pause_if_due()
        if self._remote is not None:
            self._put_window(table, self._remote.child(schema.window_file_name(seq)))
        else:
            self._write_file(table, seq)
        del table  # the columns now hold the window's buffers: freed a few at a time
        release_columns(columns, steps)
        return rows

    def _write_file(self, table: pa.Table, seq: int) -> None:
        steps = self._steps
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / schema.window_file_name(seq)
        temporary = self._temporary_path(final)
        try:
            self._encode(table, temporary, self._write_table or write_parquet)
            with steps.gil_released():  # the OS syncs and renames without the GIL
                fsync_file(temporary)
                os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        with steps.gil_released():
            fsync_dir(final.parent)

    def _encode(self, table: pa.Table, where: Path | pa.NativeFile, write: WriteTable) -> None:
        """Write ``table`` as golden Parquet to ``where`` (a file or an in-memory
        stream) with ``write``. With tracekit's own :func:`write_parquet`, the file is
        created without the GIL (the OS's work: 0.2 ms of system time), pyarrow's
        writer is set up in a step of its own (its Python holds the GIL) and closed
        in the step that follows, and the table is encoded, compressed and written
        without the GIL; another ``write`` (a test's) is one call counted as
        GIL-released."""
        import pyarrow as pa

        steps = self._steps
        if write is not parquet.write_parquet:
            with steps.gil_released():
                write(table, where)
            return
        opened = None
        if isinstance(where, Path):
            with steps.gil_released():
                opened = pa.OSFile(str(where), "wb")
        try:
            steps.pause_if_due()
            writer = parquet_writer(opened if opened is not None else where, table.schema)
            try:
                with steps.gil_released():
                    writer.write_table(table)
            finally:
                writer.close()  # the footer
        finally:
            if opened is not None:
                with steps.gil_released():
                    opened.close()

    def _put_window(self, table: pa.Table, target: location.ObjectUrl) -> None:
        """Encode the window in memory, then send it as one object, retrying a failed
        PUT with a doubling backoff; the last failure is raised (and counted)."""
        import pyarrow as pa

        steps = self._steps
        sink = pa.BufferOutputStream()
        self._encode(table, sink, write_parquet)
        data = sink.getvalue()
        wait_s = PUT_BACKOFF_S
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                if self._filesystem is None:
                    self._settings = location.resolve_settings(*self._store)
                    self._filesystem = location.s3_filesystem(self._settings, writer=True)
                with steps.gil_released():  # pyarrow sends without the GIL
                    put_object(self._filesystem, target.path, data)
                return
            except Exception as exc:
                if attempt == PUT_ATTEMPTS:
                    raise location.store_error(str(target), exc, self._settings) from None
                logger.warning(
                    "tracekit: PUT %s failed (attempt %d of %d), retrying in %.2f s",
                    target,
                    attempt,
                    PUT_ATTEMPTS,
                    wait_s,
                )
                with self._lock:
                    self._write_retries += 1
                with steps.gil_released():
                    time.sleep(wait_s)
                wait_s *= 2

    def _count_repaired(self, count: int) -> None:
        with self._lock:
            self._labels_repaired += count

    def _temporary_path(self, final: Path) -> Path:
        if self._temp_folder is None:
            self._temp_folder = temp_folder(self._root, self.folder)
        name = f"{self._run_id}.{final.stem}.{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}"
        return self._temp_folder / name

    def _remove_temp_folder(self) -> None:
        if self._temp_folder is not None:
            with contextlib.suppress(OSError):
                self._temp_folder.rmdir()  # only when empty: another writer may use it


_EXIT_CLOSERS: list[Callable[[], object]] = []
_EXIT_LOCK = threading.Lock()
_EXIT_HOOK_RAN = threading.Event()


def _close_before_s3_finalized(close: Callable[[], object]) -> None:
    """Have ``close`` run at interpreter exit before pyarrow shuts its S3 client down.

    pyarrow registers that shutdown at exit when ``pyarrow.fs`` is first imported,
    which for a tracer is after its own ``close`` was registered: the shutdown would
    run first and the last window could not be sent. A hook registered after it runs
    before it, and closes every remote writer's owner.
    """
    import pyarrow.fs  # noqa: F401  # registers pyarrow's shutdown first

    with _EXIT_LOCK:
        first = not _EXIT_CLOSERS
        _EXIT_CLOSERS.append(close)
        if first:
            atexit.register(_close_remote_writers)


def _close_remote_writers() -> None:
    _EXIT_HOOK_RAN.set()
    with _EXIT_LOCK:
        closers = list(_EXIT_CLOSERS)
    for close in closers:
        try:
            close()
        except Exception as exc:  # at exit: log and go on to the next one
            logger.error("tracekit: closing a golden writer at exit failed: %s", exc)


def _finalize_s3_if_exiting() -> None:
    """When the interpreter exits before the hook above was registered (a writer
    thread still starting), nothing would shut S3 down: the writer does it last."""
    if threading.main_thread().is_alive() or _EXIT_HOOK_RAN.is_set():
        return
    with contextlib.suppress(Exception):
        import pyarrow.fs as pafs

        pafs.ensure_s3_finalized()


def temp_folder(root: Path, folder: Path) -> Path:
    """Where the writer puts files being written: a hidden folder beside the dataset
    root, so no reader of the root sees them; inside the run folder (hidden, with a
    non-``.parquet`` suffix) only when the root's parent is another file system or
    cannot be written."""
    absolute = Path(os.path.abspath(root))
    beside = absolute.parent / f".{absolute.name or 'traces'}.tracekit-tmp"
    try:
        beside.mkdir(exist_ok=True)
        if os.stat(beside).st_dev == os.stat(folder).st_dev:
            return beside
        with contextlib.suppress(OSError):
            beside.rmdir()
    except OSError:
        pass
    inside = folder / ".tracekit-tmp"
    inside.mkdir(exist_ok=True)
    return inside


def _pause() -> None:
    time.sleep(SLICE_PAUSE_S)


def _resume_point(folder: Path) -> tuple[int, int]:
    """The highest window number already in ``folder`` and the last tick id it holds,
    so a resumed run appends windows and continues its tick numbering. Reads only
    the footers' key-value metadata, with the standard library."""
    numbered: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for path in folder.glob(schema.GOLDEN_FILE_GLOB):
            windows = schema.file_windows(path.name)  # golden-N, or golden-A-B once compacted
            if windows is not None:
                numbered.append((windows[1], path))
    if not numbered:
        return 0, 0
    last_tick = 0
    key = schema.META_LAST_TICK.encode()
    for _, path in numbered:
        metadata = read_footer_metadata(path) or {}
        with contextlib.suppress(ValueError):  # an unreadable file only loses its hint
            last_tick = max(last_tick, int(metadata.get(key, b"0")))
    return max(number for number, _ in numbered), last_tick


# -- reading a Parquet footer's key-value metadata without pyarrow ------------------------

_MAX_FOOTER_BYTES: Final = 64 * 1024 * 1024


def read_footer_metadata(path: Path) -> dict[bytes, bytes] | None:
    """The key-value metadata of a Parquet file's footer, or None when the file is
    not a complete Parquet file. Standard library only (the footer is Thrift's
    compact protocol; this reads ``FileMetaData.key_value_metadata``, field 5)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size < 12:
                return None
            handle.seek(size - 8)
            tail = handle.read(8)
            if tail[4:] != b"PAR1":
                return None
            length = int.from_bytes(tail[:4], "little")
            if length <= 0 or length > min(size - 12, _MAX_FOOTER_BYTES):
                return None
            handle.seek(size - 8 - length)
            footer = handle.read(length)
    except OSError:
        return None
    try:
        return _CompactReader(footer).file_key_values()
    except (IndexError, ValueError, RecursionError):
        return None


class _CompactReader:
    """Just enough of Thrift's compact protocol to skip to a struct's field."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def file_key_values(self) -> dict[bytes, bytes]:
        values: dict[bytes, bytes] = {}
        for field_id, kind in self._fields():
            if field_id == 5 and kind == 9:  # list<KeyValue>
                size, element = self._list_header()
                for _ in range(size):
                    if element != 12:
                        raise ValueError("key_value_metadata is not a list of structs")
                    key, value = b"", b""
                    for kv_id, kv_kind in self._fields():
                        if kv_id == 1 and kv_kind == 8:
                            key = self._binary()
                        elif kv_id == 2 and kv_kind == 8:
                            value = self._binary()
                        else:
                            self._skip(kv_kind)
                    values[key] = value
            else:
                self._skip(kind)
        return values

    def _byte(self) -> int:
        value = self._data[self._at]
        self._at += 1
        return value

    def _varint(self) -> int:
        shift = 0
        result = 0
        while True:
            byte = self._byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def _binary(self) -> bytes:
        length = self._varint()
        if self._at + length > len(self._data):
            raise ValueError("binary past the end")
        value = self._data[self._at : self._at + length]
        self._at += length
        return value

    def _fields(self) -> Iterator[tuple[int, int]]:
        last = 0
        while True:
            header = self._byte()
            if header == 0:  # stop
                return
            kind = header & 0x0F
            delta = header >> 4
            if delta:
                field_id = last + delta
            else:
                raw = self._varint()
                field_id = (raw >> 1) ^ -(raw & 1)
            last = field_id
            yield field_id, kind

    def _list_header(self) -> tuple[int, int]:
        header = self._byte()
        size = header >> 4
        if size == 15:
            size = self._varint()
        return size, header & 0x0F

    def _skip(self, kind: int, depth: int = 0) -> None:
        if depth > 64:
            raise ValueError("nested too deep")
        if kind in (1, 2):  # a bool field: the value is in the header
            return
        if kind == 3:
            self._at += 1
        elif kind in (4, 5, 6):
            self._varint()
        elif kind == 7:
            self._at += 8
        elif kind == 8:
            self._binary()
        elif kind in (9, 10):
            size, element = self._list_header()
            for _ in range(size):
                self._skip_element(element, depth + 1)
        elif kind == 11:
            size = self._varint()
            if size:
                types = self._byte()
                for _ in range(size):
                    self._skip_element(types >> 4, depth + 1)
                    self._skip_element(types & 0x0F, depth + 1)
        elif kind == 12:
            for _, field_kind in self._fields():
                self._skip(field_kind, depth + 1)
        else:
            raise ValueError(f"unknown compact type {kind}")

    def _skip_element(self, kind: int, depth: int) -> None:
        if kind in (1, 2):  # a bool element is one byte
            self._at += 1
        else:
            self._skip(kind, depth)


# -- the window's table -------------------------------------------------------------------

_COLUMNS_AFTER_RUN_ID: Final = 18
"""tick_id ... parent_span_id: the written columns after ``run_id``, in schema order."""

STEP_BUDGET_NS: Final = 250_000
"""CPU a step may run before the writer pauses at its next check (``StepClock.due``).
The checks come after every unit of work, each well under 0.1 ms: gathering at most
:data:`GATHER_ROWS` records, converting one column of a slice, freeing one batch or
:data:`SLICE_ROWS` records, so a step ends soon after the budget (0.26 ms at the
median, 0.41 ms at p99 on the shared 2-CPU VM); the 1 ms goal leaves room for a
slower CPU. A smaller budget does not make steps above 1 ms rarer there (they are
units the machine stretches) and costs CPU: 0.1 ms took 17 % more."""


class StepClock:
    """Cuts the writer thread's work into steps and times them.

    A *step* is the CPU time (``time.thread_time_ns``) the writer thread runs holding
    the GIL between two points where the traced loop can take it: a pause
    (:meth:`pause`, a short sleep) or a call that releases the GIL (in
    :meth:`gil_released`: pyarrow's concatenation and Parquet write, file syncs,
    sending to an object store). CPU time, not wall time, so other processes on the
    machine do not count.

    Work is cut into small units with :meth:`pause_if_due` between them: the step
    ends once it has run ``budget_ns``. A computation that releases the GIL for its
    work (pyarrow's compute kernels, a polars lazy query's ``collect``) goes in
    :meth:`gil_released`; only the Python around it counts in the steps.

    Args:
        pause: Lets the loop run (the writer sleeps :data:`SLICE_PAUSE_S`); None to
            only time the steps.
        on_step: Told each step's CPU ns and wall ns as it ends (benchmarks and
            tests): a step much longer in wall time than in CPU time was descheduled
            by the OS (or, past the 5 ms switch interval, made to let the loop in).
        budget_ns: CPU after which :meth:`due` is true.
    """

    def __init__(
        self,
        pause: Callable[[], None] | None = None,
        on_step: Callable[[int, int], None] | None = None,
        budget_ns: int = STEP_BUDGET_NS,
    ) -> None:
        self._pause = pause
        self._on_step = on_step
        self._budget_ns = budget_ns
        self._began = time.thread_time_ns()
        self._began_wall = time.perf_counter_ns()
        self.longest_ns = 0
        """The longest step so far, in CPU ns."""

    def restart(self) -> None:
        """Start a step now (after the thread waited, holding no GIL)."""
        self._began = time.thread_time_ns()
        if self._on_step is not None:
            self._began_wall = time.perf_counter_ns()

    def end(self) -> None:
        """End the current step (the thread is about to release the GIL)."""
        step = time.thread_time_ns() - self._began
        self.longest_ns = max(self.longest_ns, step)
        if self._on_step is not None:
            self._on_step(step, time.perf_counter_ns() - self._began_wall)

    def due(self) -> bool:
        """True when the current step has run its budget of CPU."""
        return time.thread_time_ns() - self._began >= self._budget_ns

    def pause(self) -> None:
        """End the step and let the loop take the GIL before the next one."""
        self.end()
        if self._pause is not None:
            self._pause()
        self.restart()

    def pause_if_due(self) -> None:
        """:meth:`pause` when the step has run its budget, else go on with it."""
        if time.thread_time_ns() - self._began >= self._budget_ns:
            self.pause()

    @contextlib.contextmanager
    def gil_released(self) -> Iterator[None]:
        """Around a call that releases the GIL for its work: not part of a step."""
        self.end()
        try:
            yield
        finally:
            self.restart()


_NESTED_RECORD_ITEMS: Final = 9
"""Items of a span record that carries its span id and parent (``record_parents``)."""
GATHER_ROWS: Final = 128
"""Span records gathered into the slice's columns per unit of work (about 40 µs)."""

BLOCK_SLICES: Final = 32
"""Slices joined into one block (one record batch) before the next slice, so the
finished table holds one chunk per column, not one per slice: freeing thousands of
small arrays at once would hold the GIL for milliseconds."""


def window_table(
    run_id: str,
    window: Sequence[FinishedTick],
    wall_offset_ns: int,
    metadata: dict[str, str],
    *,
    pause: Callable[[], None] | None = None,
    repaired: Callable[[int], None] | None = None,
    clock: StepClock | None = None,
) -> pa.Table:
    """Build the schema-v1 pyarrow table of one window, rows in tick order (each tick's
    row, then its spans, then its guard trips).

    This runs on the writer thread, and no single step may hold the GIL for long while
    the traced loop waits for it, so the work is cut into units with a pause between
    slices of at most :data:`SLICE_ROWS` rows, and within a slice whenever the step
    has run its CPU budget (``clock``'s, :data:`STEP_BUDGET_NS`; ``pause`` is called
    at each pause when no ``clock`` is given). Columns are gathered as plain lists,
    column-wise from the span records (``zip`` over at most :data:`GATHER_ROWS` records
    at a time), turned into Arrow arrays one column per unit and into one record batch
    per slice (one object the garbage collector tracks per slice, not one per column);
    every :data:`BLOCK_SLICES` slices pyarrow joins the batches into one, and at the end
    joins those blocks, both without the GIL. A label that is not storable text is
    written repaired (see :func:`_strings`) and counted through ``repaired(count)``.
    """
    import pyarrow as pa

    steps = clock if clock is not None else StepClock(pause)
    arrow_schema = schema.arrow_schema(metadata, added=True)
    fields = list(arrow_schema)
    batches: list[pa.RecordBatch] = []
    blocks: list[pa.RecordBatch] = []
    columns: list[list[object]] = [[] for _ in range(_COLUMNS_AFTER_RUN_ID)]
    (
        tick_ids,
        kinds,
        names,
        symbols,
        verbs,
        statuses,
        error_types,
        starts,
        durations,
        deadlines,
        missed,
        parallel,
        guard_trips,
        request_counts,
        details,
        attribute_texts,
        span_ids,
        parent_ids,
    ) = columns
    tick_only = (deadlines, missed, parallel, guard_trips, request_counts)
    # span_ids and parent_ids stay empty in a slice without recorded parents (the
    # default): _arrays writes an empty column as nulls, at no cost per row. Once a
    # slice has ids they are filled for every row, padded with nulls.
    ids = (span_ids, parent_ids)
    ok = schema.STATUS_OK
    error = schema.STATUS_ERROR

    def join(parts: list[pa.RecordBatch], into: list[pa.RecordBatch]) -> None:
        if len(parts) == 1:
            into.append(parts.pop())
            return
        with steps.gil_released():
            joined = pa.concat_batches(parts)
        into.append(joined)
        while parts:  # the parts' buffers are freed holding the GIL: one part per unit
            parts.pop()
            steps.pause_if_due()

    def flush() -> None:
        arrays = _arrays(run_id, columns, fields, repaired, steps)
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=arrow_schema))
        del arrays
        for column in columns:
            column.clear()
        if len(batches) >= BLOCK_SLICES:
            steps.pause_if_due()
            join(batches, blocks)
        steps.pause_if_due()

    for tick in _in_tick_order(window, steps):
        tick_id = tick.tick_id
        detail = tick.detail
        tick_ids.append(tick_id)
        kinds.append(schema.KIND_TICK)
        names.append(schema.TICK_TOTAL)
        symbols.append(None)
        verbs.append(None)
        statuses.append(ok if tick.error_type is None else error)
        error_types.append(tick.error_type)
        starts.append(tick.start_ns + wall_offset_ns)
        durations.append(tick.duration_ns)
        deadlines.append(tick.deadline_ns)
        missed.append(tick.deadline_missed)
        parallel.append(tick.parallel_symbols)
        guard_trips.append(tick.guard_trips)
        request_counts.append(tick.request_count)
        details.append(detail)
        attribute_texts.append(None)
        if span_ids:
            span_ids.append(None)
            parent_ids.append(None)
        spans = tick.spans
        attributes = tick.span_attributes
        first = 0
        while first < len(spans):
            room = max(1, min(GATHER_ROWS, SLICE_ROWS - len(tick_ids)))
            chunk = spans[first : first + room]
            count = len(chunk)
            gathered = list(zip(*chunk, strict=True))
            (
                chunk_kinds,
                chunk_names,
                chunk_symbols,
                chunk_verbs,
                chunk_errors,
                chunk_starts,
                chunk_durations,
            ) = gathered[:7]
            if len(gathered) == _NESTED_RECORD_ITEMS:  # record_parents: ids at the end
                if not span_ids:  # the slice's first ids: nulls for the rows before
                    for column in ids:
                        column.extend(itertools.repeat(None, len(tick_ids)))
                span_ids.extend(gathered[7])
                parent_ids.extend(gathered[8])
            elif span_ids:
                for column in ids:
                    column.extend(itertools.repeat(None, count))
            del gathered
            del chunk
            tick_ids.extend(itertools.repeat(tick_id, count))
            kinds.extend(chunk_kinds)
            names.extend(chunk_names)
            symbols.extend(chunk_symbols)
            verbs.extend(chunk_verbs)
            statuses.extend([ok if e is None else error for e in chunk_errors])
            error_types.extend(chunk_errors)
            starts.extend([start + wall_offset_ns for start in chunk_starts])
            durations.extend(chunk_durations)
            for column in tick_only:
                column.extend(itertools.repeat(None, count))
            details.extend(itertools.repeat(detail, count))
            if attributes:
                attribute_texts.extend(
                    _attribute_text(attributes.get(index)) for index in range(first, first + count)
                )
            else:
                attribute_texts.extend(itertools.repeat(None, count))
            first += count
            steps.pause_if_due()
            if len(tick_ids) >= SLICE_ROWS:
                flush()
        for reason, symbol, at_ns in tick.guards:
            tick_ids.append(tick_id)
            kinds.append(schema.KIND_GUARD)
            names.append(reason)
            symbols.append(symbol)
            verbs.append(None)
            statuses.append(ok)
            error_types.append(None)
            starts.append(at_ns + wall_offset_ns)
            durations.append(None)
            for column in tick_only:
                column.append(None)
            if span_ids:
                span_ids.append(None)
                parent_ids.append(None)
            details.append(detail)
            attribute_texts.append(None)
            if len(tick_ids) >= SLICE_ROWS:
                flush()
        if len(tick_ids) >= SLICE_ROWS:
            flush()
    if tick_ids or not (batches or blocks):
        flush()
    if batches:
        join(batches, blocks)
    whole: list[pa.RecordBatch] = []
    join(blocks, whole)
    return pa.Table.from_batches(whole, schema=arrow_schema)


def _in_tick_order(window: Sequence[FinishedTick], steps: StepClock) -> list[FinishedTick]:
    """The window's ticks by tick id. They normally come in that order already, which
    is checked :data:`SLICE_ROWS` ticks per unit; only out-of-order ticks (ticks that
    overlapped and finished in another order) are sorted."""
    ticks = list(window)
    previous = None
    for first in range(0, len(ticks), SLICE_ROWS):
        for tick in ticks[first : first + SLICE_ROWS]:
            if previous is not None and tick.tick_id < previous:
                ticks.sort(key=_tick_id)
                steps.pause()
                return ticks
            previous = tick.tick_id
        steps.pause_if_due()
    steps.pause()
    return ticks


def release_ticks(ticks: list[FinishedTick], steps: StepClock) -> None:
    """Drop the writer's references to a written window's ticks a few at a time,
    pausing when a step has run its budget: when the writer holds the last reference,
    freeing a 200,000-span window in one go would hold the GIL for tens of
    milliseconds. A tick's span list that nothing else refers to any more is emptied
    :data:`SLICE_ROWS` records at a time, so one tick of many spans is not freed in
    one step either. Empties ``ticks`` (the writer's own list, never the caller's)."""
    alone = _references_of_a_local()
    while ticks:
        spans = ticks.pop().spans
        # As many references as a list only a local name refers to: the tick was the
        # writer's alone and is gone, so no one else can see the list change.
        if sys.getrefcount(spans) == alone and isinstance(spans, list):
            while spans:
                del spans[-SLICE_ROWS:]
                steps.pause_if_due()
        del spans
        steps.pause_if_due()


def _references_of_a_local() -> int:
    """What ``sys.getrefcount`` tells of a list that only a local name refers to,
    asked the same way :func:`release_ticks` asks it (2 on CPython 3.11: the name and
    the call's argument; an interpreter that borrows references may tell fewer)."""
    alone: list[object] = []
    return sys.getrefcount(alone)


def release_columns(columns: list[pa.ChunkedArray], steps: StepClock) -> None:
    """Free a written table's columns (the table itself already dropped) one at a time,
    pausing when a step has run its budget: a 200,000-row window's buffers are tens of
    megabytes. Empties ``columns``."""
    while columns:
        del columns[-1]
        steps.pause_if_due()


def _attribute_text(values: Attributes | None) -> str | None:
    if values is None:
        return None
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _tick_id(tick: FinishedTick) -> int:
    return tick.tick_id


def _arrays(
    run_id: str,
    columns: Sequence[Sequence[object]],
    fields: Sequence[pa.Field],
    repaired: Callable[[int], None] | None = None,
    steps: StepClock | None = None,
) -> list[pa.Array]:
    """One slice's Arrow arrays, in schema order (``run_id`` first), converted one
    column per unit of work (``steps.pause_if_due`` after each); an empty list
    stands for a column of nulls (span ids when no parents were recorded)."""
    import pyarrow as pa

    count = len(columns[0])
    arrays = [pa.repeat(pa.scalar(run_id, pa.string()), count)]
    for field, values in zip(fields[1:], columns, strict=True):
        if not values:  # a column left empty for a slice without any value: nulls
            arrays.append(pa.nulls(count, type=field.type))
        elif field.type == pa.string():
            arrays.append(_strings(values, repaired))
        else:
            arrays.append(pa.array(values, type=field.type))
        if steps is not None:
            steps.pause_if_due()
    return arrays


def _strings(values: Sequence[object], repaired: Callable[[int], None] | None = None) -> pa.Array:
    """A string column. A label that is not storable text (a symbol passed as an int,
    a lone surrogate) is written as its text, with U+FFFD for what UTF-8 cannot hold,
    rather than costing the whole window; ``repaired`` is told how many."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        fixed: list[str | None] = []
        count = 0
        for value in values:
            if value is None or (type(value) is str and _storable(value)):
                fixed.append(value)
                continue
            count += 1
            text = value if isinstance(value, str) else str(value)
            fixed.append("".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text))
        if repaired is not None and count:
            repaired(count)
        return pa.array(fixed, type=pa.string())


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
