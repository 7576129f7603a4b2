"""Opening only regular files, and writing only where a regular file may go.

A FIFO, a socket or a device named like a trace or a config file would make a
reader block forever (a FIFO with no writer) or read without end (``/dev/zero``),
and a rename over a device node replaces the device. Every input tracekit opens
goes through :func:`open_regular` (or :func:`require_regular` before a library
opens it by name), and every output through :func:`check_output_target`.
Standard library only: the tracer and the config reader use it too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from tracekit.errors import InputError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_regular(
    path: str | Path, what: str = "input", hint: str = "pass a regular file"
) -> os.stat_result:
    """The ``stat`` of ``path`` (symbolic links followed) if it is a regular file.

    Raises:
        InputError: It does not exist, cannot be inspected, or is not a regular file.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        raise InputError(f"{path}: cannot read {what} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{path}: cannot read {what}: it is {_kind(info.st_mode)}, not a regular file; {hint}"
        )
    return info


def open_regular(
    path: str | Path, what: str = "input", hint: str = "pass a regular file"
) -> BinaryIO:
    """Open ``path`` for reading in binary mode, only if it is a regular file.

    The file is opened without blocking (a FIFO with no writer would block ``open``
    itself) and checked again on the open descriptor, so a file swapped for a FIFO
    between the two checks is refused too.

    Raises:
        InputError: It is not a regular file or cannot be opened.
    """
    require_regular(path, what, hint)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise InputError(f"{path}: cannot read {what} ({error.strerror})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{path}: cannot read {what}: it is {_kind(mode)}, not a regular file; {hint}"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_limited(path: str | Path, limit_bytes: int, what: str = "input") -> bytes:
    """The bytes of a regular file of at most ``limit_bytes`` bytes.

    Raises:
        InputError: It is not a regular file, cannot be read, or is larger.
    """
    with open_regular(path, what) as file:
        try:
            data = file.read(limit_bytes + 1)
        except OSError as error:
            raise InputError(f"{path}: cannot read {what} ({error.strerror})") from None
    if len(data) > limit_bytes:
        raise InputError(
            f"{path}: cannot read {what}: it is larger than {limit_bytes:,} bytes; "
            "this is not a file tracekit reads"
        )
    return data


def check_output_target(path: str | Path, what: str = "output") -> None:
    """Refuse to write ``path`` if it exists and is not a regular file.

    A rename or a write over a device node, a FIFO or a socket would replace the
    node or block; a folder cannot be written. A missing target is fine. Symbolic
    links are followed: a link to a regular file is a regular file.

    Raises:
        InputError: ``path`` exists and is not a regular file.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise InputError(f"{path}: cannot write the {what} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{path}: the {what} target is {_kind(info.st_mode)}, not a regular file; "
            "refusing to replace it: choose another file name"
        )
