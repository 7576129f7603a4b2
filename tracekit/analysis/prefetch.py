"""Work on a sequence of items done ahead on background threads, in order.

:func:`prefetched` is how analyze overlaps reading and reducing batches (pyarrow,
polars and most of numpy run without the GIL) and how footers on an object store
are checked several at a time (each one a round trip).
"""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched(
    items: Sequence[T], read: Callable[[T], R], *, ahead: int = 1
) -> Generator[R, None, None]:
    """``read(item)`` of each item in turn, the next ``ahead`` items read on
    background threads while the caller works on the current one (at most
    ``ahead + 1`` results are held).

    Two ahead pays where a batch is many small files: opening a file is
    latency more than work, and two scans overlap it (``docs/benchmarks.md``,
    analyze round 6: 10,000 files of 640 rows analysed in 3.7-3.9 s instead of
    4.5 s, for 10 MiB more).

    An error raised by ``read`` is raised here, at the item it belongs to.
    """
    if len(items) <= 1:
        for item in items:
            yield read(item)
        return
    with concurrent.futures.ThreadPoolExecutor(ahead, thread_name_prefix="tracekit-read") as pool:
        pending = collections.deque(pool.submit(read, item) for item in items[:ahead])
        try:
            for item in items[ahead:]:
                current = pending.popleft().result()
                pending.append(pool.submit(read, item))
                yield current
                del current
            while pending:
                yield pending.popleft().result()
        finally:  # stopped early (an error, or the caller's): start nothing more
            for future in pending:
                future.cancel()
