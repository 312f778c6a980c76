#!/usr/bin/env bash
# What pacing buys a neighbour: the latency of small synced writes (fio, 4 KiB, fsync each)
# on the same filesystem while sweep deletes a large tree, unpaced and paced, and with no
# deletion at all, each on its own freshly generated identical tree.
#
#   bench/pacing.sh [--sweep BIN] [--files 1000] [--days 1000] [--rate 20000/s] [--dir DIR]
#
# The tree is daily (gen_tree.py), all of it expired but the last day. fio runs for the
# whole deletion (and for as long without one, as the baseline), writing at a fixed 200
# IOPS so that its latency, not its throughput, is what changes. Prints, per case: sweep's
# wall time and achieved rate, and fio's write latency percentiles (p50, p99, p99.9).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SWEEP=""; FILES=1000; DAYS=1000; RATE="20000/s"; DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) SWEEP=$2; shift 2;; --files) FILES=$2; shift 2;; --days) DAYS=$2; shift 2;;
    --rate) RATE=$2; shift 2;; --dir) DIR=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v fio >/dev/null || { echo "fio is needed: apt-get install fio" >&2; exit 2; }
gen="$here/gen_tree.py"
if [ -z "$SWEEP" ]; then
  (cd "$here/.." && cargo build --release --quiet)
  SWEEP="$here/../target/release/sweep"
fi
DIR=${DIR:-/var/tmp/sweep-pacing}
mkdir -p "$DIR"
# Trees are made and removed in here as root: it must be ours, a real directory, and
# writable by nobody else (no one may plant a symlink for rm -rf or the policy files).
if [ -L "$DIR" ] || [ ! -O "$DIR" ] || [ -n "$(find "$DIR" -maxdepth 0 -perm /022)" ]; then
  echo "pacing.sh: $DIR must be a directory owned by $(id -un), writable only by it" >&2
  exit 1
fi
chattr +T "$DIR" 2>/dev/null || true
end=2024-07-12
policy() {
  cat >"$DIR/$1.yaml" <<EOF
version: 1
policies:
  - name: bench
    root: $DIR/$1
    timezone: UTC
    layouts: ["%Y-%m-%d/*"]
    keep: 1d
EOF
}

# Both trees are made before anything is deleted: on ext4 without a journal, creating
# files within a minute or so of deleting many is several times slower (inodes freed
# recently are skipped), which would make the benchmark mostly waiting.
fresh() {
  for t in "$@"; do
    rm -rf "${DIR:?}/$t"
    python3 "$gen" "$DIR/$t" --layout daily --days "$DAYS" --files "$FILES" --end "$end" >/dev/null
    policy "$t"
  done
  sync
}
drop_caches() { echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

# fio in the background for as long as `$@` runs; prints "p50 p99 p99.9" in microseconds.
with_fio() {
  local out=$DIR/fio.json
  rm -f "$DIR/fio.dat" "$out"
  fio --name=neighbour --filename="$DIR/fio.dat" --size=64m --rw=randwrite --bs=4k --ioengine=psync \
      --fsync=1 --rate_iops=200 --time_based --runtime=3600 --output-format=json --output="$out" &
  local fio=$!
  sleep 2
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$DIR/sweep.out" 2>&1 || true
  t1=$(date +%s.%N)
  kill -INT $fio 2>/dev/null || true
  wait $fio 2>/dev/null || true
  python3 - "$out" "$t0" "$t1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):])  # fio prints "fio: terminating on signal 2" first
p = j["jobs"][0]["write"]["clat_ns"]["percentile"]
us = lambda k: p[k] / 1000
print(f"{float(sys.argv[3]) - float(sys.argv[2]):.1f}s  p50 {us('50.000000'):.0f} us  p99 {us('99.000000'):.0f} us  p99.9 {us('99.900000'):.0f} us")
PY
}

printf '%-26s %s\n' case "wall  fio write latency (4 KiB + fsync, 200/s)"
fresh unpaced paced
baseline_secs=30
drop_caches
printf '%-26s %s\n' "no deletion (${baseline_secs}s)" "$(with_fio sleep $baseline_secs)"
drop_caches
printf '%-26s %s\n' "sweep apply, unpaced" "$(with_fio "$SWEEP" apply -c "$DIR/unpaced.yaml" --now ${end}T12:00:00Z --lock-file "$DIR/lock")"
grep -o 'at [0-9,]*/s' "$DIR/sweep.out" || true
drop_caches
printf '%-26s %s\n' "sweep apply, --max-rate $RATE" "$(with_fio "$SWEEP" apply -c "$DIR/paced.yaml" --now ${end}T12:00:00Z --lock-file "$DIR/lock" --max-rate "$RATE")"
grep -o 'at [0-9,]*/s' "$DIR/sweep.out" || true
rm -rf "${DIR:?}/unpaced" "${DIR:?}/paced" "$DIR/fio.dat"
