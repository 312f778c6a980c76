#!/usr/bin/env bash
# Compression throughput: sweep's `compress` (zstd level 3, one thread) against the zstd
# command-line tool (`zstd -3 -T1 --rm`) on the same CSV-like data, side by side in one
# run, each tool on its own fresh copy of the tree, medians of --runs.
#
#   bench/compress.sh [--sweep BIN] [--mib 1024] [--files 16] [--runs 3] [--dir DIR]
#
# The data (generated once, not timed) is --files files of --mib/--files MiB each, in one
# partition old enough to be compressed and young enough to be kept. A fresh copy is made
# before each timed run, warm in the page cache, for both tools alike.
# sweep also syncs each compressed file and its directory before unlinking the original
# (its crash-safety); zstd does not. Prints MiB/s per tool and sweep's share of zstd's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SWEEP=""; MIB=1024; FILES=16; RUNS=3; DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) SWEEP=$2; shift 2;; --mib) MIB=$2; shift 2;; --files) FILES=$2; shift 2;;
    --runs) RUNS=$2; shift 2;; --dir) DIR=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v zstd >/dev/null || { echo "zstd (the command-line tool) is needed: apt-get install zstd" >&2; exit 2; }
if [ -z "$SWEEP" ]; then
  (cd "$here/.." && cargo build --release --quiet)
  SWEEP="$here/../target/release/sweep"
fi
DIR=${DIR:-$(mktemp -d /var/tmp/sweep-compress.XXXXXX)}
mkdir -p "$DIR"
chattr +T "$DIR" 2>/dev/null || true
src="$DIR/source/2024-07-01"
if [ ! -d "$src" ]; then
  mkdir -p "$src"
  python3 - "$src" "$MIB" "$FILES" <<'PY'
import os, random, sys
out, mib, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = mib * 1024 * 1024 // files
rng = random.Random(7)
syms = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "JPM", "XOM", "BRK.B"]
seq = 0
# Trades: a rising sequence number and clock, random prices, sizes, sides and ids, so the
# data never repeats (no long-range matches a real day would not have).
for f in range(files):
    with open(os.path.join(out, f"trades-{f:03}.csv"), "wb") as fh:
        written = 0
        while written < size:
            rows = []
            for _ in range(10000):
                seq += 1
                us = seq * 137
                rows.append(f"{seq},2024-07-01T{9 + us // 3600000000 % 8:02}:{us // 60000000 % 60:02}:{us // 1000000 % 60:02}.{us % 1000000:06},{syms[rng.getrandbits(3) % 10]},{rng.randrange(1000, 90000) / 100},{rng.randrange(1, 5000)},{'BS'[rng.getrandbits(1)]},{rng.getrandbits(30)}\n")
            chunk = "".join(rows).encode()[: size - written]
            fh.write(chunk)
            written += len(chunk)
PY
fi
total=$(du -sb "$src" | cut -f1)
policy="$DIR/policy.yaml"
cat >"$policy" <<EOF
version: 1
policies:
  - name: bench
    root: $DIR/tree
    timezone: UTC
    layouts: ["%Y-%m-%d/*"]
    keep: 30d
    compress: {after: 2d, format: zstd, level: 3}
EOF
fresh() { rm -rf "$DIR/tree"; mkdir -p "$DIR/tree"; cp -r "$src" "$DIR/tree/"; cat "$DIR"/tree/*/* >/dev/null; sync; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
: >"$DIR/sweep.times"; : >"$DIR/zstd.times"
for r in $(seq "$RUNS"); do
  fresh
  t0=$(now); "$SWEEP" apply -c "$policy" --now 2024-07-12T12:00:00Z --jobs 1 \
    --lock-file "$DIR/lock" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >>"$DIR/sweep.times"
  sweep_out=$(du -sb "$DIR/tree" | cut -f1)
  fresh
  t0=$(now); zstd -3 -T1 -q --rm "$DIR"/tree/2024-07-01/*.csv; t1=$(now)
  echo "$t1 - $t0" | bc >>"$DIR/zstd.times"
  zstd_out=$(du -sb "$DIR/tree" | cut -f1)
done
s=$(median <"$DIR/sweep.times"); z=$(median <"$DIR/zstd.times")
mib=$(echo "$total / 1048576" | bc -l)
printf 'data: %d files, %.0f MiB of CSV-like rows; %d runs, medians\n' "$FILES" "$mib" "$RUNS"
printf '%-22s %8s %10s %12s\n' tool seconds MiB/s "output MiB"
printf '%-22s %8.2f %10.1f %12.1f\n' "sweep compress (zstd 3)" "$s" "$(echo "$mib / $s" | bc -l)" "$(echo "$sweep_out / 1048576" | bc -l)"
printf '%-22s %8.2f %10.1f %12.1f\n' "zstd -3 -T1" "$z" "$(echo "$mib / $z" | bc -l)" "$(echo "$zstd_out / 1048576" | bc -l)"
printf 'sweep reaches %.0f %% of zstd'"'"'s throughput\n' "$(echo "100 * $z / $s" | bc -l)"
