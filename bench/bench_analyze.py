"""Speed and memory of ``tracekit analyze``, side by side with DuckDB on the same files.

Usage::

    python bench/bench_analyze.py              # 20M rows, 10,000 files vs 1, --help (~2 min)
    python bench/bench_analyze.py --quick      # 2M rows, 1,000 files (~15 s)
    python bench/bench_analyze.py --big        # also 100M rows in 100 files (~2 more min)
    python bench/bench_analyze.py --profile    # where tracekit's time and memory go (~10 min)
    python bench/bench_analyze.py --json results.json

Datasets are written by ``bench/gen_dataset.py`` under ``bench/data/`` (reused
when their parameters match; the folder is gitignored).

Method. Every measurement is one fresh child process: its wall time (spawn to
exit, interpreter start-up and imports included), its CPU time (user + system)
and its own peak resident set size (``ru_maxrss`` from ``os.wait4``; children are
started by a small launcher, see :data:`LAUNCHER`). Each contender runs once
untimed (this also warms the page cache: all figures are warm-cache), then
``--reps`` times (3) in interleaved rounds; the tables give the median time, the
fastest and slowest, the median CPU time and the largest peak RSS. Before every
timed run the benchmark waits until other processes use less than 0.15 CPU (the
machine may be shared; ``--no-wait`` turns this off). The contenders:

* ``tracekit analyze``: ``tracekit analyze DATA --format json`` (every table of
  the report: stages, deadline, attribution, guards, requests, parallel symbols);
* ``duckdb stages``: the docs/schema.md per-stage and ``tick_total`` queries
  (``quantile_cont`` p50/p95/p99, count, max, mean; stages from
  ``detail = 'sampled'`` stage rows, ``tick_total`` from tick rows), merged into
  one scan, in ``python -c`` with the duckdb module: the reference of the targets;
* ``duckdb all tables`` (information): every table tracekit computes, in SQL;
* ``polars stages`` (information): the stage query alone in plain polars
  (streaming engine): what polars itself needs for the reference query.

Answers are checked: every figure of tracekit's stage table (n, p50, p95, p99,
max, mean) must match DuckDB's within 1e-6 relative.

``--profile`` times tracekit's phases and single queries in fresh children, and
measures candidate changes applied by monkeypatching inside those children
(tracekit's code is not modified; see :data:`CANDIDATES`), checking that each
gives the same tables as tracekit as it is.

Linux only (``os.wait4``, ``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
TRACEKIT = shutil.which("tracekit", path=str(Path(PYTHON).parent)) or "tracekit"

# The targets.
TARGET_TIME_RATIO = 1.0  # tracekit time / DuckDB time, 20M rows
TARGET_RSS_RATIO = 1.5  # tracekit peak RSS / DuckDB peak RSS, 20M rows
TARGET_BIG_RSS_BYTES = 4 * 2**30  # 100M rows
TARGET_MANY_FILES_RATIO = 3.0  # 10,000 files / one file, same rows
TARGET_HELP_S = 0.2
REL_TOL = 1e-6

STAGE_FIELDS = ("n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")

# -- the contenders ----------------------------------------------------------------

DUCKDB_STAGES = """
import json, sys
import duckdb
src = f"read_parquet('{sys.argv[1]}/**/*.parquet', hive_partitioning = true)"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
rows = con.sql(f'''
    SELECT name AS stage, count(*) AS n,
           quantile_cont(duration_ns / 1e6, [0.5, 0.95, 0.99]) AS q,
           max(duration_ns) / 1e6 AS max_ms, avg(duration_ns) / 1e6 AS mean_ms
    FROM {src}
    WHERE (kind = 'stage' AND detail = 'sampled') OR kind = 'tick'
    GROUP BY name ORDER BY name
''').fetchall()
print(json.dumps([
    dict(stage=s, n=n, p50_ms=q[0], p95_ms=q[1], p99_ms=q[2], max_ms=mx, mean_ms=mean)
    for s, n, q, mx, mean in rows
]))
"""

DUCKDB_ALL = """
import json, sys
import duckdb
src = f"read_parquet('{sys.argv[1]}/**/*.parquet', hive_partitioning = true)"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
q = "quantile_cont(duration_ns / 1e6, [0.5, 0.95, 0.99])"
out = {}
out["stages"] = con.sql(f'''
    SELECT name, count(*), {q}, max(duration_ns) / 1e6, avg(duration_ns) / 1e6 FROM {src}
    WHERE (kind = 'stage' AND detail = 'sampled') OR kind = 'tick' GROUP BY name
''').fetchall()
out["deadline"] = con.sql(f'''
    SELECT count(*), sum(deadline_missed::INT),
           count(*) FILTER (deadline_missed AND detail <> 'none'),
           avg(deadline_ns) / 1e6, min(parallel_symbols), avg(parallel_symbols),
           max(parallel_symbols)
    FROM {src} WHERE kind = 'tick'
''').fetchall()
out["guards"] = con.sql(f'''
    SELECT name, count(*) FROM {src} WHERE kind = 'guard' GROUP BY name
''').fetchall()
out["requests"] = con.sql(f'''
    SELECT verb, name, count(*), {q}, max(duration_ns) / 1e6, avg(duration_ns) / 1e6,
           avg((status = 'error')::INT)
    FROM {src} WHERE kind = 'request' AND detail = 'sampled' GROUP BY verb, name
''').fetchall()
out["attribution"] = con.sql(f'''
    WITH missed AS (
        SELECT DISTINCT run_id, tick_id FROM {src}
        WHERE kind = 'tick' AND deadline_missed AND detail <> 'none'),
    spans AS (
        SELECT run_id, tick_id, symbol, duration_ns,
               CASE WHEN kind = 'request' THEN 'request:' || name ELSE name END AS component
        FROM {src} SEMI JOIN missed USING (run_id, tick_id)
        WHERE kind IN ('stage', 'request')),
    per_symbol AS (
        SELECT run_id, tick_id, component, symbol, sum(duration_ns) AS d
        FROM spans GROUP BY ALL),
    per_tick AS (
        SELECT run_id, tick_id, component, max(d) AS d FROM per_symbol GROUP BY ALL),
    dominant AS (
        SELECT run_id, tick_id, arg_max(component, d) AS dominant FROM per_tick GROUP BY ALL)
    SELECT component, count(*) FILTER (component = dominant), count(*), avg(d) / 1e6
    FROM per_tick JOIN dominant USING (run_id, tick_id) GROUP BY component
''').fetchall()
print(json.dumps(out, default=str)[:200])
"""

POLARS_STAGES = """
import json, sys
import polars as pl
d = pl.col("duration_ns")
frame = (
    pl.scan_parquet(f"{sys.argv[1]}/**/*.parquet", hive_partitioning=False)
    .filter(
        ((pl.col("kind") == "stage") & (pl.col("detail") == "sampled"))
        | (pl.col("kind") == "tick")
    )
    .group_by(pl.col("name").alias("stage"))
    .agg(
        pl.len().alias("n"),
        *((d.quantile(q, interpolation="linear") / 1e6).alias(f"p{round(q * 100)}_ms")
          for q in (0.5, 0.95, 0.99)),
        (d.max() / 1e6).alias("max_ms"),
        (d.mean() / 1e6).alias("mean_ms"),
    )
    .collect(engine="streaming")
)
print(json.dumps(frame.to_dicts()))
"""


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    stages_json: bool  # stdout holds a stage table to check

    def command(self, root: Path) -> list[str]:
        if self.key == "tracekit":
            return [TRACEKIT, "analyze", str(root), "--format", "json"]
        script = {
            "duckdb": DUCKDB_STAGES,
            "duckdb_all": DUCKDB_ALL,
            "polars": POLARS_STAGES,
        }[self.key]
        return [PYTHON, "-c", script, str(root)]


TRACEKIT_C = Contender("tracekit", "tracekit analyze", True)
DUCKDB_C = Contender("duckdb", "duckdb stages", True)
DUCKDB_ALL_C = Contender("duckdb_all", "duckdb all tables (info)", False)
POLARS_C = Contender("polars", "polars stages (info)", True)


# -- measuring a child ---------------------------------------------------------------


class BenchError(RuntimeError):
    pass


@dataclass
class Run:
    wall_s: float
    maxrss_bytes: int
    stdout: str
    cpu_s: float  # user + system time of the child


# A child's ru_maxrss counts the memory of the process it was forked from (Linux keeps
# the high-water mark across exec), so children are started by this small launcher
# (python -S, about 8 MiB), never by the benchmark process itself. It forks, execs
# the command, and writes the wall time and the child's own peak RSS to argv[1].
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    cpu = usage.ru_utime + usage.ru_stime
    report.write(f"{wall!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {cpu!r}")
"""


