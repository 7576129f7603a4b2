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
  the report: stages with inclusive and self time, deadline, attribution, guards,
  requests, parallel symbols);
* ``tracekit --no-self-time`` (information): the same without the stages' self time;
* ``duckdb all tables + self time``: every table tracekit computes, in SQL, with
  the stages' self-time percentiles (the same rule as ``tracekit.analysis.queries``,
  written as joins): the like-for-like reference of the default analyze;
* ``duckdb stages``: the docs/schema.md per-stage and ``tick_total`` queries
  (``quantile_cont`` p50/p95/p99, count, max, mean; stages from
  ``detail = 'sampled'`` stage rows, ``tick_total`` from tick rows), merged into
  one scan, in ``python -c`` with the duckdb module: the reference of the targets;
* ``duckdb all tables`` (information): every table tracekit computes, in SQL;
* ``polars stages`` (information): the stage query alone in plain polars
  (streaming engine): what polars itself needs for the reference query.

Answers are checked: every figure of tracekit's stage table (n, p50, p95, p99,
max, mean) must match DuckDB's within 1e-6 relative.

``--profile`` times tracekit's phases and single tables in fresh children, through
tracekit's public API.

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

DUCKDB_SELF = """
q = "quantile_cont((duration_ns - coalesce(c, 0)) / 1e6, [0.5, 0.95, 0.99])"
out["self"] = con.sql(f'''
    WITH s AS (
        SELECT run_id, tick_id, symbol, kind, name, start_unix_ns AS b, duration_ns,
               start_unix_ns + duration_ns AS e, row_number() OVER () AS id
        FROM {src} WHERE kind IN ('stage', 'request') AND detail = 'sampled'),
    pairs AS (
        SELECT p.id, c.b AS cs, c.e AS ce FROM s p JOIN s c
        ON p.run_id = c.run_id AND p.tick_id = c.tick_id
           AND p.symbol IS NOT DISTINCT FROM c.symbol AND p.kind = 'stage'
           AND c.b >= p.b AND c.e <= p.e AND c.id <> p.id
           AND (c.b > p.b OR c.e < p.e OR c.kind = 'request')),
    reach AS (
        SELECT id, cs, ce, max(ce) OVER (PARTITION BY id ORDER BY cs, ce
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS r FROM pairs),
    covered AS (
        SELECT id, sum(greatest(0, ce - greatest(cs, coalesce(r, cs)))) AS c
        FROM reach GROUP BY id)
    SELECT name, {q}, avg((duration_ns - coalesce(c, 0)) / 1e6)
    FROM s LEFT JOIN covered USING (id) WHERE kind = 'stage' GROUP BY name
''').fetchall()
print(json.dumps({"self": out["self"]}))
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
    env: tuple[tuple[str, str], ...] = ()  # set in the child's environment

    def command(self, root: Path) -> list[str]:
        if self.key in ("tracekit", "tracekit_cold"):
            return [TRACEKIT, "analyze", str(root), "--format", "json"]
        if self.key == "tracekit_inclusive":
            return [TRACEKIT, "analyze", str(root), "--format", "json", "--no-self-time"]
        script = {
            "duckdb": DUCKDB_STAGES,
            "duckdb_all": DUCKDB_ALL,
            "duckdb_self": DUCKDB_ALL.rsplit("print(", 1)[0] + DUCKDB_SELF,
            "polars": POLARS_STAGES,
        }[self.key]
        return [PYTHON, "-c", script, str(root)]


TRACEKIT_C = Contender("tracekit", "tracekit analyze", True)
TRACEKIT_COLD_C = Contender(
    "tracekit_cold",
    "tracekit analyze, no footer cache",
    True,
    (("TRACEKIT_FOOTER_CACHE", "0"),),
)
DUCKDB_C = Contender("duckdb", "duckdb stages", True)
DUCKDB_ALL_C = Contender("duckdb_all", "duckdb all tables (info)", False)
POLARS_C = Contender("polars", "polars stages (info)", True)
TRACEKIT_INCLUSIVE_C = Contender("tracekit_inclusive", "tracekit --no-self-time (info)", False)
DUCKDB_SELF_C = Contender("duckdb_self", "duckdb all tables + self time", False)


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


def run_child(cmd: Sequence[str], env: Sequence[tuple[str, str]] = ()) -> Run:
    """Run ``cmd`` to completion (``env`` added to its environment); its wall time
    and its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        out_path, err_path, report = (Path(tmp) / n for n in ("out", "err", "report"))
        with out_path.open("wb") as out, err_path.open("wb") as err:
            subprocess.run(
                [PYTHON, "-S", "-c", LAUNCHER, str(report), *cmd],
                stdout=out,
                stderr=err,
                check=False,
                env={**os.environ, **dict(env)},
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
        outputs[contender.key] = run_child(contender.command(root), contender.env).stdout
    for rep in range(reps):
        for contender, result in zip(contenders, results, strict=True):
            waited = wait_for_quiet()
            run = run_child(contender.command(root), contender.env)
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


def self_time_check(tracekit_stdout: str, duckdb_stdout: str) -> float:
    """Largest relative difference of the stages' self p50/p95/p99/mean, tracekit
    against DuckDB's SQL (``inf`` when a stage is missing)."""
    rows = json.loads(tracekit_stdout)["stages"]
    ours = {row["stage"]: row for row in rows}
    worst = 0.0
    for name, quantiles, mean in json.loads(duckdb_stdout.strip().splitlines()[-1])["self"]:
        if name not in ours:
            return float("inf")
        fields = ("self_p50_ms", "self_p95_ms", "self_p99_ms", "self_mean_ms")
        for field_name, theirs in zip(fields, [*quantiles, mean], strict=True):
            a = ours[name][field_name]
            if a is None:
                return float("inf")
            worst = max(worst, abs(a - theirs) / max(abs(a), abs(theirs), 1e-300))
    return worst


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
    infos = [TRACEKIT_INCLUSIVE_C, DUCKDB_ALL_C, DUCKDB_SELF_C, POLARS_C] if extra else []
    contenders = [TRACEKIT_C, DUCKDB_C, *infos]
    results, outputs = measure(contenders, root, reps)
    by_key = {r.key: r for r in results}
    reference = stage_table("duckdb", outputs["duckdb"])
    checks = {
        c.key: compare(reference, stage_table(c.key, outputs[c.key]))
        for c in contenders
        if c.stages_json and c.key != "duckdb"
    }
    tk, db = by_key["tracekit"], by_key["duckdb"]
    like = by_key.get("duckdb_self")
    inclusive, duck_all = by_key.get("tracekit_inclusive"), by_key.get("duckdb_all")
    summary = {
        "dataset": str(root),
        "rows": params.get("rows"),
        "files": manifest.get("files"),
        "bytes": manifest.get("bytes"),
        "results": [r.summary() for r in results],
        "time_ratio": tk.median_s / db.median_s,
        "rss_ratio": tk.max_rss / db.max_rss,
        "answers": checks,
        "self_time_max_rel_diff": (
            self_time_check(outputs["tracekit"], outputs["duckdb_self"]) if like else None
        ),
        "like_for_like_time_ratio": tk.median_s / like.median_s if like else None,
        "like_for_like_rss_ratio": tk.max_rss / like.max_rss if like else None,
        "inclusive_time_ratio": (
            inclusive.median_s / duck_all.median_s if inclusive and duck_all else None
        ),
        "inclusive_rss_ratio": (
            inclusive.max_rss / duck_all.max_rss if inclusive and duck_all else None
        ),
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
    if like:
        report.append(
            f"- self time, tracekit vs DuckDB's SQL: largest relative difference "
            f"{summary['self_time_max_rel_diff']:.1e}"
        )
    out[name] = summary
    return summary


def run_main(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    root = dataset(args.data, args.rows, args.files)
    s = scenario_versus("main", root, args.reps, not args.no_extra, report, out)
    report.append(
        f"- vs DuckDB's stage table alone: time {s['time_ratio']:.2f}x, "
        f"peak RSS {s['rss_ratio']:.2f}x"
    )
    if s["like_for_like_time_ratio"] is not None:
        t, r = s["like_for_like_time_ratio"], s["like_for_like_rss_ratio"]
        report.append(
            f"- target (the same tables, self time included) time ≤ DuckDB: {t:.2f}x → "
            f"{verdict(t <= TARGET_TIME_RATIO)}; peak RSS ≤ 1.5x DuckDB: {r:.2f}x → "
            f"{verdict(r <= TARGET_RSS_RATIO)}"
        )
        t, r = s["inclusive_time_ratio"], s["inclusive_rss_ratio"]
        report.append(
            f"- inclusive only (--no-self-time vs DuckDB every table without self time): "
            f"time {t:.2f}x, peak RSS {r:.2f}x"
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
    # The untimed first run of each contender fills the footer cache (the files are
    # older than its 2 s settle time): timed tracekit runs find it warm, as a second
    # analysis of the same files does; the cold contender has the cache off.
    contenders = [TRACEKIT_C, TRACEKIT_COLD_C, DUCKDB_C]
    results: list[Result] = []
    outputs: dict[str, dict[str, str]] = {}
    for root in (many, one):
        res, outs = measure(contenders, root, args.reps)
        results.extend(res)
        outputs[root.name] = outs
    by = {(r.key, r.dataset): r for r in results}
    tk_ratio = by["tracekit", many.name].median_s / by["tracekit", one.name].median_s
    cold_ratio = by["tracekit_cold", many.name].median_s / by["tracekit_cold", one.name].median_s
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
        f"- tracekit {args.many_files:,} files ÷ one file, footer cache warm: "
        f"{tk_ratio:.2f}x (target ≤ 3x) → {verdict(tk_ratio <= TARGET_MANY_FILES_RATIO)}; "
        f"with no footer cache: {cold_ratio:.2f}x → "
        f"{verdict(cold_ratio <= TARGET_MANY_FILES_RATIO)}; DuckDB: {db_ratio:.2f}x"
    )
    report.append(
        f"- tracekit's answers on both layouts: {'identical' if same['agree'] else 'DIFFER'}"
    )
    report.append("")
    out["many"] = {
        "results": [r.summary() for r in results],
        "tracekit_ratio": tk_ratio,
        "tracekit_cold_ratio": cold_ratio,
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


# -- profile: where tracekit's time goes --------------------------------------------
#
# Every experiment runs in a fresh child: ``python -c PROFILE_CHILD ROOT EXPERIMENT``
# imports this file and calls :func:`profile_child`, which uses tracekit's public API
# only (``tracekit.load`` and the ``TraceSet`` table methods). polars 2.1 has no
# ``LazyFrame.profile``; run ``py-spy record`` on a child for a flame graph.

PROFILE_CHILD = """
import json, sys, time
T0 = time.perf_counter()
sys.path.insert(0, sys.argv[3])
import bench_analyze
print(json.dumps(bench_analyze.profile_child(sys.argv[1], sys.argv[2], T0)))
"""

TABLES = ("stages", "requests", "attribution", "deadline", "guards", "parallel")
"""The TraceSet methods timed one at a time (``query:NAME``)."""


def profile_child(root: str, experiment: str, started: float) -> dict[str, Any]:
    """Run one experiment in this (fresh) process; seconds since start at each mark."""
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.perf_counter() - started, 3)

    import tracekit
    import tracekit.cli  # what `tracekit analyze` imports first

    mark("imports")
    traces = tracekit.load([root])
    mark("load")
    if experiment == "phases":
        traces.analyze(self_time=False)
        mark("analyze, inclusive only")
        traces.analyze().to_json()
        mark("analyze with self time")
    elif experiment.startswith("query:"):
        name = experiment.removeprefix("query:")
        if name == "stages":
            traces.stages(self_time=False)
            mark("stages, inclusive")
            traces.stages()
            mark("stages with self time")
        else:
            getattr(traces, name)()
            mark(name)
    else:
        raise BenchError(f"unknown experiment {experiment!r}")
    return {"marks": marks}


@dataclass
class Experiment:
    label: str
    dataset: str
    wall_s: float
    cpu_s: float
    rss: int
    marks: dict[str, float]


def run_experiment(root: Path, experiment: str, reps: int) -> Experiment:
    cmd = [PYTHON, "-c", PROFILE_CHILD, str(root), experiment, str(BENCH_DIR)]
    run_child(cmd)  # warm-up
    runs = []
    for _ in range(reps):
        wait_for_quiet()
        runs.append(run_child(cmd))
    run = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    data = json.loads(run.stdout.strip().splitlines()[-1])
    result = Experiment(
        experiment,
        root.name,
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        max(r.maxrss_bytes for r in runs),
        data["marks"],
    )
    print(
        f"  {experiment:<20} {root.name:<24} {result.wall_s:6.2f} s  cpu {result.cpu_s:6.2f} s"
        f"  {fmt_mib(result.rss):>10}  {result.marks}",
        flush=True,
    )
    return result


def run_profile(args: argparse.Namespace, report: list[str], out: dict[str, Any]) -> None:
    main_root = dataset(args.data, args.rows, args.files)
    many = dataset(args.data, args.many_rows, args.many_files)
    print("\nprofile")
    results: list[Experiment] = []
    for root in (main_root, many):
        results.append(run_experiment(root, "phases", args.reps))
    for name in TABLES:
        results.append(run_experiment(main_root, f"query:{name}", args.reps))
    report.append(
        f"### Profile: median of {args.reps} runs in fresh processes "
        "(marks: seconds since the child started)"
    )
    report.append("")
    report.append("| experiment | data | wall s | CPU s | peak RSS | marks |")
    report.append("| --- | --- | ---: | ---: | ---: | --- |")
    for r in results:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in r.marks.items())
        report.append(
            f"| {r.label} | {r.dataset} | {r.wall_s:.2f} | {r.cpu_s:.2f} | {fmt_mib(r.rss)} "
            f"| {shown} |"
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
    # tracekit's footer cache of this run only: neither the user's nor a stale one.
    cache = tempfile.TemporaryDirectory(prefix="bench-analyze-cache-")
    os.environ["TRACEKIT_CACHE_DIR"] = cache.name
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
    finally:
        cache.cleanup()
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
