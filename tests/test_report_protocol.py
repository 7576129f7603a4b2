"""One Report protocol, one renderer per format (``tracekit.present.report``); library
messages in Python words with the CLI's options added by the CLI; the canary's look
bound in the library; plots that draw ``$`` in names literally.

Issue 10 (one Report protocol, library messages naming CLI flags, library work in
the CLI) and the leftovers of issue 14 (look bound, mathtext, markup in output).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cli_helpers
import hostile
import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

import tracekit
from tracekit.cli import app, in_options, option_of
from tracekit.decisions import compare, judge_canary
from tracekit.decisions.policy import MAX_LOOK, GatePolicy
from tracekit.errors import InputError, TracekitError, parameter
from tracekit.present.render.sections import Column, Facts, Heading, Section
from tracekit.present.report import (
    Presentable,
    Report,
    ReportFormat,
    csv_text,
    render,
    table_text,
)
from tracekit.sim import SimulationSpec, simulate
from tracekit.trace.config import TraceConfig

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CONTROL = SAMPLES / "canary" / "control"
CANARY = SAMPLES / "canary" / "canary"


def plain(renderable: object, width: int = 140) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(renderable)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One result of each kind: analysis, comparison, canary, simulation."""
    folder = tmp_path_factory.mktemp("sim")
    simulation = simulate(
        SimulationSpec(ticks=200, symbols=2, seed=3), TraceConfig(output_dir=str(folder))
    )
    return {
        "analysis": tracekit.load(SAMPLES / "baseline").analyze(),
        "comparison": compare(SAMPLES / "baseline", SAMPLES / "current"),
        "canary": judge_canary(CONTROL, CANARY, 1),
        "simulation": simulation,
    }


