"""``tracekit.present.plots`` and ``tracekit plot``: axes, pixels, every format, no pyplot.

Figures are drawn from the bundled ``samples/`` and inspected as matplotlib objects
(labels, scales, lines at known values, counts that equal the analyze tables), then
written and read back as images. The command is tested through a small typer app
that registers ``plot_command`` the way ``tracekit.cli`` does, and its errors
through ``tracekit.cli.main``, the one place where errors become ``Error: ...``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
from cli_helpers import SAMPLES
from matplotlib.figure import Figure
from matplotlib.image import imread
from typer.testing import CliRunner

import tracekit
from tracekit import cli as cli_module
from tracekit.analysis import TraceSet
from tracekit.cli.plot import ImageFormat, PlotKind, plot_command
from tracekit.decisions.gate import compare_profiles
from tracekit.decisions.policy import GatePolicy
from tracekit.decisions.profile import Profile, profile_from_traces
from tracekit.decisions.result import Comparison
from tracekit.errors import EmptyDataError, InputError
from tracekit.present.plots import (
    PLOT_FORMATS,
    TRACE_KINDS,
    plot_comparison,
    plot_forest,
    plot_stages,
    plot_timeline,
    plot_traces,
    save_figure,
    save_figures,
)
from tracekit.present.plots._style import VERDICT_COLORS
from tracekit.sim.simulator import SimulationSpec, simulate
from tracekit.trace.config import TraceConfig

CURRENT = SAMPLES / "current"
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
DEADLINE_MS = 200.0


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def current() -> TraceSet:
    return tracekit.load(CURRENT)


@pytest.fixture(scope="module")
def figures(current: TraceSet) -> dict[str, Figure]:
    """One figure of each kind, drawn once for the module (tests only read them)."""
    return {kind: plot_traces(current, kind) for kind in TRACE_KINDS}


@pytest.fixture(scope="module")
def gate(current: TraceSet) -> tuple[Comparison, Profile, Profile]:
    baseline = profile_from_traces(tracekit.load(SAMPLES / "baseline"))
    profile = profile_from_traces(current)
    result = compare_profiles(baseline, profile, GatePolicy())
    return Comparison(result, baseline.source, profile.source), baseline, profile


@pytest.fixture(scope="module")
def comparison_figures(gate: tuple[Comparison, Profile, Profile]) -> dict[str, Figure]:
    return plot_comparison(*gate, deadline_ms=DEADLINE_MS)


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A command line with ``plot`` registered as ``tracekit.cli`` registers commands."""
    application = typer.Typer(pretty_exceptions_enable=False, add_completion=False)

    @application.callback()
    def _root() -> None:
        """Test app."""

    application.command("plot")(plot_command)
    return application


def legend_texts(legend: Any) -> list[str]:
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def xdata(line: Any) -> list[float]:
    return [float(value) for value in line.get_xdata()]


def ydata(line: Any) -> list[float]:
    return [float(value) for value in line.get_ydata()]


# -- what each figure shows --------------------------------------------------------------


def test_stages_has_a_log_row_per_stage_with_analyze_percentiles(
    figures: dict[str, Figure], current: TraceSet
) -> None:
    figure = figures["stages"]
    expected = current.stages()
    axes = figure.axes
    assert [ax.get_ylabel().split("\n")[0] for ax in axes] == expected["stage"].to_list()
    assert [ax.get_ylabel().split("\n")[0] for ax in axes] == [
        "fetch_md",
        "spread",
        "guards",
        "emit",
        "tick_total",
    ]
    assert {ax.get_xscale() for ax in axes} == {"log"}
    assert axes[-1].get_xlabel() == "duration (ms, log scale)"
    assert figure.get_suptitle() == "Stage latency: " + str(CURRENT)
    assert legend_texts(axes[0].get_legend()) == ["p50", "p95", "p99", "deadline 200 ms"]
    for ax, row in zip(axes, expected.iter_rows(named=True), strict=True):
        # Percentile lines sit at analyze's values (not recomputed differently).
        marks = [xdata(line) for line in ax.get_lines()][:3]
        assert marks == [[row[key]] * 2 for key in ("p50_ms", "p95_ms", "p99_ms")]
        # The histogram holds every row analyze counted: sampled stages, every tick.
        assert ax.patches[0].get_data().values.sum() == row["n"]  # type: ignore[attr-defined]
        assert f"p95 {row['p95_ms']:,.1f}" in ax.get_title(loc="right")


