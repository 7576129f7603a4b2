"""A Spark task's failure to read an object, told as tracekit's one-line error.

Standard library only (no pyspark import): the tables and the profile wrap their
Spark jobs in :func:`object_read_errors` whatever they read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from tracekit.errors import InputError, TracekitError

MARK: Final = "tracekit-object-read-error: "
"""What starts the message of an :class:`ObjectReadError`, found again in Spark's."""


class ObjectReadError(RuntimeError):
    """An object a Spark task could not read; its message carries the InputError's."""


@contextlib.contextmanager
def object_read_errors() -> Iterator[None]:
    """Turn a Spark job failed by :class:`ObjectReadError` into its InputError.

    Spark wraps a task's exception in its own (with the Python traceback of the
    task); the message tracekit wrote is found by its mark.
    """
    try:
        yield
    except TracekitError:
        raise
    except Exception as error:
        text = str(error)
        start = text.find(MARK)
        if start < 0:
            raise
        line = text[start + len(MARK) :].splitlines()[0].strip()
        raise InputError(line) from None
