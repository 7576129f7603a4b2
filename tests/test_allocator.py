"""The command line's allocator settings: applied on glibc, a no-op elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tracekit.cli import allocator


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_glibc_takes_the_settings() -> None:
    assert allocator.keep_freed_memory() is True


def test_elsewhere_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_importing_the_library_leaves_the_allocator_alone() -> None:
    # Only the command line's main() sets it: a program importing tracekit (and the
    # tracer inside it) keeps its own allocator.
    code = (
        "import sys, tracekit, tracekit.trace, tracekit.analysis.traceset;"
        "print('tracekit.cli.allocator' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_user_s_own_malloc_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator.keep_freed_memory() is False


def test_without_ctypes_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ctypes", None)  # import ctypes raises ImportError
    assert allocator.keep_freed_memory() is False
