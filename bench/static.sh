#!/usr/bin/env bash
# What the static (x86_64-unknown-linux-musl) binary costs against the glibc one:
# `sweep plan` and `sweep apply` on a 100,000-file daily tree (100 days x 1,000 0-byte
# files, keep: 20d, --now pinned to the tree's last day), each run on its own fresh,
# identical tree, the two binaries alternating which goes first.
#
#   bash bench/static.sh GLIBC_BIN MUSL_BIN [--runs 3] [--days 100] [--files 1000]
#                                  [--dir /var/tmp/sweep-static-bench] [--settle 60] [--plan-repeats 10]
#
# Trees are made with bench/gen_tree.py in a `chattr +T`
# directory, all of them before the first timed run, then left to settle: on ext4
# without a journal, creating files right after deleting many is slow. Generation is never
# timed. Before those, --plan-repeats alternating `plan` runs of each binary on one tree
# (plan deletes nothing, so the tree stays identical). Runs at nice -5 when allowed. Prints one line per run and a table of medians
# (wall, user, sys seconds; peak RSS KiB), with the load average seen before each run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GLIBC=${1:?usage: static.sh GLIBC_BIN MUSL_BIN [options]}; MUSL=${2:?usage: static.sh GLIBC_BIN MUSL_BIN [options]}; shift 2
RUNS=3; DAYS=100; FILES=1000; DIR=/var/tmp/sweep-static-bench; SETTLE=60; PLAN_REPEATS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2;; --days) DAYS=$2; shift 2;; --files) FILES=$2; shift 2;;
    --dir) DIR=$2; shift 2;; --settle) SETTLE=$2; shift 2;; --plan-repeats) PLAN_REPEATS=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
GEN=$here/gen_tree.py
GLIBC=$(realpath "$GLIBC"); MUSL=$(realpath "$MUSL")
END=2024-07-12
NOW=2024-07-12T23:00:00Z
NICE=(); if nice -n -5 true 2>/dev/null; then NICE=(nice -n -5); fi

mkdir -p "$DIR"
chattr +T "$DIR" 2>/dev/null || echo "note: chattr +T failed on $DIR" >&2
rm -rf "${DIR:?}"/t-* "$DIR/results"
mkdir -p "$DIR/results"

policy() {  # policy FILE ROOT
  cat > "$1" <<YAML
version: 1
policies:
  - name: bench
    root: $2
    timezone: UTC
    layouts: ["%Y-%m-%d/*"]
    keep: 20d
YAML
}

# One tree per (run, binary): plan then apply run on it.
echo "generating $((RUNS * 2)) trees of $((DAYS * FILES)) files in $DIR (not timed)" >&2
for r in $(seq 1 "$RUNS"); do
  for b in glibc musl; do
    t=$DIR/t-$r-$b
    python3 "$GEN" "$t/tree" --layout daily --days "$DAYS" --files "$FILES" --end "$END" >/dev/null
    policy "$t/policy.yaml" "$t/tree"
  done
done
sync
echo "settling ${SETTLE}s" >&2
sleep "$SETTLE"

# wall (monotonic clock), user and sys (wait4's rusage, in microseconds) and exit code of
# one command; stdout to /dev/null, stderr to $DIR/results/stderr.
RUN1='
import os, sys, time
err, argv = sys.argv[1], sys.argv[2:]
t = time.monotonic()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
    os.execvp(argv[0], argv)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t
print(f"{wall:.4f} {ru.ru_utime:.4f} {ru.ru_stime:.4f} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
'
timed() {  # timed NAME BIN ARGS... : appends "name wall user sys rss exit load1" to results
  local name=$1 bin=$2; shift 2
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local wall user sys rss rc
  # /usr/bin/time only for the peak RSS: the forked python's own would count in wait4's.
  read -r wall user sys _ rc < <(python3 -c "$RUN1" "$DIR/results/stderr" \
    /usr/bin/time -f %M -o "$DIR/results/rss" "${NICE[@]}" "$bin" "$@")
  rss=$(tail -n 1 "$DIR/results/rss")
  echo "$name $wall $user $sys $rss $rc $load" | tee -a "$DIR/results/all" >&2
}

# plan deletes nothing: first PLAN_REPEATS alternating runs of each on one tree, warm.
find "$DIR/t-1-glibc/tree" > /dev/null
for i in $(seq 1 "$PLAN_REPEATS"); do
  for b in glibc musl; do
    bin=$GLIBC; [ "$b" = musl ] && bin=$MUSL
    timed "plan-warm-$b" "$bin" plan -c "$DIR/t-1-glibc/policy.yaml" --now "$NOW"
  done
done

for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) = 1 ]; then order=(glibc musl); else order=(musl glibc); fi
  for b in "${order[@]}"; do
    t=$DIR/t-$r-$b
    bin=$GLIBC; [ "$b" = musl ] && bin=$MUSL
    find "$t/tree" > /dev/null   # same cache state for both: every inode read once
    timed "plan-$b" "$bin" plan -c "$t/policy.yaml" --now "$NOW"
    timed "apply-$b" "$bin" apply -c "$t/policy.yaml" --now "$NOW" --lock-file "$t/lock"
    left=$(find "$t/tree" -type f | wc -l)
    [ "$left" = $((20 * FILES)) ] || { echo "apply-$b left $left files, expected $((20 * FILES))" >&2; exit 1; }
  done
done

python3 - "$DIR/results/all" "$GLIBC" "$MUSL" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(name, i): return statistics.median(float(r[i]) for r in rows if r[0] == name)
print("| command | binary | runs | wall s (median) | user s | sys s | peak RSS KiB | exit codes |")
print("|---|---|---|---|---|---|---|---|")
for cmd in ("plan-warm", "plan", "apply"):
    for b in ("glibc", "musl"):
        n = f"{cmd}-{b}"
        rs = [r for r in rows if r[0] == n]
        walls = " ".join(f"{float(r[1]):.2f}" for r in rs)
        if not rs: continue
        print(f"| {cmd} | {b} | {len(rs)} ({walls}) | {med(n,1):.3f} | {med(n,2):.3f} | {med(n,3):.3f} | {med(n,4):.0f} | {','.join(sorted(set(r[5] for r in rs)))} |")
    if not any(r[0] == f"{cmd}-glibc" for r in rows): continue
    def ratio(i):
        g = med(f"{cmd}-glibc", i)
        return f"{med(f'{cmd}-musl', i) / g:.2f}x" if g >= 0.005 else "n/a"
    print(f"| {cmd} | musl / glibc | | {ratio(1)} | {ratio(2)} | {ratio(3)} | | |")
loads = [float(r[6]) for r in rows]
print(f"\nload average (1 min) before the timed runs: min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f} (2 CPUs)")
for label, p in (("glibc", sys.argv[2]), ("musl", sys.argv[3])):
    print(f"{label}: {p}: {os.path.getsize(p)} bytes")
PY
rm -rf "${DIR:?}"/t-*
