"""Versioned JSON documents (profiles, canary state): one reader, one writer.

Every document carries ``"format"`` and ``"version"``. The reader refuses a file
that is not the expected format, names what to do about another version, and
turns every way a JSON file can be hostile (not UTF-8, ``NaN``/``Infinity``,
numbers that overflow, nesting deep enough to exhaust the stack, a file far too
large) into one :class:`~tracekit.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

from tracekit.errors import InputError

MAX_DOCUMENT_BYTES: Final = 512 * 1024 * 1024
"""A profile of a month of a bot is a few MB; anything past this is not a document."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def read_document(
    path: Path, kind: str, versions: Collection[int], what: str, advice: str
) -> dict[str, Any]:
    """Read a versioned JSON document.

    Args:
        path: The file.
        kind: The expected ``"format"`` value.
        versions: The versions this tracekit reads.
        what: What the document is, for messages ("profile").
        advice: How to make a valid one, for messages.

    Returns:
        The document, with ``version`` one of ``versions``.

    Raises:
        InputError: Unreadable, not JSON, not this format or not a readable version.
    """
    from tracekit.fileio import read_limited

    raw = read_limited(path, MAX_DOCUMENT_BYTES, f"the {what}")
    try:
        document = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; is it a {what}? {advice}") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}); is it a {what}? {advice}"
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(f"{path}: not a valid {what} ({reason}); {advice}") from None
    if not isinstance(document, dict) or document.get("format") != kind:
        raise InputError(f'{path}: not a tracekit {what} (no "format": "{kind}"); {advice}')
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in versions:
        newest = max(versions)
        newer = isinstance(version, int) and not isinstance(version, bool) and version > newest
        what_to_do = "upgrade tracekit" if newer else advice
        shown = repr(version)[:20]
        raise InputError(
            f"{path}: {what} version {shown} is not supported (this tracekit reads "
            f"version {', '.join(map(str, sorted(versions)))}); {what_to_do}"
        )
    return document


def write_document(path: Path, document: dict[str, Any], what: str, *, compact: bool) -> None:
    """Write a JSON document atomically (a temporary file renamed into place).

    Raises:
        InputError: The file cannot be written, or ``path`` exists and is not a
            regular file (a device or a folder is never replaced).
    """
    from tracekit.store.parquet import atomic_write  # refuses a target that is not a file

    text = (
        json.dumps(document, separators=(",", ":"))
        if compact
        else json.dumps(document, indent=2, allow_nan=False)
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda temporary: temporary.write_text(text + "\n", encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot write the {what} ({exc.strerror})") from None