def test_stages_marks_the_deadline_on_tick_total_only(figures: dict[str, Figure]) -> None:
    axes = figures["stages"].axes
    deadline = [DEADLINE_MS, DEADLINE_MS]
    assert deadline in [xdata(line) for line in axes[-1].get_lines()]
    for ax in axes[:-1]:
        assert deadline not in [xdata(line) for line in ax.get_lines()]


def test_stages_follows_the_stage_selection(current: TraceSet) -> None:
    figure = plot_traces(current.select(stages=["spread", "tick_total"]), "stages")
    assert [ax.get_ylabel().split("\n")[0] for ax in figure.axes] == ["spread", "tick_total"]


def test_timeline_shows_every_tick_the_deadline_misses_and_guard_trips(
    figures: dict[str, Figure], current: TraceSet
) -> None:
    top, strip = figures["timeline"].axes
    deadline = current.deadline().row(0, named=True)
    guards = current.guards()
    assert top.get_ylabel() == "tick_total (ms)"
    assert strip.get_xlabel() == "wall-clock time (UTC)"
    assert legend_texts(top.get_legend()) == [
        "current-1 (3,000 ticks)",
        "current-2 (3,000 ticks)",
        f"deadline miss ({deadline['misses']}, {deadline['miss_rate']:.2%})",
        "deadline 200 ms",
    ]
    lines = {line.get_label(): line for line in top.get_lines()}
    assert sum(len(xdata(lines[f"current-{n} (3,000 ticks)"])) for n in (1, 2)) == 6000
    missed = ydata(lines[f"deadline miss ({deadline['misses']}, {deadline['miss_rate']:.2%})"])
    assert len(missed) == deadline["misses"] == 89
    assert min(missed) > DEADLINE_MS
    assert ydata(lines["deadline 200 ms"]) == [DEADLINE_MS, DEADLINE_MS]
    reasons = [label.get_text() for label in strip.get_yticklabels()]
    assert reasons == guards["reason"].to_list()
    assert sum(len(xdata(line)) for line in strip.get_lines()) == guards["trips"].sum()


def test_timeline_of_one_run(current: TraceSet) -> None:
    top = plot_traces(current.select(runs=["current-2"]), "timeline").axes[0]
    assert legend_texts(top.get_legend())[0] == "current-2 (3,000 ticks)"
    assert not any(text.startswith("current-1") for text in legend_texts(top.get_legend()))


def test_guards_stacks_each_reason_and_counts_every_trip(
    figures: dict[str, Figure], current: TraceSet
) -> None:
    (axes,) = figures["guards"].axes
    guards = current.guards()
    assert axes.get_ylabel() == "guard trips per 30s window"
    assert axes.get_xlabel() == "wall-clock time (UTC)"
    assert len(axes.containers) == guards.height == 4
    for container, row in zip(axes.containers, guards.iter_rows(named=True), strict=True):
        assert str(container.get_label()).startswith(f"{row['reason']}: {row['trips']:,} (")
        heights = sum(patch.get_height() for patch in container)
        assert heights == row["trips"]
    assert legend_texts(axes.get_legend())[0] == "vol_soft: 694 (115.7)"


def test_guards_window_can_be_chosen(current: TraceSet) -> None:
    (axes,) = plot_traces(current, "guards", every="1m").axes
    assert axes.get_ylabel() == "guard trips per 1m window"
    assert len(axes.containers[0]) == 13  # 12.5 minutes of data


def test_guards_without_trips_says_so(current: TraceSet) -> None:
    (axes,) = plot_traces(current.select(symbols=["NOPE-USD"]), "guards").axes
    assert axes.containers == []
    assert [text.get_text() for text in axes.texts] == ["no guard trips in the selection"]


def test_requests_draws_each_verb_and_api_on_log_axes(
    figures: dict[str, Figure], current: TraceSet
) -> None:
    cdf, tail = figures["requests"].axes
    requests = current.requests()
    expected = [
        f"{row['verb']} {row['api']} (n = {row['n']:,})" for row in requests.iter_rows(named=True)
    ]
    assert legend_texts(cdf.get_legend()) == expected
    assert expected[-1] == "POST place_order (n = 7,377)"
    assert (cdf.get_xscale(), tail.get_xscale(), tail.get_yscale()) == ("log", "log", "log")
    assert cdf.get_xlabel() == tail.get_xlabel() == "request latency (ms, log scale)"
    assert cdf.get_ylabel() == "share of requests ≤ x"
    labelled = [line for line in cdf.get_lines() if line.get_label() in expected]
    assert len(labelled) == 3
    for line in labelled:
        shares = ydata(line)
        assert shares[0] == 0.0
        assert shares[-1] == pytest.approx(1.0)
        assert shares == sorted(shares)


