"""User text on the terminal, config files and output targets under hostile input.

Issue 14: "Hangs and crashes instead of one Error: line" (rich markup and escape
sequences in names, billion laughs, FIFOs as --config, ``--look`` with 30 digits),
"Writes that overwrite what they shouldn't", and the slow table of 10k stages.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import hostile
import polars as pl
import pytest
from cli_helpers import SAMPLES, assert_one_error_line, run_in_process, run_subprocess
from rich.console import Console

import tracekit
from tracekit.cli import one_line
from tracekit.errors import ConfigError, InputError
from tracekit.present.render import sections
from tracekit.present.render.sections import Column, Section, integer, printable, to_rich
from tracekit.yamlfile import MAX_CONFIG_BYTES, load_yaml_section


def plain(renderable: object, width: int = 140) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(renderable)
    return buffer.getvalue()


def test_printable_escapes_control_characters() -> None:
    assert printable("a\x1b[31mred\x1b[0m") == "a\\x1b[31mred\\x1b[0m"
    assert printable("line\nbreak\ttab\x7f\x9b") == "line\\x0abreak\\x09tab\\x7f\\x9b"
    assert printable("\u202eevil\udcff") == "\\u202eevil\\udcff"
    assert printable("BTC-USD [/bold] ≥ █") == "BTC-USD [/bold] ≥ █"


@pytest.mark.parametrize("name", ["[/bold]", "[red]x[/red]", "[link=http://x]y", "a\x1b[2Jb"])
def test_a_stage_name_is_shown_as_text(name: str, tmp_path: Path) -> None:
    hostile.write_window(tmp_path / "run_id=r", 1, hostile.named(name))
    analysis = tracekit.load(tmp_path).analyze()
    text = plain(analysis)
    assert printable(name) in text
    assert "\x1b" not in text
    markdown = analysis.to_markdown()
    assert name in markdown  # Markdown and JSON keep the name exactly


def test_the_cli_table_shows_markup_as_text(tmp_path: Path) -> None:
    hostile.write_window(tmp_path / "run_id=r", 1, hostile.named("[/bold]\x1b]0;owned\x07"))
    result = run_in_process("analyze", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "[/bold]\\x1b]0;owned\\x07" in result.stdout
    assert "\x1b" not in result.stdout


def test_an_error_line_is_one_safe_line() -> None:
    assert one_line("bad\nname\x1b[31m") == "bad name\\x1b[31m"
    long = one_line("x" * 10_000)
    assert len(long) == 2000
    assert long.endswith("…")


def test_an_error_naming_a_file_with_an_escape_is_one_safe_line(tmp_path: Path) -> None:
    bad = tmp_path / "evil\x1b[2J" / "run_id=r"
    bad.mkdir(parents=True)
    (bad / "golden-000001.parquet").write_bytes(b"")
    result = run_in_process("analyze", str(tmp_path))
    line = assert_one_error_line(result, "evil\\x1b[2J")
    assert "\x1b" not in line


def _section(rows: int) -> Section:
    frame = pl.DataFrame({"stage": [f"stage_{i:05d}" for i in range(rows)], "n": list(range(rows))})
    return Section(
        "stages",
        "Stage latency",
        frame,
        (Column("stage", "stage"), Column("n", "n", integer, True)),
        "a note",
    )


def test_the_fast_table_draws_what_rich_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = tracekit.load(SAMPLES / "baseline").analyze(by=["symbol"])
    slow = plain(analysis)
    monkeypatch.setattr(sections, "FAST_TABLE_ROWS", 1)
    assert plain(analysis) == slow


def test_the_fast_table_cuts_text_to_fit_the_width() -> None:
    section = _section(sections.FAST_TABLE_ROWS)
    wide = section.frame.with_columns(pl.col("stage") + "_" + "x" * 200)
    text = plain(to_rich([Section("s", "t", wide, section.columns)]), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" in text


def test_ten_thousand_stages_render_in_seconds() -> None:
    started = time.perf_counter()
    text = plain(to_rich([_section(10_000)]))
    elapsed = time.perf_counter() - started
    assert text.count("stage_") == 10_000
    assert elapsed < 5.0, f"{elapsed:.1f} s for 10,000 rows (rich's Table took over 20 s)"


BILLION_LAUGHS = """
defs:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
trace:
  run_id: *i
"""


def test_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    config = tmp_path / "laughs.yaml"
    config.write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="once its aliases are expanded"):
        load_yaml_section(config, "trace")
    assert time.perf_counter() - started < 2.0
    result = run_in_process("simulate", "-o", str(tmp_path / "t"), "--config", str(config))
    line = assert_one_error_line(result, "laughs.yaml")
    assert len(line) < 300


def test_a_huge_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_text("trace:\n  run_id: x\n" + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml_section(config, "trace")


def test_deep_nesting_in_a_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text("trace: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ConfigError):
        load_yaml_section(config, "trace")


@pytest.mark.slow  # a fresh interpreter per command
@pytest.mark.parametrize(
    "command",
    [
        ("simulate", "-o", "{tmp}/t", "--ticks", "10"),
        ("compare", "{samples}", "{samples}"),
        ("canary", "{samples}", "{samples}"),
    ],
    ids=lambda command: command[0],
)
def test_a_fifo_as_config_never_hangs(command: tuple[str, ...], tmp_path: Path) -> None:
    fifo = hostile.fifo(tmp_path / "config.yaml")
    args = [part.format(tmp=tmp_path, samples=SAMPLES / "baseline") for part in command]
    result = run_subprocess(*args, "--config", str(fifo), timeout=60)
    assert_one_error_line(result, str(fifo), "FIFO")


def test_a_look_with_30_digits_is_a_usage_error() -> None:
    result = run_in_process(
        "canary", str(SAMPLES / "baseline"), str(SAMPLES / "canary"), "--look", "9" * 30
    )
    assert_one_error_line(result, "--look")


@pytest.mark.slow  # a fresh interpreter per command
@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "{samples}", "-o", "{target}"),
        ("profile", "{samples}", "-o", "{target}"),
        ("export", "chrome", "{samples}", "-o", "{target}"),
        ("rules", "-o", "{target}"),
    ],
    ids=lambda command: command[0],
)
def test_an_output_that_is_not_a_regular_file_is_refused(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    target = hostile.fifo(tmp_path / "out.json")
    args = [part.format(samples=SAMPLES / "baseline", target=target) for part in command]
    result = run_subprocess(*args, timeout=60)
    assert_one_error_line(result, str(target), "not a regular file")
    assert target.is_fifo()


def test_a_plot_over_a_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    target.mkdir()
    result = run_in_process(
        "plot", str(SAMPLES / "baseline"), "--kind", "stages", "-o", str(target)
    )
    assert_one_error_line(result, str(target), "a folder")


def test_atomic_write_refuses_a_device(tmp_path: Path) -> None:
    from tracekit.store.parquet import atomic_write

    with pytest.raises(InputError, match="is a device"):
        atomic_write(Path(os.devnull), lambda temporary: temporary.write_text("x"))
    assert not list(Path(os.devnull).parent.glob(".null.*.tmp"))
