"""``tracekit analyze`` of this tree against an older commit's, interleaved in one run.

Usage::

    python bench/bench_analyze_ab.py                     # against OLD_REF, 20M rows, ~3 min
    python bench/bench_analyze_ab.py --old REF --rounds 9
    python bench/bench_analyze_ab.py --rows 2000000 --files 4 --rounds 3   # a smoke run
    python bench/bench_analyze_ab.py --json ab.json

Method. The older ``tracekit/`` is taken from git (``git archive REF tracekit``) and
unpacked into a temporary folder; its CLI is this interpreter's ``tracekit`` script
run with ``PYTHONPATH`` set to that folder (which comes before the installed package
on ``sys.path``), so both sides share the interpreter, the dependencies and the
dataset, and differ only in ``tracekit/``. Each run is a fresh process started by
bench/bench_analyze.py's launcher (wall time, the child's CPU time, its own peak
RSS). Rounds are interleaved: each round runs, for both modes (the default, with
self time, and ``--no-self-time``), the old and the new CLI back to back in a random
order, so the load of a shared machine and its drift hit both alike. For each mode
the table gives each side's medians and the median (and range) of the per-round
ratios new / old of the two runs made back to back: on a shared machine, the paired
ratio is the figure to read, not the medians. The answers are checked too: every
number of the two JSON documents, the largest relative difference.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_analyze import BENCH_DIR, TRACEKIT, Run, dataset, fmt_mib, run_child

OLD_REF = "0c3abbe"  # main before the numpy percentile kernel (session 5)
MODES = {"default (self time)": [], "--no-self-time": ["--no-self-time"]}
SIDES = ("old", "new")
AGREE_REL = 1e-9  # answers must agree this closely (the DuckDB tolerance of docs/analysis.md)


@dataclass
class Side:
    runs: list[Run] = field(default_factory=list)

    def median(self, what: str) -> float:
        return float(statistics.median(float(getattr(run, what)) for run in self.runs))


def unpack_old(ref: str, folder: Path) -> str:
    """``tracekit/`` of ``ref`` unpacked into ``folder``; the full commit id."""
    repo = BENCH_DIR.parent
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", commit, "tracekit"], cwd=repo, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return commit


def command(side: str, old_folder: Path, root: Path, extra: list[str]) -> list[str]:
    cmd = [TRACEKIT, "analyze", str(root), "--format", "json", *extra]
    if side == "old":
        return ["env", f"PYTHONPATH={old_folder}", *cmd]
    return ["env", "-u", "PYTHONPATH", *cmd]


def largest_difference(a: Any, b: Any, path: str = "") -> tuple[float, str]:
    """The largest relative difference between two JSON documents' numbers, and where.

    Raises ValueError when their shapes or non-numbers differ (timings excepted)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            raise ValueError(f"{path or '/'}: keys differ: {sorted(set(a) ^ set(b))}")
        worst = (0.0, "")
        for key in a:
            worst = max(worst, largest_difference(a[key], b[key], f"{path}.{key}"))
        return worst
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise ValueError(f"{path}: {len(a)} items against {len(b)}")
        worst = (0.0, "")
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            worst = max(worst, largest_difference(x, y, f"{path}[{index}]"))
        return worst
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if a == b:
            return (0.0, path)
        return (abs(a - b) / max(abs(a), abs(b)), path)
    if a != b and not path.endswith(("elapsed_s", "generated_at")):
        raise ValueError(f"{path}: {a!r} against {b!r}")
    return (0.0, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default=OLD_REF, help=f"git ref of the older tracekit ({OLD_REF})")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="dataset folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run order")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()

    root = dataset(args.data, args.rows, args.files)
    order = random.Random(args.seed)
    sides: dict[tuple[str, str], Side] = {(m, s): Side() for m in MODES for s in SIDES}
    ratios: dict[str, dict[str, list[float]]] = {m: {"wall_s": [], "cpu_s": []} for m in MODES}
    answers: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-analyze-ab-") as tmp:
        old_folder = Path(tmp)
        commit = unpack_old(args.old, old_folder)
        print(f"old: {args.old} ({commit[:12]}), new: the working tree; {root}")
        for mode, extra in MODES.items():  # warm-up (page cache) and the answers
            outputs = {}
            for side in SIDES:
                outputs[side] = json.loads(run_child(command(side, old_folder, root, extra)).stdout)
            answers[mode] = largest_difference(outputs["old"], outputs["new"])
        for round_no in range(1, args.rounds + 1):
            for mode, extra in MODES.items():
                pair: dict[str, Run] = {}
                for side in order.sample(SIDES, 2):
                    pair[side] = run = run_child(command(side, old_folder, root, extra))
                    sides[mode, side].runs.append(run)
                    print(
                        f"  [{round_no}/{args.rounds}] {mode:20} {side}: {run.wall_s:6.2f} s "
                        f"(cpu {run.cpu_s:6.2f} s) {fmt_mib(run.maxrss_bytes):>10}",
                        flush=True,
                    )
                for what in ("wall_s", "cpu_s"):
                    ratios[mode][what].append(
                        getattr(pair["new"], what) / getattr(pair["old"], what)
                    )

    print()
    print(f"### tracekit analyze, {args.old} ({commit[:12]}) against the working tree")
    print(f"{args.rows:,} rows in {args.files} files, {args.rounds} interleaved rounds\n")
    print(
        "| mode | old: wall s | CPU s | peak RSS | new: wall s | CPU s | peak RSS "
        "| new ÷ old, paired: wall | CPU |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    report: dict[str, Any] = {"old": commit, "rows": args.rows, "files": args.files, "modes": {}}
    for mode in MODES:
        old, new = sides[mode, "old"], sides[mode, "new"]
        wall, cpu = ratios[mode]["wall_s"], ratios[mode]["cpu_s"]
        print(
            f"| {mode} | {old.median('wall_s'):.2f} | {old.median('cpu_s'):.2f} "
            f"| {fmt_mib(old.median('maxrss_bytes'))} | {new.median('wall_s'):.2f} "
            f"| {new.median('cpu_s'):.2f} | {fmt_mib(new.median('maxrss_bytes'))} "
            f"| {statistics.median(wall):.3f} ({min(wall):.2f}-{max(wall):.2f}) "
            f"| {statistics.median(cpu):.3f} ({min(cpu):.2f}-{max(cpu):.2f}) |"
        )
        report["modes"][mode] = {
            side: [run.__dict__ | {"stdout": None} for run in sides[mode, side].runs]
            for side in SIDES
        } | {"ratios": ratios[mode], "largest_difference": answers[mode][0]}
    print()
    agree = True
    for mode, (difference, where) in answers.items():
        ok = difference <= AGREE_REL
        agree &= ok
        print(
            f"- answers, {mode}: largest relative difference {difference:.1e}"
            + (f" at {where}" if difference else "")
            + ("" if ok else f" (more than {AGREE_REL:g}: DIFFER)")
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
