"""Reading one top-level section of a YAML config file.

Shared by the tracer's :class:`~tracekit.trace.config.TraceConfig` (``trace:``), the
gate's policy (``gate:``) and the canary's policy (``canary:``). PyYAML is imported
only when a file is read, so the tracer stays standard-library-only at import.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any, Final

from tracekit.errors import ConfigError, InputError
from tracekit.fileio import read_limited

MAX_CONFIG_BYTES: Final = 1 << 20
"""Largest config file read (1 MiB): a config is a few hundred bytes."""
MAX_CONFIG_ITEMS: Final = 10_000
"""Most values a config may hold once YAML aliases are expanded ("billion laughs":
a few hundred bytes of nested aliases expand to billions of values, and every
later step, an error message included, would pay for each one)."""
MAX_SHOWN_CHARS: Final = 80
"""Most characters of a value an error message echoes (:func:`shown`)."""

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = MAX_SHOWN_CHARS
_SHOWN.maxother = MAX_SHOWN_CHARS
_SHOWN.maxlong = MAX_SHOWN_CHARS
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxset = _SHOWN.maxdict = 8
_SHOWN.maxlevel = 3


def shown(value: object) -> str:
    """``repr(value)`` for an error message: at most :data:`MAX_SHOWN_CHARS`
    characters, ending in ``...`` when cut, and at a cost bounded whatever the value's
    size (a megabyte string, a list of thousands, an integer of thousands of digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length():,} bits>"
    text = _SHOWN.repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return text


KNOWN_SECTIONS: Final = ("trace", "gate", "canary")
"""Top-level sections of a tracekit config file: ``trace:`` for the tracer, ``gate:``
and ``canary:`` for the commands of the same names."""

EXTENSION_PREFIXES: Final = ("x-", "x_")
"""Top-level sections starting with these are yours: tracekit ignores them."""


def load_yaml_section(path: str | Path, section: str) -> dict[str, Any]:
    """Read one top-level section of a YAML config file; a missing section is empty.

    Every section of the file is checked to be one of :data:`KNOWN_SECTIONS` (or
    ``x-...``/``x_...``), whichever section the caller wants, so a misspelled
    ``gates:`` or ``tracer:`` never silently gives every default.

    Raises:
        ConfigError: The file cannot be read, is not YAML, has an unknown section, or
            the section is not a mapping.
    """
    document = load_yaml_document(path, section)
    check_sections(document, path)
    return section_of(document, path, section)


def check_sections(document: dict[str, Any], path: str | Path) -> None:
    """Raise ConfigError naming the first top-level section of ``document`` that is
    neither known nor an extension, with the known name it is most likely a
    misspelling of."""
    for name in document:
        if name in KNOWN_SECTIONS or (
            isinstance(name, str) and name.startswith(EXTENSION_PREFIXES)
        ):
            continue
        text = key_text(name)
        close = difflib.get_close_matches(text, KNOWN_SECTIONS, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}:'?)" if close else ""
        raise ConfigError(
            f"{path}: unknown section '{text}:'{hint}; "
            f"known sections: {', '.join(KNOWN_SECTIONS)} (and x-... for your own)"
        )


def key_text(key: object) -> str:
    """A key as an error message shows it: text as it is, anything else (a number, a
    list YAML allows as a key) as :func:`shown` does, both at most
    :data:`MAX_SHOWN_CHARS` characters."""
    if not isinstance(key, str):
        return shown(key)
    return key if len(key) <= MAX_SHOWN_CHARS else key[: MAX_SHOWN_CHARS - 3] + "..."


def load_yaml_document(path: str | Path, section: str) -> dict[str, Any]:
    """Read a YAML config file whose top level is a mapping of sections (empty: {});
    ``section`` is the one the caller wants, named in the error message.

    Raises:
        ConfigError: The file cannot be read, is not YAML, or is not a mapping.
    """
    import yaml  # a start-up cost only for those who load a file

    try:
        text = read_limited(Path(path), MAX_CONFIG_BYTES, "config file").decode("utf-8")
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config file as UTF-8") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}; fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    except (ValueError, OverflowError):  # a scalar YAML reads but cannot convert
        raise ConfigError(
            f"{path}: holds a value that looks like a number or a date but is not one "
            "(an integer of more than 4,300 digits, a date such as 2026-13-45); quote it "
            "to make it text, or fix it"
        ) from None
    if _expanded_items(document, MAX_CONFIG_ITEMS) > MAX_CONFIG_ITEMS:
        raise ConfigError(
            f"{path}: holds more than {MAX_CONFIG_ITEMS:,} values once its aliases are "
            "expanded; a config file is a short mapping of keys to values"
        )
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with a '{section}:' section at the top")
    return document


def section_of(document: dict[str, Any], path: str | Path, section: str) -> dict[str, Any]:
    """One top-level section of a document read by :func:`load_yaml_document`.

    Raises:
        ConfigError: The section is not a mapping.
    """
    value = document.get(section, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{section}:' must be a mapping of keys to values")
    return value


def _expanded_items(document: Any, budget: int) -> int:
    """Values in ``document`` counting every alias again, stopping past ``budget``."""
    count = 0
    pending = [document]
    while pending and count <= budget:
        value = pending.pop()
        count += 1
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set):
            pending.extend(value)
    return count
