#!/usr/bin/env bash
# Runs the HTTP suite of two builds of alert-ledger-bench one after the other, ROUNDS
# times (old, new, old, new, …), so both see the same machine state; prints, per load
# level, each run's ledger/peer ratio and the median of each build's ratios.
#
#   bench/scripts/alternate-http.sh OLD_BIN NEW_BIN [ROUNDS] [SECS_PER_LEVEL]
#
# OLD_BIN and NEW_BIN are `alert-ledger-bench` binaries built from the two commits
# (e.g. in two `git worktree`s). Needs PostgreSQL for the peer (ALERT_LEDGER_BENCH_PG).
set -euo pipefail
old="$1"; new="$2"; rounds="${3:-3}"; secs="${4:-5}"
out="$(mktemp -d)"
echo "JSON of every run: $out" >&2
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    bin="$old"; [ "$build" = new ] && bin="$new"
    echo "round $round: $build ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$bin" http --http-secs "$secs" --repeats 1 --json "$out/$build-$round.json" >/dev/null
  done
done
python3 - "$out" <<'PY'
import json, sys, glob, os, statistics, re
out = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    build, _ = os.path.basename(path)[:-5].split("-")
    for row in json.load(open(path))["rows"]:
        name, peer = row.get("operation", ""), row.get("peer")
        if "incident mix" not in name or not peer:
            continue
        level = int(re.search(r"(\d+) conn", name).group(1))
        runs.setdefault((level, build), []).append((row["ledger"]["median"], peer["median"]))
med = statistics.median
print("| connections | old ratios | new ratios | old median | new median | new/old ratio | ledger ops/s old → new (medians) |")
print("|---:|---|---|---:|---:|---:|---|")
for level in sorted({level for level, _ in runs}):
    o, n = runs.get((level, "old"), []), runs.get((level, "new"), [])
    ro, rn = [l / p for l, p in o], [l / p for l, p in n]
    fmt = lambda xs: ", ".join(f"{x:.2f}×" for x in xs)
    lo, ln = med([l for l, _ in o]), med([l for l, _ in n])
    print(f"| {level} | {fmt(ro)} | {fmt(rn)} | {med(ro):.2f}× | {med(rn):.2f}× | {med(rn)/med(ro):.2f} | {lo:,.0f} → {ln:,.0f} ({ln/lo:.2f}) |")
PY