def run_child(cmd: Sequence[str]) -> Run:
    """Run ``cmd`` to completion; its wall time and its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        out_path, err_path, report = (Path(tmp) / n for n in ("out", "err", "report"))
        with out_path.open("wb") as out, err_path.open("wb") as err:
            subprocess.run(
                [PYTHON, "-S", "-c", LAUNCHER, str(report), *cmd],
                stdout=out,
                stderr=err,
                check=False,
            )
        stdout = out_path.read_text("utf-8", "replace")
        stderr = err_path.read_text("utf-8", "replace")
        fields = report.read_text().split() if report.exists() else []
    shown = " ".join(cmd[:2]) + (" ..." if len(cmd) > 2 else "")
    if len(fields) != 4:
        raise BenchError(f"{shown}: the launcher failed:\n{stderr[-3000:]}")
    wall, maxrss, code, cpu = float(fields[0]), int(fields[1]), int(fields[2]), float(fields[3])
    if code != 0:
        raise BenchError(f"{shown} exited with {code}:\n{stderr[-3000:]}")
    return Run(wall, maxrss * 1024, stdout, cpu)  # ru_maxrss is in KiB on Linux


@dataclass
class Result:
    key: str
    label: str
    dataset: str
    times_s: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def max_rss(self) -> int:
        return max(self.rss_bytes)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_s)

    def record(self, run: Run) -> None:
        self.times_s.append(run.wall_s)
        self.rss_bytes.append(run.maxrss_bytes)
        self.cpu_s.append(run.cpu_s)

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {
            "median_s": self.median_s,
            "max_rss": self.max_rss,
            "median_cpu_s": self.median_cpu_s,
        }


def measure(
    contenders: Sequence[Contender], root: Path, reps: int, log: bool = True
) -> tuple[list[Result], dict[str, str]]:
    """One untimed run of each contender, then ``reps`` interleaved rounds."""
    results = [Result(c.key, c.label, root.name) for c in contenders]
    outputs: dict[str, str] = {}
    for contender in contenders:
        outputs[contender.key] = run_child(contender.command(root)).stdout
    for rep in range(reps):
        for contender, result in zip(contenders, results, strict=True):
            waited = wait_for_quiet()
            run = run_child(contender.command(root))
            result.record(run)
            if log:
                print(
                    f"  [{rep + 1}/{reps}] {contender.label:<26} {run.wall_s:7.2f} s "
                    f"(cpu {run.cpu_s:6.2f} s) {run.maxrss_bytes / 2**20:8.0f} MiB"
                    + (f"  (waited {waited:.0f} s for a quiet machine)" if waited >= 1 else ""),
                    flush=True,
                )
    return results, outputs


# The machine may be shared: before each timed run, wait (up to QUIET_MAX_WAIT_S) until
# other processes use less than QUIET_BUSY_CPUS cores, sampled over QUIET_SAMPLE_S.
QUIET_SAMPLE_S = 0.5
QUIET_BUSY_CPUS = 0.15
QUIET_MAX_WAIT_S = 120.0
QUIET_ENABLED = True
waits: list[float] = []  # seconds waited before each timed run, and still busy after


def _cpu_busy_jiffies() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def wait_for_quiet() -> float:
    """Seconds spent waiting for the machine to be idle (0 if it already was)."""
    if not QUIET_ENABLED:
        return 0.0
    started = time.perf_counter()
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    while True:
        busy0, _ = _cpu_busy_jiffies()
        time.sleep(QUIET_SAMPLE_S)
        busy1, _ = _cpu_busy_jiffies()
        busy_cpus = (busy1 - busy0) / ticks_per_s / QUIET_SAMPLE_S
        waited = time.perf_counter() - started
        if busy_cpus < QUIET_BUSY_CPUS or waited > QUIET_MAX_WAIT_S:
            if busy_cpus >= QUIET_BUSY_CPUS:
                print(f"  (machine still busy: {busy_cpus:.2f} CPUs used by others)")
            waits.append(waited)
            return waited


# -- answers ---------------------------------------------------------------------------


def stage_table(key: str, stdout: str) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:  # something printed before the JSON line
        data = json.loads(stdout.strip().splitlines()[-1])
    rows = data["stages"] if key == "tracekit" else data
    return {row["stage"]: {f: row[f] for f in STAGE_FIELDS} for row in rows}


def compare(
    reference: dict[str, dict[str, float]], other: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Largest relative difference per field; stages missing on either side."""
    worst = dict.fromkeys(STAGE_FIELDS, 0.0)
    for stage in reference.keys() & other.keys():
        for f in STAGE_FIELDS:
            a, b = reference[stage][f], other[stage][f]
            if a is None or b is None:
                worst[f] = float("inf") if a != b else worst[f]
                continue
            diff = abs(a - b) / max(abs(a), abs(b), 1e-300)
            worst[f] = max(worst[f], diff)
    missing = sorted(reference.keys() ^ other.keys())
    agree = not missing and all(v <= REL_TOL for v in worst.values())
    return {"agree": agree, "max_rel_diff": worst, "stages_missing": missing}


