"""Running the ``tracekit`` command from the tests, and where the bundled samples are.

Two ways, one result type (:class:`CliResult`: exit code, stdout, stderr):

* :func:`run_in_process` calls :func:`tracekit.cli.main`, the entry point itself with its
  error handling and exit codes, with the streams captured by typer's ``CliRunner``.
  No fresh interpreter (and no 0.85 s polars import): use it unless the process
  boundary is what the test is about.
* :func:`run_subprocess` starts ``python -m tracekit`` in a fresh interpreter. Only for
  what needs one: the installed entry point's exit code, signals, startup, FIFOs and
  hangs (a timeout ends them), stderr of a real interpreter holding no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from typer._click import formatting as click_formatting
from typer.testing import CliRunner

import tracekit.cli

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""
SAMPLES = ROOT / "samples"
"""The bundled sample traces (``baseline``, ``current``, ``canary``)."""

OUTPUT_ENV: Mapping[str, str] = {"NO_COLOR": "1", "COLUMNS": "140"}
"""The environment both runners add: no colour, a fixed terminal width."""
HANG_S = 60
"""How long a command may run before it counts as hung."""


@dataclass(frozen=True)
class CliResult:
    """What a ``tracekit`` run left: its exit code and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


class CommandHung(AssertionError):
    """An in-process command ran longer than its timeout."""


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """Fail with :class:`CommandHung` after ``seconds`` (main thread only, else no limit)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM") or not _on_main_thread():
        yield
        return

    def hung(_signum: int, _frame: FrameType | None) -> None:
        raise CommandHung(f"the command ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _on_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_in_process(
    *args: object,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    timeout: int = HANG_S,
) -> CliResult:
    """``tracekit ARGS`` through :func:`tracekit.cli.main` in this interpreter.

    ``env`` overrides :data:`OUTPUT_ENV` and the process environment for the call
    (``None`` unsets a variable); ``input`` is stdin.
    """
    argv = ["tracekit", *(str(arg) for arg in args)]
    saved_argv = sys.argv
    code: int | str | None = 0
    with CliRunner().isolation(input=input, env={**OUTPUT_ENV, **(env or {})}) as streams:
        stdout, stderr, _ = streams
        # CliRunner fixes help at 80 columns; a real terminal's width comes from COLUMNS.
        click_formatting.FORCED_WIDTH = None
        sys.argv = argv
        try:
            with _alarm(timeout):
                tracekit.cli.main()
        except SystemExit as exit_:
            code = exit_.code
        finally:
            sys.argv = saved_argv
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = stdout.getvalue(), stderr.getvalue()
    if isinstance(code, str):  # sys.exit("message"): the message goes to stderr, exit 1
        return CliResult(1, out.decode(), err.decode() + code + "\n")
    return CliResult(code or 0, out.decode(), err.decode())


def tracekit_command(*args: object) -> list[str]:
    """The argv of ``python -m tracekit ARGS`` in this interpreter."""
    return [sys.executable, "-m", "tracekit", *(str(arg) for arg in args)]


def run_subprocess(
    *args: object,
    timeout: float = HANG_S,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CliResult:
    """``python -m tracekit ARGS`` in a fresh interpreter; a hang fails at ``timeout``.

    ``env`` is the whole environment of the child; by default this process's plus
    :data:`OUTPUT_ENV`. Stdin is ``/dev/null``.
    """
    done = subprocess.run(
        tracekit_command(*args),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else {**os.environ, **OUTPUT_ENV},
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def clean_env() -> dict[str, str]:
    """The environment without the variables that change rich's or Python's output."""
    drop = {"NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["TERM"] = "xterm-256color"
    env.pop("PYTHONWARNINGS", None)
    return env


def assert_one_error_line(result: CliResult, *names: str) -> str:
    """Exit 2, no traceback, one ``Error:`` line on stderr holding each of ``names``."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]
