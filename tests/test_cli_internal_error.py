"""A bug in a command is exit 4 and one line asking for a report, never exit 1."""

from __future__ import annotations

import pytest

import tracekit.cli


def test_an_internal_error_exits_4_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(tracekit.cli, "app", explode)
    monkeypatch.delenv("TRACEKIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        tracekit.cli.main()
    assert exit_info.value.code == tracekit.cli.EXIT_INTERNAL == 4
    assert capsys.readouterr().err == (
        "Error: internal error (RuntimeError: boom); please report it "
        "(TRACEKIT_DEBUG=1 shows the traceback)\n"
    )
