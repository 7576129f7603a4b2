"""The one exception hierarchy of tracekit.

Every error that tracekit raises on purpose derives from :class:`TracekitError`.
The CLI catches that class in one place, prints ``Error: <message>`` on one line
and exits with :attr:`TracekitError.exit_code`. Messages name the file or key at
fault and say what to do about it.

Messages speak Python: a parameter of the library call is quoted in backticks,
``pass `skip_bad=True` `` or ``widen `runs`, `since` or `until` ``
(:func:`parameter`). :attr:`TracekitError.parameters` lists the parameters a message
names, and the command line says its own option instead (``--skip-bad``; the map
from parameter to option is in :mod:`tracekit.cli`).
"""

from __future__ import annotations

import re

PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`\s]+))?`")
"""A parameter named in a message: `` `name` `` or `` `name=value` ``."""


def parameter(name: str, value: object = None) -> str:
    """How a message names a parameter of a library call: `` `name` `` or `` `name=value` ``."""
    return f"`{name}`" if value is None else f"`{name}={value!r}`"


class TracekitError(Exception):
    """Base class of every error tracekit raises on purpose."""

    exit_code = 2

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters of the library call the message names, in order."""
        return tuple(match[1] for match in PARAMETER.finditer(str(self)))


class ConfigError(TracekitError):
    """A configuration file or value is invalid."""


class InputError(TracekitError):
    """A trace, profile or other input cannot be used as given."""


class SchemaError(InputError):
    """A Parquet file is not a tracekit golden trace of a supported schema version."""


class EmptyDataError(InputError):
    """The selection holds no data to analyse."""


class ExportTooLargeError(InputError):
    """The export would be larger than its size limit; narrow the selection."""


class ClockError(TracekitError, ValueError):
    """A virtual clock was asked to go backwards (also a ``ValueError``)."""