# -- datasets --------------------------------------------------------------------------


def dataset(data_dir: Path, rows: int, files: int) -> Path:
    """The dataset's root, written by gen_dataset.py (in a child: this process stays small)."""
    root = data_dir / f"rows{rows}-files{files}"
    cmd = [PYTHON, str(BENCH_DIR / "gen_dataset.py"), "--rows", str(rows), "--files", str(files)]
    subprocess.run([*cmd, "--out", str(root)], check=True)
    return root


def read_manifest(root: Path) -> dict[str, Any]:
    path = root.with_name(root.name + ".gen.json")  # see gen_dataset.manifest_path
    return json.loads(path.read_text())  # type: ignore[no-any-return]


# -- scenarios -------------------------------------------------------------------------


def fmt_mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def result_rows(results: Sequence[Result], reference: Result) -> list[str]:
    lines = [
        "| contender | median s | min-max s | CPU s | peak RSS | time ÷ DuckDB | RSS ÷ DuckDB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.median_s:.2f} | {min(r.times_s):.2f}-{max(r.times_s):.2f} "
            f"| {r.median_cpu_s:.2f} | {fmt_mib(r.max_rss)} "
            f"| {r.median_s / reference.median_s:.2f}x | {r.max_rss / reference.max_rss:.2f}x |"
        )
    return lines


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def scenario_versus(
    name: str, root: Path, reps: int, extra: bool, report: list[str], out: dict[str, Any]
) -> dict[str, Any]:
    """tracekit vs DuckDB (and the information rows) on one dataset."""
    manifest = read_manifest(root)
    params = manifest.get("params", {})
    print(f"\n{name}: {root} ({params.get('rows', 0):,} rows, {manifest.get('files')} files)")
    contenders = [TRACEKIT_C, DUCKDB_C, *([DUCKDB_ALL_C, POLARS_C] if extra else [])]
    results, outputs = measure(contenders, root, reps)
    by_key = {r.key: r for r in results}
    reference = stage_table("duckdb", outputs["duckdb"])
    checks = {
        c.key: compare(reference, stage_table(c.key, outputs[c.key]))
        for c in contenders
        if c.stages_json and c.key != "duckdb"
    }
    tk, db = by_key["tracekit"], by_key["duckdb"]
    summary = {
        "dataset": str(root),
        "rows": params.get("rows"),
        "files": manifest.get("files"),
        "bytes": manifest.get("bytes"),
        "results": [r.summary() for r in results],
        "time_ratio": tk.median_s / db.median_s,
        "rss_ratio": tk.max_rss / db.max_rss,
        "answers": checks,
    }
    report.append(
        f"### {name}: {params.get('rows', 0):,} rows, {manifest.get('files'):,} files, "
        f"{manifest.get('bytes', 0) / 1e6:,.0f} MB"
    )
    report.append("")
    report.extend(result_rows(results, db))
    report.append("")
    for key, check in checks.items():
        p95 = check["max_rel_diff"]["p95_ms"]
        worst = max(check["max_rel_diff"].values())
        report.append(
            f"- answers, {key} vs DuckDB: {'agree' if check['agree'] else 'DISAGREE'} "
            f"(p95 max relative difference {p95:.1e}; all six figures {worst:.1e})"
        )
    out[name] = summary
    return summary