def test_a_title_and_size_can_be_chosen(current: TraceSet) -> None:
    figure = plot_traces(current, "requests", title="Exchange", width=6, height=3, dpi=50)
    assert figure.get_suptitle() == "Exchange"
    assert tuple(figure.get_size_inches()) == (6.0, 3.0)
    assert figure.dpi == 50


# -- comparison figures ------------------------------------------------------------------


def test_overlays_draw_both_sides_of_each_stage(
    comparison_figures: dict[str, Figure], gate: tuple[Comparison, Profile, Profile]
) -> None:
    _, baseline, current = gate
    panels = comparison_figures["overlays"].axes
    names = [ax.get_title(loc="left") for ax in panels]
    assert names == ["fetch_md", "spread", "guards", "emit", "tick_total"]
    for ax, name in zip(panels, names, strict=True):
        assert ax.get_xscale() == "log"
        assert ax.get_yscale() == "logit"
        texts = legend_texts(ax.get_legend())
        assert texts[:2] == [
            f"baseline (n = {sum(baseline.merged(name).values()):,})",
            f"current (n = {sum(current.merged(name).values()):,})",
        ]
        lines = {line.get_label(): line for line in ax.get_lines()}
        for text in texts[:2]:
            assert ydata(lines[text])[-1] == pytest.approx(1.0)
    assert "REGRESSION" in panels[1].get_title(loc="right")
    comparison = gate[0]
    rank = {"PASS": 0, "INCONCLUSIVE": 1, "REGRESSION": 2}
    guards = [m.verdict.value for m in comparison.result.metrics if m.stage == "guards"]
    assert max(guards, key=rank.__getitem__) in panels[2].get_title(loc="right")
    assert [DEADLINE_MS] * 2 in [xdata(line) for line in panels[-1].get_lines()]
    assert "duration (ms, log scale)" in [ax.get_xlabel() for ax in panels]


def test_forest_has_a_row_per_metric_with_interval_and_threshold(
    comparison_figures: dict[str, Figure], gate: tuple[Comparison, Profile, Profile]
) -> None:
    comparison, _, _ = gate
    figure = comparison_figures["forest"]
    relative, absolute = figure.axes
    metrics = comparison.result.metrics
    quantiles = [m for m in metrics if m.metric != "miss_rate"]
    rows = [label.get_text() for label in relative.get_yticklabels()]
    assert sorted(rows) == sorted(f"{m.stage} {m.metric}" for m in quantiles)
    # Tick order, not alphabetical: fetch_md's quantile rows first, lowest quantile first.
    fetch = [row for row in rows if row.startswith("fetch_md ")]
    assert rows[: len(fetch)] == fetch
    assert fetch == sorted(fetch, key=lambda row: float(row.split(" p")[1]))
    assert [label.get_text() for label in absolute.get_yticklabels()] == ["deadline miss_rate"]
    assert "relative change" in relative.get_xlabel()
    assert "percentage points" in absolute.get_xlabel()

    by_row = {f"{m.stage} {m.metric}": m for m in metrics}
    for ax, names in ((relative, rows), (absolute, ["deadline miss_rate"])):
        lines = [xdata(line) for line in ax.get_lines()]
        for name in names:
            metric = by_row[name]
            # Each row draws its own threshold mark and its interval.
            assert [metric.threshold] * 2 in lines
            if metric.low is not None and metric.high is not None:
                assert [metric.low, metric.high] in lines
        marks = [line for line in ax.get_lines() if xdata(line)[0] == xdata(line)[-1]]
        assert len([m for m in marks if len(xdata(m)) == 2]) >= len(names)
    assert {0.03, 0.05} <= {xdata(line)[0] for line in relative.get_lines()}
    assert legend_texts(relative.get_legend()) == [
        "REGRESSION",
        "INCONCLUSIVE",
        "PASS",
        "90% interval",
        "threshold",
    ]
    assert figure.get_suptitle() == f"Perf gate: {comparison.verdict.value}"


