#!/usr/bin/env bash
# Regenerates every dataset in samples/ from the simulator. Deterministic: the same
# tracekit version writes the same rows. Run from the repository root:
#   bash samples/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -rf baseline current canary
sim() { tracekit simulate --ticks 3000 --symbols 8 "$@" >/dev/null; }
# baseline: two runs of the reference build
sim -o baseline --seed 1 --run-id baseline-1
sim -o baseline --seed 2 --run-id baseline-2
# current: two runs with a real regression in one stage (spread +10%)
sim -o current --seed 11 --run-id current-1 --slow spread=+10%
sim -o current --seed 12 --run-id current-2 --slow spread=+10%
# canary: control keeps per-symbol requests, canary ships async batching
sim -o canary/control --seed 21 --run-id control-1
sim -o canary/canary --seed 22 --run-id canary-1 --batching
du -sh . | sed 's/^/samples size: /'
