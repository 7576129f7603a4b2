"""The one exception hierarchy of tracekit.

Every error that tracekit raises on purpose derives from :class:`TracekitError`.
The CLI catches that class in one place, prints ``Error: <message>`` on one line
and exits with :attr:`TracekitError.exit_code`. Messages name the file or key at
fault and say what to do about it.
"""

from __future__ import annotations


class TracekitError(Exception):
    """Base class of every error tracekit raises on purpose."""

    exit_code = 2


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