def test_forest_right_labels_are_coloured_by_verdict(
    comparison_figures: dict[str, Figure], gate: tuple[Comparison, Profile, Profile]
) -> None:
    relative = comparison_figures["forest"].axes[0]
    (right,) = relative.child_axes
    rows = [label.get_text() for label in relative.get_yticklabels()]
    labels = right.get_yticklabels()
    spread = labels[rows.index("spread p95")]
    assert spread.get_text().endswith("REGRESSION")
    assert spread.get_text().startswith("+11.")
    assert spread.get_color() == VERDICT_COLORS["REGRESSION"]


@dataclasses.dataclass(frozen=True)
class CanaryMetric:
    """A canary-like result: the forest plot needs only these fields."""

    stage: str
    metric: str
    change: float | None
    low: float | None
    high: float | None
    threshold: float
    verdict: str


def test_forest_takes_any_metrics_with_the_same_fields() -> None:
    metrics = [
        CanaryMetric("tick_total", "p95", -0.12, -0.15, -0.09, 0.03, "PROMOTE"),
        CanaryMetric("spread", "p99", None, None, None, 0.05, "CONTINUE"),
        CanaryMetric("requests", "error_rate", 0.002, -0.001, 0.004, 0.005, "PASS"),
    ]
    figure = plot_forest(metrics, title="Canary", interval_label="95% interval")
    relative, absolute = figure.axes
    assert [t.get_text() for t in relative.get_yticklabels()] == ["tick_total p95", "spread p99"]
    assert [t.get_text() for t in absolute.get_yticklabels()] == ["requests error_rate"]
    (right,) = relative.child_axes
    assert [t.get_text() for t in right.get_yticklabels()] == [
        "-12.0% [-15.0%, -9.0%]  PROMOTE",
        "CONTINUE",
    ]
    assert [label.get_color() for label in right.get_yticklabels()] == [
        VERDICT_COLORS["PASS"],  # a canary's PROMOTE is as good as a PASS
        VERDICT_COLORS["INCONCLUSIVE"],
    ]
    assert [0.005, 0.005] in [xdata(line) for line in absolute.get_lines()]
    assert legend_texts(relative.get_legend()) == [
        "CONTINUE",
        "PROMOTE",
        "PASS",
        "95% interval",
        "threshold",
    ]
    assert figure.get_suptitle() == "Canary"


def test_comparison_figures_use_the_profiles_the_comparison_kept(
    gate: tuple[Comparison, Profile, Profile],
) -> None:
    comparison, baseline, current = gate
    kept = dataclasses.replace(comparison, baseline_profile=baseline, current_profile=current)
    figures = plot_comparison(kept)
    assert list(figures) == ["overlays", "forest"]
    assert len(figures["overlays"].axes) == 5
    with pytest.raises(InputError, match="profiles"):
        plot_comparison(dataclasses.replace(comparison, baseline_profile=None))


def test_forest_of_nothing_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no metric"):
        plot_forest([])


@pytest.mark.slow  # renders whole figures
def test_save_figures_names_files_after_the_figures(
    comparison_figures: dict[str, Figure], tmp_path: Path
) -> None:
    paths = save_figures(comparison_figures, tmp_path / "plots", format="svg")
    assert paths == [tmp_path / "plots" / "overlays.svg", tmp_path / "plots" / "forest.svg"]
    for path in paths:
        assert path.read_bytes().startswith(MAGIC["svg"])
    with pytest.raises(InputError, match="jpg"):
        save_figures(comparison_figures, tmp_path, format="jpg")


# -- images --------------------------------------------------------------------------------


@pytest.mark.slow  # renders whole figures
@pytest.mark.parametrize(
    "name", [*TRACE_KINDS, "overlays", "forest"], ids=[*TRACE_KINDS, "overlays", "forest"]
)
def test_png_has_real_content(
    name: str,
    figures: dict[str, Figure],
    comparison_figures: dict[str, Figure],
    tmp_path: Path,
) -> None:
    figure = {**figures, **comparison_figures}[name]
    path = save_figure(figure, tmp_path / f"{name}.png")
    assert path.read_bytes().startswith(MAGIC["png"])
    image = imread(path)
    width, height = figure.get_size_inches() * figure.dpi
    assert image.shape[:2] == (round(height), round(width))
    rgb = image[..., :3]
    assert rgb.std() > 0.08, "the image is nearly uniform"
    channels = (rgb.reshape(-1, 3) * 255).round().astype(np.uint32)
    colours = np.unique(channels[:, 0] << 16 | channels[:, 1] << 8 | channels[:, 2])
    assert len(colours) > 150, "too few distinct colours for a chart with text and data"
    inked = (rgb < 0.9).any(axis=2).mean()
    assert 0.04 < inked < 0.7, f"share of non-white pixels {inked:.2f}"