def run_main(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    root = dataset(args.data, args.rows, args.files)
    s = scenario_versus("main", root, args.reps, not args.no_extra, report, out)
    report.append(
        f"- target time ≤ DuckDB: {s['time_ratio']:.2f}x → {verdict(s['time_ratio'] <= 1.0)}; "
        f"target peak RSS ≤ 1.5x DuckDB: {s['rss_ratio']:.2f}x → "
        f"{verdict(s['rss_ratio'] <= TARGET_RSS_RATIO)}"
    )
    report.append("")


def run_big(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    root = dataset(args.data, args.big_rows, args.big_files)
    s = scenario_versus("big", root, args.reps, False, report, out)
    rss = next(r["max_rss"] for r in s["results"] if r["key"] == "tracekit")
    report.append(
        f"- target peak RSS < 4 GiB: {fmt_mib(rss)} → {verdict(rss < TARGET_BIG_RSS_BYTES)}"
    )
    report.append("")


def run_many(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    many = dataset(args.data, args.many_rows, args.many_files)
    one = dataset(args.data, args.many_rows, 1)
    print(f"\nmany files: {many} vs {one}")
    contenders = [TRACEKIT_C, DUCKDB_C]
    results: list[Result] = []
    outputs: dict[str, dict[str, str]] = {}
    for root in (many, one):
        res, outs = measure(contenders, root, args.reps)
        results.extend(res)
        outputs[root.name] = outs
    by = {(r.key, r.dataset): r for r in results}
    tk_ratio = by["tracekit", many.name].median_s / by["tracekit", one.name].median_s
    db_ratio = by["duckdb", many.name].median_s / by["duckdb", one.name].median_s
    same = compare(
        stage_table("tracekit", outputs[one.name]["tracekit"]),
        stage_table("tracekit", outputs[many.name]["tracekit"]),
    )
    report.append(
        f"### Many small files: {args.many_rows:,} rows in {args.many_files:,} files "
        "vs the same rows in one file"
    )
    report.append("")
    report.append("| contender | files | median s | min-max s | CPU s | peak RSS |")
    report.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        files = args.many_files if r.dataset == many.name else 1
        report.append(
            f"| {r.label} | {files:,} | {r.median_s:.2f} | "
            f"{min(r.times_s):.2f}-{max(r.times_s):.2f} | {r.median_cpu_s:.2f} "
            f"| {fmt_mib(r.max_rss)} |"
        )
    report.append("")
    report.append(
        f"- tracekit {args.many_files:,} files ÷ one file: {tk_ratio:.2f}x (target ≤ 3x) → "
        f"{verdict(tk_ratio <= TARGET_MANY_FILES_RATIO)}; DuckDB: {db_ratio:.2f}x"
    )
    report.append(
        f"- tracekit's answers on both layouts: {'identical' if same['agree'] else 'DIFFER'}"
    )
    report.append("")
    out["many"] = {
        "results": [r.summary() for r in results],
        "tracekit_ratio": tk_ratio,
        "duckdb_ratio": db_ratio,
        "answers_same": same,
    }


def run_help(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    print("\ntracekit --help")
    cases = {
        "tracekit --help": [TRACEKIT, "--help"],
        "python -c pass (interpreter floor)": [PYTHON, "-c", "pass"],
    }
    times: dict[str, list[float]] = {}
    for label, cmd in cases.items():
        run_child(cmd)
        times[label] = []
        for _ in range(args.help_runs):
            wait_for_quiet()
            times[label].append(run_child(cmd).wall_s)
    report.append(f"### Start-up: median of {args.help_runs} runs")
    report.append("")
    report.append("| command | median s | min-max s |")
    report.append("| --- | ---: | ---: |")
    for label, ts in times.items():
        report.append(f"| `{label}` | {statistics.median(ts):.3f} | {min(ts):.3f}-{max(ts):.3f} |")
    median = statistics.median(times["tracekit --help"])
    report.append("")
    report.append(
        f"- target `tracekit --help` < 0.2 s: {median:.3f} s → {verdict(median < TARGET_HELP_S)}"
    )
    report.append("")
    out["help"] = {"times_s": times, "median_s": median}


# -- profile: where tracekit's time goes, and measured candidate changes -------------
#
# Every experiment runs in a fresh child: ``python -c PROFILE_CHILD ROOT EXPERIMENT``
# imports this file and calls :func:`profile_child`. The candidates below change
# tracekit only inside that child, by monkeypatching (tracekit's files are not
# modified); they lean on TraceSet internals, so an experiment whose internals have
# moved is reported as not applicable instead of failing the run.

PROFILE_CHILD = """
import json, sys, time
T0 = time.perf_counter()
sys.path.insert(0, sys.argv[3])
import bench_analyze
print(json.dumps(bench_analyze.profile_child(sys.argv[1], sys.argv[2], T0)))
"""

CANDIDATES: dict[str, dict[str, bool]] = {
    "as is": {},
    "cat": {"cat": True},
    "cat+nobad": {"cat": True, "nobad": True},
    "cat+exact": {"cat": True, "exact": True},
    "cat+exact+nobad": {"cat": True, "exact": True, "nobad": True},
    "mat": {"cat": True, "nobad": True, "mat": True},
    "mat+kvonly": {"cat": True, "nobad": True, "mat": True, "kvonly": True},
    "footers": {"footers": True},
}
"""The candidate changes (see :func:`_candidate_analyze` and :func:`_install`):

* ``cat``: group keys (stage, verb, api, symbol, run_id) cast to Categorical right
  after the filter, ``status`` turned into a boolean before the group-by; the
  result is cast back to String (same output).
* ``exact``: stage and request percentiles by exact two-pass selection instead of
  a grouped ``quantile`` over every row: pass 1 is one streaming group-by on (group,
  1/64-octave bin) giving counts, max and sums; the bins holding the wanted ranks
  are then the only rows read in pass 2 (about 1% of them), sorted, and the order
  statistics interpolated exactly as polars' "linear".
* ``nobad``: no separate scan for null/negative durations in ``load()``: two
  counting queries join analyze's ``collect_all`` (the file-naming scan runs only
  when a bad row exists).
* ``mat``: read the files once (the needed columns, strings as Categorical/Enum)
  into memory, and run every query on that frame: one pass over the files.
* ``kvonly``: footer checks read only the key-value metadata, with polars
  (``pl.read_parquet_metadata``), not the schema with pyarrow; missing columns or
  wrong types would then be reported when polars reads the file.
* ``footers``: the same footer checks as today, without rebuilding the expected
  schema and the column-name list for every file.
"""

# Filled by _heavy_imports() in profile children only (the benchmark process stays small).
pl: Any = None
T: Any = None  # tracekit.analysis.traceset
S: Any = None  # tracekit.analysis.sources
SCHEMA: Any = None  # tracekit.store.schema
CHECK: Any = None  # tracekit.store.check
ERRORS: Any = None  # tracekit.errors

_NS = 1_000_000.0
_BINS_PER_OCTAVE = 64
_STR_KEYS = ("symbol", "run_id")


def _heavy_imports() -> None:
    global pl, T, S, SCHEMA, CHECK, ERRORS
    import polars

    import tracekit.analysis.sources
    import tracekit.analysis.traceset
    import tracekit.errors
    import tracekit.store.check
    import tracekit.store.schema

    pl, T, S = polars, tracekit.analysis.traceset, tracekit.analysis.sources
    SCHEMA, CHECK, ERRORS = tracekit.store.schema, tracekit.store.check, tracekit.errors


def _bin() -> Any:
    """The 1/64-octave bin of duration_ns (the same expression in both passes)."""
    d = pl.col("duration_ns").cast(pl.Float64).clip(lower_bound=1.0)
    return (d.log(2) * _BINS_PER_OCTAVE).floor().cast(pl.Int32)


class _Fresh:
    """A filtered LazyFrame whose every use starts from a new scan: one LazyFrame
    shared by several queries makes collect_all cache (materialise) it."""

    def __init__(self, base: Any, predicate: Any) -> None:
        self._base, self._predicate = base, predicate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base().filter(self._predicate), name)


class _Quantiles:
    """Exact p50/p95/p99 (linear interpolation) of duration_ns per group, two passes."""

    def __init__(self, rows: Any, keys: list[str], extra: Sequence[tuple[Any, str]] = ()) -> None:
        d = pl.col("duration_ns")
        self.rows, self.keys, self.extra = rows, keys, extra
        self.pass1 = (
            rows()
            .group_by([*keys, _bin().alias("_bin")])
            .agg(
                pl.len().alias("_c"),
                d.max().alias("_max"),
                d.sum().alias("_sum"),
                *(expr.sum().alias(f"_x{i}") for i, (expr, _) in enumerate(extra)),
            )
        )

    def plan_pass2(self, hist: Any) -> Any:
        keys, c = self.keys, pl.col("_c")
        grouped = hist.group_by(keys) if keys else hist.group_by(pl.lit(True).alias("_all"))
        stats = grouped.agg(
            c.sum().alias("n"),
            (pl.col("_max").max() / _NS).alias("max_ms"),
            (pl.col("_sum").sum() / c.sum() / _NS).alias("mean_ms"),
            *(
                (pl.col(f"_x{i}").sum() / c.sum()).alias(name)
                for i, (_, name) in enumerate(self.extra)
            ),
        ).drop("_all", strict=False)
        self.stats = stats = stats.with_row_index("_g")  # null keys join through _g
        self.ids = ids = stats.select(*keys, "_g")
        if keys:
            hist = hist.join(ids, on=keys, nulls_equal=True)
        else:
            hist = hist.with_columns(_g=pl.lit(0, pl.UInt32))
        hist = hist.sort("_g", "_bin").with_columns(c.cum_sum().over("_g").alias("_end"))
        parts = []
        for label, q in T.PERCENTILES:
            h = (pl.col("n") - 1).cast(pl.Float64) * q
            low = h.floor().cast(pl.Int64)
            high = (low + 1).clip(upper_bound=pl.col("n").cast(pl.Int64) - 1)
            for rank in (low, high):
                parts.append(
                    stats.select(
                        "_g", pl.lit(label).alias("_q"), rank.alias("_rank"), h.alias("_h")
                    )
                )
        starts = hist.select(
            "_g", "_bin", (pl.col("_end") - c).cast(pl.Int64).alias("_start")
        ).sort("_start")
        self.located = (
            pl.concat(parts)
            .sort("_rank")
            .join_asof(
                starts,
                left_on="_rank",
                right_on="_start",
                by="_g",
                strategy="backward",
                check_sortedness=False,
            )
        )
        bins = self.located.select("_g", "_bin").unique().join(ids, on="_g").drop("_g")
        return (
            self.rows()
            .with_columns(_bin().alias("_bin"))
            .join(bins.lazy(), on=[*self.keys, "_bin"], how="semi", nulls_equal=True)
            .select(*self.keys, "_bin", "duration_ns")
        )

    def finish(self, values: Any) -> Any:
        keys = self.keys
        if keys:
            values = values.join(self.ids, on=keys, nulls_equal=True)
        else:
            values = values.with_columns(_g=pl.lit(0, pl.UInt32))
        values = values.sort("_g", "_bin", "duration_ns").with_columns(
            pl.int_range(pl.len()).over("_g", "_bin").alias("_i")
        )
        by_rank = pl.col("duration_ns").sort_by("_rank")
        low, high = pl.col("_lo").cast(pl.Float64), pl.col("_hi").cast(pl.Float64)
        picked = (
            self.located.with_columns((pl.col("_rank") - pl.col("_start")).alias("_i"))
            .join(values.select("_g", "_bin", "_i", "duration_ns"), on=["_g", "_bin", "_i"])
            .group_by("_g", "_q")
            .agg(
                by_rank.first().alias("_lo"),
                by_rank.last().alias("_hi"),
                pl.col("_rank").min().alias("_r"),
                pl.col("_h").first(),
            )
            .select(
                "_g", "_q", ((low + (pl.col("_h") - pl.col("_r")) * (high - low)) / _NS).alias("_v")
            )
        )
        out = self.stats
        for label, _ in T.PERCENTILES:
            one = picked.filter(pl.col("_q") == label).select(
                "_g", pl.col("_v").alias(f"{label}_ms")
            )
            out = out.join(one, on="_g", how="left")
        latency = ["n", *(f"{label}_ms" for label, _ in T.PERCENTILES), "max_ms", "mean_ms"]
        rest = [c for c in out.columns if c not in (*keys, *latency, "_g")]
        return out.select(*keys, *latency, *rest)


def _candidate_analyze(
    self: Any,
    by: Sequence[str] = (),
    every: str | None = None,
    sketches: bool = False,
    *,
    cat: bool = False,
    exact: bool = False,
    nobad: bool = False,
    mat: bool = False,
) -> Any:
    """TraceSet.analyze with the candidate changes switched on (no sketches)."""
    from tracekit.analysis.result import Analysis

    if sketches:
        raise NotImplementedError("the candidates do not compute sketches")
    kind, detail = pl.col("kind"), pl.col("detail")
    by = T._check_by(by)
    frame, keys = self._keyed(self.scan(), by, every)
    if mat:
        window = [k for k in keys if k == T.WINDOW_COLUMN]
        details = [SCHEMA.DETAIL_SAMPLED, SCHEMA.DETAIL_DEADLINE_MISS, SCHEMA.DETAIL_NONE]
        frame = (
            frame.select(
                pl.col("run_id", "name", "symbol", "verb").cast(pl.Categorical),
                kind.cast(pl.Enum(list(SCHEMA.KINDS))),
                detail.cast(pl.Enum(details)),
                (pl.col("status") == SCHEMA.STATUS_ERROR).alias("status"),  # error?
                "tick_id",
                "duration_ns",
                "deadline_ns",
                "deadline_missed",
                "parallel_symbols",
                *window,
            )
            .collect(engine="streaming")
            .lazy()
        )
        cat = True
        is_error = pl.col("status")
    else:
        is_error = pl.col("status") == SCHEMA.STATUS_ERROR
    skeys = [k for k in keys if k in _STR_KEYS]

    def base() -> Any:
        return frame if mat else self._keyed(self.scan(), by, every)[0]

    def as_cat(name: str) -> Any:
        return pl.col(name).cast(pl.Categorical) if cat else pl.col(name)

    def strings(f: Any, cols: Sequence[str]) -> Any:
        return f.with_columns(pl.col(c).cast(pl.String) for c in cols if c in f.columns)

    ticks = _Fresh(base, kind == SCHEMA.KIND_TICK)
    spans = _Fresh(base, kind.is_in([SCHEMA.KIND_STAGE, SCHEMA.KIND_REQUEST]))
    guard_rows = _Fresh(base, kind == SCHEMA.KIND_GUARD)
    sampled = detail == SCHEMA.DETAIL_SAMPLED
    total = pl.lit(SCHEMA.TICK_TOTAL)
    columns = [*keys, "stage", "duration_ns"]

    def stage_rows() -> Any:
        return pl.concat(
            [
                spans.filter((kind == SCHEMA.KIND_STAGE) & sampled)
                .with_columns(as_cat("name").alias("stage"), *(as_cat(k) for k in skeys))
                .select(columns),
                ticks.with_columns(
                    (total.cast(pl.Categorical) if cat else total).alias("stage"),
                    *(as_cat(k) for k in skeys),
                ).select(columns),
            ]
        )

    def request_rows() -> Any:
        return spans.filter((kind == SCHEMA.KIND_REQUEST) & sampled).select(
            as_cat("verb"),
            as_cat("name").alias("api"),
            *(as_cat(k) for k in skeys),
            *(k for k in keys if k not in _STR_KEYS),
            "duration_ns",
            is_error.alias("_error"),
        )

    tick_keys = [k for k in keys if k != "symbol"]
    one = tick_keys or pl.lit(True).alias("_all")
    bad = pl.col("duration_ns").is_null() | (pl.col("duration_ns") < 0)
    others = [
        ticks.group_by(one).agg(
            pl.len().alias("ticks"),
            pl.col("deadline_missed").sum().alias("misses"),
            (detail != SCHEMA.DETAIL_NONE)
            .filter(pl.col("deadline_missed"))
            .sum()
            .alias("misses_with_detail"),
            (pl.col("deadline_ns").mean() / _NS).alias("deadline_ms"),
        ),
        _attribution(ticks, spans, keys, mat),
        ticks.group_by(one).agg(pl.len().alias("ticks")),
        guard_rows.group_by([*keys, pl.col("name").alias("reason")]).agg(pl.len().alias("trips")),
        ticks.group_by(one)
        .agg(
            pl.col("parallel_symbols").count().alias("n"),
            pl.col("parallel_symbols").min().alias("min"),
            pl.col("parallel_symbols").mean().alias("mean"),
            pl.col("parallel_symbols").max().alias("max"),
        )
        .drop("_all", strict=False)
        .sort(tick_keys or "n"),
    ]
    if nobad:
        others += [ticks.filter(bad).select(pl.len()), spans.filter(bad).select(pl.len())]
    stage_keys, request_keys = ["stage", *keys], ["verb", "api", *keys]
    if exact:
        sq = _Quantiles(stage_rows, stage_keys)
        error = (pl.col("_error").cast(pl.UInt32), "error_share")
        rq = _Quantiles(request_rows, request_keys, (error,))
        frames = pl.collect_all([sq.pass1, rq.pass1, *others], engine="streaming")
        values = pl.collect_all(
            [sq.plan_pass2(frames[0]), rq.plan_pass2(frames[1])], engine="streaming"
        )
        stages, requests = sq.finish(values[0]), rq.finish(values[1])
    else:
        frames = pl.collect_all(
            [
                stage_rows().group_by(stage_keys).agg(T._latency_aggregates()),
                request_rows()
                .group_by(request_keys)
                .agg(*T._latency_aggregates(), pl.col("_error").mean().alias("error_share")),
                *others,
            ],
            engine="streaming",
        )
        stages, requests = frames[0], frames[1]
    deadline, attribution, tick_counts, guards, parallel = frames[2:7]
    if nobad and (frames[7].item() or frames[8].item()):
        found = self._original_bad_values()
        raise ERRORS.InputError(found[0].reason if found else "a null or negative duration")
    if deadline.height == 0 or int(deadline["ticks"].sum()) == 0:
        raise ERRORS.EmptyDataError(f"{T._describe(self.files)}: no tick in the selection")
    if cat:
        stages = strings(stages, ["stage", *skeys])
        requests = strings(requests, ["verb", "api", *skeys])
    if mat:
        deadline, tick_counts, parallel, attribution = (
            strings(f, ["run_id"]) for f in (deadline, tick_counts, parallel, attribution)
        )
        guards = strings(guards, ["reason", *skeys])
    return Analysis(
        files=self.files,
        skipped=self.skipped,
        runs=self.runs,
        sample_rates=self.sample_rates,
        selection=self.selection,
        by=tuple(by),
        every=every,
        stages=self._select_stages(T._finish_stages(stages)),
        deadline=T._finish_deadline(deadline),
        attribution=attribution,
        guards=T._finish_guards(tick_counts, guards),
        requests=T._finish_stages(requests),
        parallel=parallel,
    )


def _attribution(ticks: Any, spans: Any, keys: Sequence[str], mat: bool) -> Any:
    """TraceSet._attribution_query, on the given tick and span rows."""
    keys = [k for k in keys if k not in ("symbol", T.WINDOW_COLUMN)]
    tick_key = ["run_id", "tick_id"]
    missed = (
        ticks.filter(pl.col("deadline_missed") & (pl.col("detail") != SCHEMA.DETAIL_NONE))
        .select(*tick_key)
        .unique()
    )
    name = pl.col("name").cast(pl.String) if mat else pl.col("name")
    component = (
        pl.when(pl.col("kind") == SCHEMA.KIND_REQUEST)
        .then(pl.lit("request:") + name)
        .otherwise(name)
    )
    per_tick = (
        spans.join(missed, on=tick_key, how="semi")
        .with_columns(component.alias("component"))
        .group_by([*tick_key, "component", "symbol"])
        .agg(pl.col("duration_ns").sum())
        .group_by([*tick_key, "component"])
        .agg(pl.col("duration_ns").max())
    )
    dominant = (
        per_tick.sort(
            [*tick_key, "duration_ns", "component"], descending=[False, False, True, False]
        )
        .group_by(tick_key)
        .agg(pl.col("component").first().alias("dominant"))
    )
    share = pl.col("ticks_dominated") / pl.col("ticks_dominated").sum().over(keys or pl.lit(True))
    return (
        per_tick.join(dominant, on=tick_key)
        .group_by([*keys, "component"])
        .agg(
            (pl.col("component") == pl.col("dominant")).sum().alias("ticks_dominated"),
            pl.len().alias("missed_ticks_present"),
            (pl.col("duration_ns").mean() / _NS).alias("mean_ms"),
        )
        .with_columns(share.alias("share"))
        .sort(
            [*keys, "ticks_dominated", "component"],
            descending=[*[False] * len(keys), True, False],
        )
    )


def _check_file_fast(path: str) -> dict[str, str]:
    """store.check.check_file's checks, building the expected schema once, not per file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet_schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ERRORS.InputError(f"{path}: not a readable Parquet file ({exc})") from None
    raw = parquet_schema.metadata or {}
    metadata = {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"tracekit.")}
    _check_version(path, metadata)
    types = {field.name: field.type for field in parquet_schema}
    expected = _expected_types()
    missing = [name for name in expected if name not in types]
    wrong = [name for name, t in expected.items() if name in types and not types[name].equals(t)]
    if missing or wrong:
        raise ERRORS.SchemaError(f"{path}: columns missing {missing} or of other types {wrong}")
    return metadata


_EXPECTED: dict[str, Any] = {}


def _expected_types() -> dict[str, Any]:
    if not _EXPECTED:
        _EXPECTED.update({field.name: field.type for field in SCHEMA.arrow_schema()})
    return _EXPECTED


def _check_version(path: str, metadata: dict[str, str]) -> None:
    version = metadata.get(SCHEMA.META_SCHEMA_VERSION, "")
    if not version.isdigit() or int(version) not in CHECK.SUPPORTED_SCHEMA_VERSIONS:
        raise ERRORS.SchemaError(f"{path}: not a golden trace of a supported schema version")


def _check_file_kv_only(path: str) -> dict[str, str]:
    """Only the key-value metadata, read by polars: no pyarrow, no schema decoding."""
    try:
        raw = pl.read_parquet_metadata(path)
    except Exception as exc:
        raise ERRORS.InputError(f"{path}: not a readable Parquet file ({exc})") from None
    metadata = {k: v for k, v in raw.items() if k.startswith("tracekit.")}
    _check_version(path, metadata)
    return metadata


def _install(flags: dict[str, bool]) -> None:
    """Monkeypatch tracekit, in this (child) process only."""
    if flags.get("footers"):
        S.check_file = _check_file_fast
    if flags.get("kvonly"):
        S.check_file = _check_file_kv_only
    analysis_flags = {k: v for k, v in flags.items() if k in ("cat", "exact", "nobad", "mat")}
    if analysis_flags:
        T.TraceSet._original_bad_values = T.TraceSet.bad_values

        def analyze(self: Any, by: Sequence[str] = (), every: str | None = None, **kw: Any) -> Any:
            return _candidate_analyze(self, by, every, **kw, **analysis_flags)

        T.TraceSet.analyze = analyze
    if flags.get("nobad"):
        T.TraceSet.bad_values = lambda self: []


def _tables(analysis: Any) -> dict[str, Any]:
    data = analysis.to_dict()
    names = ("stages", "deadline", "attribution", "guards", "requests", "parallel_symbols")
    return {name: data[name] for name in names}


def profile_child(root: str, experiment: str, started: float) -> dict[str, Any]:
    """Run one experiment in this (fresh) process; seconds since start at each mark."""
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.perf_counter() - started, 3)

    import tracekit.cli  # noqa: F401 - what `tracekit analyze` imports first

    _heavy_imports()
    import pyarrow.parquet  # noqa: F401 - imported by the footer checks

    mark("imports")
    result: dict[str, Any] = {"marks": marks}
    if experiment == "phases":
        sources = S.find_sources([root])
        mark("footer checks")
        traces = T.TraceSet(sources)
        traces.bad_values()
        mark("bad-value scan")
        analysis = traces.analyze()
        mark("analyze")
        analysis.to_json()
        mark("to_json")
    elif experiment.startswith("query:"):
        traces = T.TraceSet(S.find_sources([root]))
        mark("footer checks")
        query = {
            "stages": lambda: traces._stages_query((), None),
            "requests": lambda: traces._requests_query((), None),
            "attribution": lambda: traces._attribution_query(()),
            "deadline": lambda: traces._deadline_query((), None),
            "guards": lambda: pl.concat(
                [q.select(pl.len()) for q in traces._guard_queries((), None)]
            ),
            "parallel": lambda: traces._parallel_query((), None),
        }[experiment.removeprefix("query:")]()
        query.collect(engine="streaming")
        mark("query")
    else:
        _install(CANDIDATES[experiment.removeprefix("analyze:")])
        traces = T.load([root])
        mark("load")
        analysis = traces.analyze()
        mark("analyze")
        result["tables"] = _tables(analysis)
    return result


def same_tables(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal JSON structures, floats within ``tol`` relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_tables(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_tables(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)
    return bool(a == b)


@dataclass
class Experiment:
    label: str
    dataset: str
    wall_s: float
    cpu_s: float
    rss: int
    marks: dict[str, float]
    same: bool | None  # same tables as "as is" (analyze experiments only)
    error: str | None = None


def run_experiment(root: Path, experiment: str, reps: int) -> tuple[Experiment, Any]:
    cmd = [PYTHON, "-c", PROFILE_CHILD, str(root), experiment, str(BENCH_DIR)]
    try:
        run_child(cmd)  # warm-up
        runs = []
        for _ in range(reps):
            wait_for_quiet()
            runs.append(run_child(cmd))
    except BenchError as exc:
        last = str(exc).strip().splitlines()[-1]
        print(f"  {experiment:<28} {root.name:<24} not applicable: {last}", flush=True)
        return Experiment(experiment, root.name, 0, 0, 0, {}, None, last), None
    run = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    data = json.loads(run.stdout.strip().splitlines()[-1])
    result = Experiment(
        experiment,
        root.name,
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        max(r.maxrss_bytes for r in runs),
        data["marks"],
        None,
    )
    print(
        f"  {experiment:<28} {root.name:<24} {result.wall_s:6.2f} s  cpu {result.cpu_s:6.2f} s"
        f"  {fmt_mib(result.rss):>10}  {result.marks}",
        flush=True,
    )
    return result, data.get("tables")


def run_profile(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    main_root = dataset(args.data, args.rows, args.files)
    many = dataset(args.data, args.many_rows, args.many_files)
    one = dataset(args.data, args.many_rows, 1)
    roots = [main_root, many, one]
    if args.big:
        roots.append(dataset(args.data, args.big_rows, args.big_files))
    print("\nprofile")
    results: list[Experiment] = []
    for root in (main_root, many):
        results.append(run_experiment(root, "phases", args.reps)[0])
    for name in ("stages", "requests", "attribution", "deadline", "guards", "parallel"):
        results.append(run_experiment(main_root, f"query:{name}", args.reps)[0])
    plans = {
        main_root.name: ["as is", "cat", "cat+nobad", "cat+exact", "cat+exact+nobad", "mat"],
        many.name: ["as is", "footers", "cat+nobad", "cat+exact+nobad", "mat", "mat+kvonly"],
        one.name: ["as is", "footers", "cat+nobad", "cat+exact+nobad", "mat", "mat+kvonly"],
    }
    for root in roots:
        big = root.name not in plans
        reference = None
        for candidate in plans.get(root.name, ["as is", "cat", "cat+exact+nobad"]):
            result, tables = run_experiment(root, f"analyze:{candidate}", 1 if big else args.reps)
            if candidate == "as is":
                reference = tables
            elif tables is not None and reference is not None:
                result.same = same_tables(reference, tables)
            results.append(result)
    report.append(
        f"### Profile: median of {args.reps} runs in fresh processes "
        "(marks: seconds since the child started)"
    )
    report.append("")
    report.append("| experiment | data | wall s | CPU s | peak RSS | same tables | marks |")
    report.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
    for r in results:
        if r.error is not None:
            report.append(f"| {r.label} | {r.dataset} | - | - | - | - | not applicable |")
            continue
        shown = ", ".join(f"{k} {v:.2f}" for k, v in r.marks.items())
        same = "" if r.same is None else ("yes" if r.same else "NO")
        report.append(
            f"| {r.label} | {r.dataset} | {r.wall_s:.2f} | {r.cpu_s:.2f} | {fmt_mib(r.rss)} "
            f"| {same} | {shown} |"
        )
    report.append("")
    out["profile"] = [asdict(r) for r in results]


# -- the machine ---------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_total() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def git_state() -> str:
    """The commit measured, and whether tracekit/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "tracekit"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (f" + {len(changed)} changed files in tracekit/" if changed else "")


def machine() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "tracekit_tree": git_state(),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory": mem_total(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **{name: version(name) for name in ("tracekit", "polars", "duckdb", "pyarrow", "numpy")},
    }


# -- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2M rows, 1,000 files: a smoke run")
    parser.add_argument("--big", action="store_true", help="also the 100M-row scenario")
    parser.add_argument("--profile", action="store_true", help="only the profile experiments")
    parser.add_argument(
        "--only",
        action="append",
        choices=("main", "many", "help", "big"),
        help="run only these scenarios (repeatable)",
    )
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each contender")
    parser.add_argument("--help-runs", type=int, default=10, help="runs of tracekit --help")
    parser.add_argument("--no-extra", action="store_true", help="skip the information rows")
    parser.add_argument(
        "--no-wait", action="store_true", help="do not wait for a quiet machine before each run"
    )
    parser.add_argument("--rows", type=int, help="rows of the main scenario (20M; quick 2M)")
    parser.add_argument("--files", type=int, default=20, help="files of the main scenario")
    parser.add_argument("--many-rows", type=int, help="rows of the many-files scenario")
    parser.add_argument("--many-files", type=int, help="files of the many-files scenario")
    parser.add_argument("--big-rows", type=int, default=100_000_000)
    parser.add_argument("--big-files", type=int, default=100)
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="dataset folder")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = 2_000_000 if args.quick else 20_000_000
    if args.many_files is None:
        args.many_files = 1_000 if args.quick else 10_000
    if args.many_rows is None:
        args.many_rows = 640 * args.many_files  # about 100 ticks a file, the tracer's default
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    global QUIET_ENABLED
    QUIET_ENABLED = not args.no_wait
    started = time.perf_counter()
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    report: list[str] = []
    out: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        if args.profile:
            run_profile(args, report, out)
        else:
            wanted = args.only or ["main", "many", "help", *(["big"] if args.big else [])]
            for name, scenario in (
                ("main", run_main),
                ("many", run_many),
                ("help", run_help),
                ("big", run_big),
            ):
                if name in wanted:
                    scenario(args, report, out)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n" + "\n".join(report))
    waited = sum(waits)
    print(
        f"(bench took {time.perf_counter() - started:.0f} s; the quiet-machine checks took "
        f"{waited:.0f} s, and {sum(w >= 1 for w in waits)} of {len(waits)} timed runs had to "
        "wait for other processes)"
    )
    out["quiet_waits_s"] = waits
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
