"""The exit codes of every command, in one place (documented in ``docs/cli.md``)."""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""Success; PASS or PROMOTE."""
FAIL: Final = 1
"""A REGRESSION or ROLLBACK verdict."""
BAD_INPUT: Final = 2
"""Bad input or usage."""
INCONCLUSIVE: Final = 3
"""INCONCLUSIVE or CONTINUE: not enough evidence yet."""
INTERNAL: Final = 4
"""A bug in tracekit."""