KINDS = ["analysis", "comparison", "canary", "simulation"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_result_is_a_report(reports: dict[str, Any], kind: str) -> None:
    report = reports[kind]
    assert isinstance(report, Report)
    assert isinstance(report, Presentable)
    heading = report.heading()
    assert heading.title
    assert heading.headline
    assert report.sections()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("output_format", list(ReportFormat))
def test_every_format_renders_every_report(
    reports: dict[str, Any], kind: str, output_format: ReportFormat
) -> None:
    report = reports[kind]
    text = render(report, output_format)
    assert text.strip()
    heading = report.heading()
    if output_format is ReportFormat.json:
        assert json.loads(text) == json.loads(json.dumps(report.to_dict()))
        assert text == report.to_json() + "\n"
    elif output_format is ReportFormat.markdown:
        assert text.startswith(f"# {heading.title}\n\n")
        assert text == report.to_markdown()
        for block in report.sections():
            assert f"## {block.title}\n" in text
    elif output_format is ReportFormat.html:
        assert text.startswith("<h4>")
        assert text == report._repr_html_()
        assert text.count("<h5>") == len(report.sections())
    elif output_format is ReportFormat.table:
        assert text == plain(report)  # the file's text is what the terminal shows
        for block in report.sections():
            assert block.title.split(":")[0] in text
    else:
        first = report.tables()[0]
        assert text.splitlines()[0].split(",")[0] in {
            *(first.frame.columns if isinstance(first, Section) else ()),
            "field",
        }


def test_analysis_csv_has_every_table_even_empty_ones(reports: dict[str, Any]) -> None:
    analysis = reports["analysis"]
    shown = {block.name for block in analysis.sections()}
    tables = {block.name for block in analysis.tables()}
    assert shown <= tables
    assert tables == {"stages", "deadline", "attribution", "guards", "requests", "parallel"}
    for name in tables:
        header = csv_text(analysis, name).splitlines()[0]
        frame = next(block.frame for block in analysis.tables() if block.name == name)
        assert header.split(",") == frame.columns


def test_an_unknown_format_or_table_is_an_input_error(reports: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="'yaml' is not one of table, json, markdown, csv, html"):
        render(reports["analysis"], "yaml")
    with pytest.raises(InputError, match="no table 'nope'; tables: stages, deadline"):
        render(reports["analysis"], "csv", table="nope")


class _Custom(Presentable):
    """A report of a user's own: the mixin gives it every rendering."""

    def __init__(self, name: str) -> None:
        self.name = name

    def heading(self) -> Heading:
        return Heading(
            title=f"custom {self.name}", headline=f"<custom> {self.name}", notices=("n<1>",)
        )

    def sections(self) -> list[Section | Facts]:
        frame = pl.DataFrame({"name": [self.name], "n": [3]})
        return [
            Section(
                "rows", "Rows", frame, (Column("name", "name"), Column("n", "n", numeric=True))
            ),
            Facts("facts", f"About {self.name}", (("who", self.name), ("count", "3")), "a note"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "custom", "version": 1, "name": self.name}


def test_facts_and_a_custom_report_render_in_every_format() -> None:
    report = _Custom("x")
    markdown = report.to_markdown()
    assert "## About x\n\n- who: x\n- count: 3\n" in markdown
    assert "- n<1>\n" in markdown
    html = report._repr_html_()
    assert html.startswith("<h4>&lt;custom&gt; x</h4>\n<ul><li>n&lt;1&gt;</li></ul>")
    assert "<tr><th>who</th><td>x</td></tr>" in html
    assert csv_text(report, "facts") == "field,value\nwho,x\ncount,3\n"
    assert csv_text(report) == "name,n\nx,3\n"  # the first block by default
    assert json.loads(report.to_json()) == report.to_dict()
    table = table_text(report)
    assert "About x" in table
    assert "│ count │ 3 │" in table
    assert "a note" in table


@pytest.mark.parametrize("name", ["[bold]x[/bold]", "[/bold]", "a\x1b[2Jb", "ok\x07\nnext"])
def test_markup_and_escapes_in_facts_are_text(name: str) -> None:
    text = plain(_Custom(name))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert name.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("\n", "\\x0a") in text


def test_simulate_table_and_json_come_from_the_library(
    reports: dict[str, Any], tmp_path: Path
) -> None:
    simulation = reports["simulation"]
    [facts] = simulation.sections()
    items = dict(facts.items)
    assert items["ticks"] == "200"
    assert items["written to"] == str(simulation.output_folder)
    document = simulation.to_dict()
    assert list(document) == sorted(document)
    assert list(document["stats"]) == sorted(document["stats"])
    result = CliRunner().invoke(
        app,
        ["simulate", "-o", str(tmp_path / "t"), "--ticks", "200", "--symbols", "2", "--seed", "3"],
        env={"NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    assert f"Simulated run {simulation.run_id}" in result.stdout
    assert "│ ticks           │ 200" in result.stdout


def test_the_gate_policy_is_built_one_way(tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text("gate:\n  p95: 0.10\n  p99: 0.20\n", encoding="utf-8")
    from_file = GatePolicy.load(config, p95=0.05, p99=None, critical=["spread:p95"])
    assert from_file.threshold("tick_total", "p95") == pytest.approx(0.05)  # override wins
    assert from_file.threshold("tick_total", "p99") == pytest.approx(0.20)  # None: the file's
    assert from_file.is_critical("spread", "p95")
    defaults = GatePolicy.load(p95=None)
    assert defaults == GatePolicy()
    assert GatePolicy.load(p95=0.07).threshold("spread", "p95") == pytest.approx(0.07)


def test_profile_summary_is_the_library_s(tmp_path: Path) -> None:
    from tracekit.decisions.sides import load_side

    profile = load_side([str(SAMPLES / "baseline")])
    summary = profile.summary()
    assert summary == (
        f"{profile.total_ticks:,} ticks, {len(profile.runs)} run(s), "
        f"{len(profile.stage_names())} stages"
    )
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["profile", str(SAMPLES / "baseline"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {out}: {summary}\n"


# -- library messages speak Python; the CLI says its options ---------------------------


def test_parameters_in_messages_and_their_options() -> None:
    assert parameter("skip_bad", True) == "`skip_bad=True`"
    assert parameter("since") == "`since`"
    error = InputError("x: corrupt: remove it or pass `skip_bad=True`; widen `runs` or `since`")
    assert error.parameters == ("skip_bad", "runs", "since")
    assert (
        in_options(str(error)) == "x: corrupt: remove it or pass --skip-bad; widen --run or --since"
    )
    assert option_of("max_mb") == "--max-mb"
    assert option_of("symbols") == "--symbol"
    assert in_options("plain text with `code` quoted") == "plain text with --code quoted"
    assert in_options("`slow=3` and a path a`b") == "--slow 3 and a path a`b"


def test_a_corrupt_file_says_skip_bad_in_python_and_skip_bad_on_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "run_id=r" / "golden-000001.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(TracekitError) as raised:
        tracekit.load(tmp_path)
    assert "`skip_bad=True`" in str(raised.value)
    assert "--" not in str(raised.value).replace(str(tmp_path), "")
    assert "skip_bad" in raised.value.parameters
    result = cli_helpers.run_in_process("analyze", str(tmp_path))
    line = cli_helpers.assert_one_error_line(result, "--skip-bad")
    assert "`" not in line


@pytest.mark.parametrize(
    ("call", "python_words"),
    [
        (lambda t: t.select(since="yesterday"), "`since` 'yesterday' is not an ISO 8601 time"),
        (lambda t: t.analyze(every="soon"), "`every` 'soon' is not a positive number"),
        (lambda t: t.last("0s"), "`last` '0s' is not a positive number"),
    ],
)
def test_selection_errors_name_parameters(call: Callable[[Any], Any], python_words: str) -> None:
    traces = tracekit.load(SAMPLES / "baseline")
    with pytest.raises(InputError) as raised:
        call(traces)
    assert str(raised.value).startswith(python_words)


def test_cli_keeps_its_option_words() -> None:
    result = CliRunner().invoke(app, ["analyze", str(SAMPLES / "baseline"), "--every", "soon"])
    assert isinstance(result.exception, InputError)  # CliRunner runs the app, not main()
    assert in_options(str(result.exception)).startswith("--every 'soon' is not a positive number")
    completed = cli_helpers.run_in_process("analyze", str(SAMPLES / "baseline"), "--every", "soon")
    cli_helpers.assert_one_error_line(completed, "--every 'soon' is not a positive number")


# -- the canary bounds its look itself --------------------------------------------------


@pytest.mark.parametrize(
    ("look", "message"),
    [
        (0, "must be 1 or more, got 0"),
        (-(10**40), "must be 1 or more, got a very negative number"),
        (MAX_LOOK + 1, f"must be at most {MAX_LOOK:,}, got {MAX_LOOK + 1}"),
        (10**30, "must be at most 1,000, got a number of 100 bits"),
        (10**5000, "must be at most 1,000, got a number of"),
        (2.5, "must be a whole number, got float"),
        (True, "must be a whole number, got bool"),
    ],
    ids=["zero", "very-negative", "one-too-many", "30-digits", "5000-digits", "float", "bool"],
)
def test_judge_canary_bounds_the_look(look: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        judge_canary(CONTROL, CANARY, 1, look=look)


def test_the_last_look_is_accepted() -> None:
    assert judge_canary(CONTROL, CANARY, 1, look=MAX_LOOK).look == MAX_LOOK


# -- plots draw names with $ as written -------------------------------------------------


@pytest.mark.parametrize("name", [r"x$\frac{$", "cost$usd$", "a$b"])
def test_a_stage_name_with_dollars_is_drawn_literally(name: str, tmp_path: Path) -> None:
    from matplotlib.text import Text

    from tracekit.present.plots import plot_traces, save_figure

    hostile.write_window(tmp_path / "run_id=r", 1, hostile.named(name))
    figure = plot_traces(tracekit.load(tmp_path), "stages")
    path = save_figure(figure, tmp_path / "stages.png")  # a mathtext parse error fails here
    assert path.stat().st_size > 0
    texts = [text for text in figure.findobj(Text) if text.get_text()]
    assert any(name in text.get_text() for text in texts)
    assert all(not text.get_parse_math() for text in texts)


def test_a_wrote_line_escapes_the_user_s_path(tmp_path: Path) -> None:
    out = tmp_path / "evil\x1b[2J.json"
    result = CliRunner().invoke(app, ["profile", str(SAMPLES / "baseline"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "\x1b" not in result.stdout
    assert "evil\\x1b[2J.json" in result.stdout
