"""Footer checks remembered across runs, for files that have not changed since.

Checking a golden file's footer (:func:`~tracekit.store.check.check_file`) takes
about 0.2 ms; over 10,000 window files that is most of what ``tracekit analyze``
spends before it reads a row (``docs/benchmarks.md``, analyze rounds 7 and 10). A golden
file never changes once written (the writer renames it into place whole), so the
answer is kept in a small SQLite database and reused while the file is the same
file: same device, inode, size, modification and status-change times (on local
file systems ``ctime`` cannot be set from user space, and any write, rename or
``touch`` moves it; some network and FUSE file systems report it as the
modification time, which a user can set back: there, a file rewritten in place at
the same size with its old mtime restored would be taken as unchanged).

Only passes are kept, never errors: a bad file is checked, and named, every time.
A file changed less than :data:`SETTLE_NS` before its stats were taken is not kept
(its times may not yet tell two writes apart, git's "racy" rule), nor is anything
on an object store (a listing gives no ctime and no inode). The rule compares the
file's times with this machine's clock: a file server's clock far behind it
weakens it.

The cache is a convenience and never an error: if its folder cannot be written,
its database is locked, corrupt or of another version, the files are checked as
if it were not there. It lives in ``$TRACEKIT_CACHE_DIR`` or
``$XDG_CACHE_HOME/tracekit`` (``~/.cache/tracekit``); ``TRACEKIT_FOOTER_CACHE=0``
turns it off, as does ``tracekit.load(..., footer_cache=False)``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from tracekit._version import __version__
from tracekit.store import schema

FILE_NAME: Final = "footers-v1.sqlite"
SETTLE_NS: Final = 2_000_000_000
"""A file is remembered only once its last change is this old (2 s)."""
MAX_ENTRIES: Final = 250_000
"""Files remembered at most (about 3 KiB each: the metadata, the footer's summary
with it, so at most about 750 MiB); the answers remembered first are dropped
beyond it."""
_TIMEOUT_S: Final = 0.5
_DAMAGED: Final = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_CHUNK: Final = 500  # parameters per query, well below SQLite's limit

Stamp = tuple[int, int, int, int, int]
"""``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of a regular file."""


@functools.cache
def checker() -> str:
    """The rules a remembered answer was found under (tracekit's version, the schema
    version, pyarrow's, which parses the footers): another checks every file again."""
    import pyarrow

    return f"{__version__}/schema-{schema.SCHEMA_VERSION}/pyarrow-{pyarrow.__version__}"


def cache_dir() -> Path:
    """Where the cache lives: ``$TRACEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracekit``,
    else ``~/.cache/tracekit``."""
    chosen = os.environ.get("TRACEKIT_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tracekit"


def enabled() -> bool:
    """False when ``TRACEKIT_FOOTER_CACHE`` is ``0``, ``false``, ``no`` or ``off``."""
    value = os.environ.get("TRACEKIT_FOOTER_CACHE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def _stamp(path: str) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class FooterCache:
    """The remembered footer checks of one run: :meth:`known` first, then
    :meth:`remember` the files checked since.

    Args:
        folder: Where the database lives (see :func:`cache_dir`).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder if folder is not None else cache_dir()) / FILE_NAME
        self._stamps: dict[str, Stamp] = {}
        self._stamped_ns = 0

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=_TIMEOUT_S, isolation_level=None)
        try:
            # No fsync: a cache lost in a crash costs checks; a damaged one is
            # removed by remember() and built again.
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS footers ("
                " path TEXT PRIMARY KEY, stamp TEXT NOT NULL, checker TEXT NOT NULL,"
                " metadata TEXT NOT NULL)"
            )
            yield connection
        finally:
            connection.close()

    def known(self, paths: Sequence[str]) -> dict[str, dict[str, str]]:
        """The tracekit metadata of each of ``paths`` whose check passed before and
        that has not changed since (local regular files only)."""
        self._stamped_ns = time.time_ns()  # before the stats: see remember()
        local = [path for path in paths if "://" not in path]
        for path in local:
            found = _stamp(path)
            if found is not None:
                self._stamps[path] = found
        known: dict[str, dict[str, str]] = {}
        # Any failure is a miss, whatever it is (a locked, corrupt or foreign
        # database, a folder one cannot read, a name the file system refuses).
        try:
            if not self._stamps or not self.path.exists():
                return {}
            with self._connection() as connection:
                names = list(self._stamps)
                for start in range(0, len(names), _CHUNK):
                    chunk = names[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = connection.execute(
                        "SELECT path, stamp, metadata FROM footers "  # the marks are only ?
                        f"WHERE checker = ? AND path IN ({marks})",
                        [checker(), *chunk],
                    ).fetchall()
                    for path, stamp, metadata in rows:
                        if stamp == _text(self._stamps[path]):
                            known[path] = _metadata(metadata)
        except Exception:
            return {}
        return known

    def remember(self, checked: Mapping[str, Mapping[str, str]]) -> None:
        """Keep the metadata of files whose check just passed (those :meth:`known`
        stamped and that had settled when it did: changed :data:`SETTLE_NS` or more
        before their stats were taken, so a later write within the same clock tick
        of the file system cannot leave the stamp unchanged)."""
        settled = self._stamped_ns - SETTLE_NS
        try:
            rows = [
                (path, _text(stamp), checker(), _packed(checked[path]))
                for path, stamp in self._stamps.items()
                if path in checked and max(stamp[3], stamp[4]) < settled
            ]
            if not rows:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as connection:
                connection.execute("BEGIN")
                connection.executemany(
                    "INSERT OR REPLACE INTO footers (path, stamp, checker, metadata) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                # A replaced row gets a new rowid: the lowest were remembered first.
                connection.execute(
                    "DELETE FROM footers WHERE rowid IN (SELECT rowid FROM footers "
                    "ORDER BY rowid LIMIT max(0, (SELECT count(*) FROM footers) - ?))",
                    (MAX_ENTRIES,),
                )
                connection.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            if error.sqlite_errorcode in _DAMAGED:  # not ours, or damaged: start again
                with contextlib.suppress(OSError):
                    self.path.unlink()
        except Exception:  # a cache that cannot be written is no cache, never an error
            return


def _text(stamp: Stamp) -> str:
    return " ".join(str(part) for part in stamp)


def _packed(metadata: Mapping[str, str]) -> str:
    # As JSON text: compressing it (zlib, level 1) saved a third of the bytes for
    # twice the time of remember() (0.38 s more at 10,000 files).
    return json.dumps(dict(metadata))


def _metadata(packed: str) -> dict[str, str]:
    value = json.loads(packed)  # from _packed(): text to text
    if type(value) is not dict or not all(type(item) is str for item in value.values()):
        raise ValueError("not a metadata mapping")
    return value
