"""Checking the footers of many local files on every core.

A footer check (:func:`~tracekit.store.check.check_file`) is Python more than waiting:
threads only share the GIL (``docs/benchmarks.md``, analyze round 6). When a run has
thousands of local files its footer cache does not know (the first analysis of a
fleet's day), the files are cut into consecutive slices: this process checks the
first, and one worker process per further core checks each of the others, started
as ``python -m tracekit.store.check_workers`` (not with :mod:`multiprocessing`,
which would import the calling program's ``__main__`` again in each worker).

The outcomes come back in the order of the files, so the first bad file is the one
a check in turn would name; once the caller stops reading (an error it raises), the
workers are killed. A worker that cannot start, fails or answers garbled leaves its
files to this process: the outcome is always that of :func:`check_file`.

Protocol: the worker reads a JSON list of paths on standard input and writes one
JSON object per path, in order, on standard output: ``{"ok": {metadata}}`` or
``{"error": "InputError" | "SchemaError", "message": "..."}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import IO, Final

from tracekit.errors import ConfigError, InputError, SchemaError
from tracekit.store.check import check_file

MIN_SLICE: Final = 1_000
"""Files a worker is given at the least: starting one (an interpreter that imports
pyarrow) costs about what checking 1,000 footers does."""
START_FILES: Final = 300
"""Footers this process checks while a worker starts (0.3-0.35 s here)."""
MAX_WORKERS: Final = 15

Outcome = dict[str, str] | InputError
_ERRORS: Final = {"InputError": InputError, "SchemaError": SchemaError}


def usable_cores() -> int:
    """The cores to check footers on: ``TRACEKIT_CHECK_WORKERS`` worker processes
    beside this one when it is a whole number (0: this process alone), else every
    core this process may run on."""
    setting = os.environ.get("TRACEKIT_CHECK_WORKERS", "").strip()
    if setting:
        if not setting.isascii() or not setting.isdigit():
            raise ConfigError(
                f"TRACEKIT_CHECK_WORKERS={setting[:20]!r}: give a whole number of worker "
                "processes (0 checks every footer in this process) or unset it"
            )
        return 1 + int(setting)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def slices(count: int, cores: int) -> list[range]:
    """``count`` files cut into consecutive slices, one per core used (at most
    ``cores``, and 1 + :data:`MAX_WORKERS`), each worker's at least :data:`MIN_SLICE`:
    the first, this process's, is :data:`START_FILES` longer than the others, which
    start later."""
    parts = max(1, min(cores, 1 + MAX_WORKERS, count // MIN_SLICE))
    each = (count - START_FILES) // parts
    if parts == 1 or each < MIN_SLICE:
        return [range(count)]
    first = count - each * (parts - 1)
    return [range(first)] + [
        range(first + each * index, first + each * (index + 1)) for index in range(parts - 1)
    ]


def outcome(path: str) -> Outcome:
    """:func:`check_file`'s metadata, or the error it raised."""
    try:
        return check_file(path)
    except InputError as exc:
        return exc


def checked_in_parallel(
    paths: Sequence[str],
    check: Callable[[str], Outcome] = outcome,
    cores: int | None = None,
) -> Generator[Outcome, None, None]:
    """The outcome of each of ``paths`` (local files), in order: ``check``'s in this
    process (:func:`outcome` by default) and :func:`outcome`'s in the workers, on
    ``cores`` (:func:`usable_cores` by default) when there are enough files."""
    parts = slices(len(paths), usable_cores() if cores is None else cores)
    workers: list[_Worker | None] = []
    try:
        for part in parts[1:]:  # started first: they run while this process checks
            workers.append(_start([paths[index] for index in part]))
        for index in parts[0]:
            yield check(paths[index])
        for part, worker in zip(parts[1:], workers, strict=True):
            yield from _answers(worker, [paths[index] for index in part], check)
    finally:
        for worker in workers:
            if worker is not None:
                _stop(worker)


@dataclasses.dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    given: IO[str]
    """Its standard input: the JSON list of its paths."""
    answers: IO[str]
    """Its standard output: a temporary file, so that it never waits on a full pipe
    while this process checks its own slice."""


def _start(paths: list[str]) -> _Worker | None:
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (package_root, env.get("PYTHONPATH", "")) if part
    )
    # The paths as a file too: writing them to a pipe would wait for the worker to
    # start. Both are closed by _stop, once the answers are read.
    given = tempfile.TemporaryFile("w+", encoding="ascii")  # noqa: SIM115
    answers = tempfile.TemporaryFile("w+", encoding="ascii", errors="replace")  # noqa: SIM115
    try:
        given.write(json.dumps(paths))  # ASCII: odd bytes of names as \udcxx
        given.flush()
        given.seek(0)
        process = subprocess.Popen(
            [sys.executable, "-m", "tracekit.store.check_workers"],
            stdin=given,
            stdout=answers,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except (OSError, ValueError):  # no interpreter to start: this process checks them
        given.close()
        answers.close()
        return None
    return _Worker(process, given, answers)


def _answers(
    worker: _Worker | None, paths: list[str], check: Callable[[str], Outcome]
) -> Generator[Outcome, None, None]:
    """The worker's outcomes for ``paths``, in order; from the first it fails to
    give on, this process's own."""
    lines: Iterator[str] = iter(())
    if worker is not None:
        worker.process.wait()  # what a worker that failed wrote is used up to its failure
        worker.answers.seek(0)
        lines = iter(worker.answers)
    for path in paths:
        answer = _answer(next(lines, ""))
        if answer is None:
            lines = iter(())  # garbled, cut short or never started: check it here
            answer = check(path)
        yield answer


def _answer(line: str) -> Outcome | None:
    try:
        answer = json.loads(line)
        if "ok" in answer:
            metadata = answer["ok"]
            if isinstance(metadata, dict) and all(
                isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
            ):
                return metadata
            return None
        return _ERRORS[answer["error"]](str(answer["message"]))
    except (ValueError, KeyError, TypeError):
        return None


def _stop(worker: _Worker) -> None:
    with contextlib.suppress(OSError):
        worker.process.kill()
    worker.process.wait()
    worker.given.close()
    worker.answers.close()


def main() -> int:
    """The worker: check the paths given on standard input (see the module)."""
    paths = json.load(sys.stdin)
    out = sys.stdout
    for path in paths:
        result = outcome(path)
        answer: dict[str, object] = (
            {"error": type(result).__name__, "message": str(result)}
            if isinstance(result, InputError)
            else {"ok": result}
        )
        out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