@pytest.mark.parametrize("image_format", PLOT_FORMATS)
def test_each_format_has_its_magic_bytes(
    image_format: str, figures: dict[str, Figure], tmp_path: Path
) -> None:
    path = save_figure(figures["stages"], tmp_path / f"stages.{image_format}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[image_format])
    assert len(data) > 10_000
    if image_format == "svg":
        assert b"<svg" in data[:2000]


@pytest.mark.slow  # renders whole figures
def test_svg_and_pdf_carry_no_creation_date(figures: dict[str, Figure], tmp_path: Path) -> None:
    """No timestamp in the files, so regenerated docs images do not differ by date alone."""
    for image_format in ("svg", "pdf"):
        data = save_figure(figures["guards"], tmp_path / f"guards.{image_format}").read_bytes()
        assert b"CreationDate" not in data
        assert b"<dc:date>" not in data


def test_an_unknown_suffix_needs_format(figures: dict[str, Figure], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.jpg"):
        save_figure(figures["stages"], tmp_path / "stages.jpg")
    path = save_figure(figures["stages"], tmp_path / "stages.image", "pdf")
    assert path.read_bytes().startswith(MAGIC["pdf"])


# -- no global matplotlib state --------------------------------------------------------------


def test_plotting_leaves_pyplot_state_alone(current: TraceSet, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure = plot_traces(current, "timeline")
    save_figure(figure, tmp_path / "timeline.png")
    assert plt.get_fignums() == before
    assert type(figure.canvas).__name__ == "FigureCanvasAgg"


@pytest.mark.slow  # renders whole figures
def test_no_pyplot_and_a_lazy_matplotlib(tmp_path: Path) -> None:
    """In a fresh interpreter: the CLI module does not load matplotlib, plots never pyplot."""
    code = (
        "import sys\n"
        "import tracekit, tracekit.cli.plot, tracekit.present.plots\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "from tracekit.present.plots import plot_traces, save_figure\n"
        "save_figure(plot_traces(tracekit.load(sys.argv[1]), 'guards'), sys.argv[2])\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(CURRENT), str(tmp_path / "guards.png")],
        capture_output=True,
        text=True,
        check=False,
        env={
            **{key: value for key, value in os.environ.items() if key != "MPLBACKEND"},
            "PYTHONWARNINGS": "error",
        },
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "guards.png").read_bytes().startswith(MAGIC["png"])


# -- the command -----------------------------------------------------------------------------


def test_command_kinds_match_the_library() -> None:
    assert tuple(PlotKind) == TRACE_KINDS
    assert tuple(ImageFormat) == PLOT_FORMATS


@pytest.mark.slow  # renders whole figures
@pytest.mark.parametrize(
    ("kind", "suffix"),
    [("stages", "svg"), ("timeline", "pdf"), ("guards", "png"), ("requests", "png")],
)
def test_command_writes_the_image(app: typer.Typer, tmp_path: Path, kind: str, suffix: str) -> None:
    output = tmp_path / "out" / f"{kind}.{suffix}"
    result = CliRunner().invoke(app, ["plot", str(CURRENT), "--kind", kind, "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {output} ({kind}, {suffix})\n"
    assert output.read_bytes().startswith(MAGIC[suffix])


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the command saves, for inspection."""
    import tracekit.present.plots

    saved: list[Figure] = []
    original = tracekit.present.plots.save_figure

    def spy(figure: Figure, path: str | Path, format: str | None = None) -> Path:
        saved.append(figure)
        return original(figure, path, format)

    monkeypatch.setattr(tracekit.present.plots, "save_figure", spy)
    return saved


def test_command_passes_selection_title_and_size(
    app: typer.Typer, tmp_path: Path, drawn: list[Figure]
) -> None:
    output = tmp_path / "timeline.png"
    args = [
        "plot",
        str(CURRENT),
        "-k",
        "timeline",
        "--run",
        "current-1",
        "--since",
        "2026-01-01T00:05:00",
        "--until",
        "2026-01-01T00:10:00Z",
        "--symbol",
        "BTC-USD",
        "--title",
        "BTC, minutes 5-10",
        "--width",
        "8",
        "--height",
        "4",
        "--dpi",
        "50",
        "-o",
        str(output),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (figure,) = drawn
    assert figure.get_suptitle() == "BTC, minutes 5-10"
    top, _ = figure.axes
    texts = legend_texts(top.get_legend())
    ticks = (
        tracekit.load(CURRENT)
        .select(
            runs=["current-1"],
            since=_datetime("2026-01-01T00:05"),
            until=_datetime("2026-01-01T00:10"),
        )
        .deadline()["ticks"]
        .item()
    )
    assert ticks > 1000
    assert texts[0] == f"current-1 ({ticks:,} ticks)"  # about 5 minutes at 4 ticks/s
    assert not any(text.startswith("current-2") for text in texts)
    assert "symbols BTC-USD" in figure.get_supxlabel()
    assert imread(output).shape[:2] == (200, 400)


def test_command_format_option_wins_over_the_suffix(app: typer.Typer, tmp_path: Path) -> None:
    output = tmp_path / "guards.img"
    result = CliRunner().invoke(
        app, ["plot", str(CURRENT), "-k", "guards", "--every", "2m", "-o", str(output), "-f", "pdf"]
    )
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(MAGIC["pdf"])


def test_unknown_kind_is_a_usage_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plot", str(CURRENT), "--kind", "pie", "-o", "x.png"])
    assert result.exit_code == 2
    assert "--kind" in result.output


def run_main(
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, str, str]:
    """``tracekit.cli.main`` with ``plot`` registered: (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli_module, "app", app)
    monkeypatch.setattr(sys, "argv", ["tracekit", "plot", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


BAD_INPUT = {
    "unknown kind": (["--kind", "pie"], ["--kind", "pie"]),
    "empty selection": (["--since", "2030-01-01"], [str(CURRENT), "no tick", "--since"]),
    "run not in the data": (["--run", "nope"], ["nope", "current-1"]),
    "stage with no rows": (["--stage", "nope"], ["nope", "spread"]),
    "stage with another kind": (["--kind", "timeline", "--stage", "spread"], ["--stage"]),
    "every with another kind": (["--every", "1m"], ["--every", "stages"]),
    "bad every": (["--kind", "guards", "--every", "soon"], ["soon"]),
    "no request rows": (["--kind", "requests", "--symbol", "NOPE"], ["no sampled exchange"]),
    "zero width": (["--width", "0"], ["--width"]),
    "huge image": (["--width", "400", "--dpi", "100"], ["--width", "pixels"]),
    "bad since": (["--since", "yesterday"], ["--since", "yesterday"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_is_one_error_line_and_exit_2(
    case: str,
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    options, wanted = BAD_INPUT[case]
    output = tmp_path / "plot.png"
    code, out, err = run_main(app, monkeypatch, capsys, str(CURRENT), *options, "-o", str(output))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    for text in wanted:
        assert text in lines[0]
    assert not output.exists()


@pytest.mark.parametrize(
    ("output_name", "wanted"),
    [("plot.jpg", "unknown image format '.jpg'"), ("plot", "no suffix")],
)
def test_output_without_a_known_suffix_is_refused_before_reading(
    output_name: str,
    wanted: str,
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-traces"  # not read: the output is checked first
    output = tmp_path / output_name
    code, _, err = run_main(app, monkeypatch, capsys, str(missing), "-o", str(output))
    assert code == 2
    assert err.startswith(f"Error: {output}: {wanted}")
    assert "--format" in err
    assert len(err.splitlines()) == 1


def test_library_errors_are_tracekit_errors(current: TraceSet) -> None:
    with pytest.raises(EmptyDataError, match="no tick"):
        plot_traces(current.select(runs=["current-1"], since=_datetime("2030-01-01")), "stages")
    with pytest.raises(InputError, match="`kind` 'pie'"):
        plot_traces(current, "pie")
    with pytest.raises(InputError, match="`every`"):
        plot_traces(current, "timeline", every="1m")
    with pytest.raises(EmptyDataError, match="stage nope"):
        plot_traces(current.select(stages=["nope"]), "stages")


def _datetime(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_selection_keeping_only_tick_rows_still_plots_tick_total(current: TraceSet) -> None:
    figure = plot_traces(current.select(symbols=["NOPE-USD"]), "stages")
    assert [ax.get_ylabel().split("\n")[0] for ax in figure.axes] == ["tick_total"]
    assert pl.Series(figure.axes[0].patches[0].get_data().values).sum() == 6000  # type: ignore[attr-defined]


# -- what a person sees: units, labels, markers, inline display ------------------------


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> TraceSet:
    sys.path.insert(0, str(Path(__file__).parent))
    from analysis_helpers import write_microsecond_dataset

    root = tmp_path_factory.mktemp("micro")
    write_microsecond_dataset(root)
    return tracekit.load(root)


def test_microsecond_stages_are_labelled_in_microseconds(micro: TraceSet) -> None:
    figure = plot_stages(micro)
    titles = {axes.get_ylabel().split("\n")[0]: axes.get_title(loc="right") for axes in figure.axes}
    assert titles["decode"].endswith(" µs")
    assert "0.0 " not in titles["decode"]
    assert titles["decode"].startswith("p50 4.")  # about 5 µs
    assert titles["encode"].startswith("p50 7")  # about 780 µs
    assert titles["spread"].endswith(" ms")


@pytest.mark.slow  # renders whole figures
def test_log_axis_labels_below_one_ms_do_not_run_together(micro: TraceSet) -> None:
    figure = plot_stages(micro)
    figure.canvas.draw()
    bottom = figure.axes[-1]
    labels = [t for t in bottom.get_xticklabels() if t.get_text() and t.get_visible()]
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda box: box.x0)
    assert len(boxes) >= 5
    for left, right in itertools.pairwise(boxes):
        assert left.x1 + 4 <= right.x0, [t.get_text() for t in labels]


def test_timeline_colours_many_misses_instead_of_circling_them(tmp_path: Path) -> None:
    root = tmp_path / "traces"
    # A 110 ms deadline: about 38% of the simulated ticks miss it.
    simulate(SimulationSpec(ticks=600, seed=3), TraceConfig(output_dir=str(root), deadline_ms=110))
    (top, *_rest) = plot_timeline(tracekit.load(root)).axes
    (misses,) = [
        line for line in top.get_lines() if str(line.get_label()).startswith("deadline miss")
    ]
    assert misses.get_marker() == "."
    assert misses.get_markerfacecolor() != "none"
    # A few misses are still circled: in the samples, 89 of 6,000 ticks.
    (top, *_rest) = plot_timeline(tracekit.load(SAMPLES / "current")).axes
    (misses,) = [
        line for line in top.get_lines() if str(line.get_label()).startswith("deadline miss")
    ]
    assert misses.get_marker() == "o"


def test_forest_cuts_the_axis_at_a_huge_change_and_prints_it() -> None:
    metrics = [
        CanaryMetric("fetch_md", "p95", 0.012, -0.01, 0.034, 0.03, "PASS"),
        CanaryMetric("spread", "p95", 150.0, 120.0, 180.0, 0.03, "REGRESSION"),
        CanaryMetric("spread", "p99", 0.09, 0.06, 0.12, 0.05, "REGRESSION"),
        CanaryMetric("guards", "p95", -0.02, -0.04, 0.0, 0.03, "PASS"),
    ]
    (relative,) = plot_forest(metrics).axes
    _low, high = relative.get_xlim()
    assert high < 0.5  # not 180: the other rows keep their resolution
    assert "+15,000%" in [text.get_text() for text in relative.texts]
    assert "axis cut at ±25%" in relative.get_xlabel()
    (right,) = relative.child_axes
    assert right.get_yticklabels()[1].get_text().startswith("+15,000.0% [+12,000.0%")


def test_forest_of_ordinary_changes_is_not_cut(comparison_figures: dict[str, Figure]) -> None:
    relative = comparison_figures["forest"].axes[0]
    assert "axis cut" not in relative.get_xlabel()
    assert not relative.texts


@pytest.mark.slow  # renders whole figures
def test_figures_display_in_jupyter_without_pyplot(
    figures: dict[str, Figure], tmp_path: Path
) -> None:
    """IPython calls ``_repr_png_``: the same bytes ``save_figure`` writes."""
    figure = figures["stages"]
    png = figure._repr_png_()  # type: ignore[attr-defined]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == save_figure(figure, tmp_path / "stages.png").read_bytes()
