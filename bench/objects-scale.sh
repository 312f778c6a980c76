#!/usr/bin/env bash
# Buckets at scale: what an S3 Inventory report saves a nightly run, how much memory a large
# report costs, and what four shards at once do against one runner. On a local SeaweedFS
# (s3lib.sh); sweep's requests go through a logging proxy (tests/servers/proxy.py, no rules:
# it only passes requests on and writes one line per request and per key of each
# DeleteObjects), so requests are counted, not estimated.
#
#   bench/objects-scale.sh [--sweep BIN] [--runs 3] [--parts "nightly rss shard"]
#                          [--shard-keys 400000] [--report-rows 1000000] [--work DIR]
#
# nightly  365 daily partitions x 300 keys (109,500: events/dt=YYYY-MM-DD/part-NNNN.parquet
#          from 2024-01-01), `keep: 364d` at --now 2024-12-30T12:00Z: the oldest day, 300
#          keys, expires. Each run fills two fresh buckets (not timed) and times `sweep apply`
#          on each: planned by listing the bucket, and planned from an inventory report
#          (CSV gzip in S3's own layout, written by tests/servers/objstore.py from the keys
#          the bucket was filled with, 11 hours before --now); the order alternates run by
#          run. Per run: wall time, peak RSS, LIST and DeleteObjects requests, the report's
#          GETs. Afterwards every day but the expired one is listed and must be whole.
# rss      peak RSS of `sweep plan` from a report of --report-rows rows (365 days of keys,
#          4 data files), CSV gzip and Parquet (pyarrow, pip-installed into the venv),
#          --runs runs each; the bucket itself is empty (only expired days are listed live).
# shard    --shard-keys expired keys (20 days x 24 hourly partitions) plus one kept day of
#          the same size per hour, in each of two fresh buckets: one `sweep apply`, and
#          `sweep apply --shard i/4` for i in 0..3 started at once; the wall time of each
#          (for the four: from their start to the last one's end). Afterwards both buckets
#          must hold exactly the kept day, and the proxy log must show every expired key in
#          exactly one DeleteObjects request of each run, the same keys in both.
#
# The server, the proxy and sweep share the machine's cores: on a small machine the
# server's work per deleted key, not the client, sets the pace (the shard line says how
# many cores there were).
#
# Needs: python3, curl, /usr/bin/time; SeaweedFS and pyarrow are pip-installed under --work.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SWEEP="$here/../target/release/sweep"; RUNS=3; PARTS="nightly rss shard"
SHARD_KEYS=400000; REPORT_ROWS=1000000; WORK=/var/tmp/sweep-objscale
FILL_PROCS=${FILL_PROCS:-4}; FILL_THREADS=${FILL_THREADS:-8}
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) SWEEP=$2; shift 2;; --runs) RUNS=$2; shift 2;; --parts) PARTS=$2; shift 2;;
    --shard-keys) SHARD_KEYS=$2; shift 2;; --report-rows) REPORT_ROWS=$2; shift 2;;
    --work) WORK=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
. "$here/s3lib.sh"
bench_setup
mkdir -p "$WORK/state"
OBJSTORE="$here/../tests/servers/objstore.py"

s3_start "$WORK" "$LOG"
PY=$WORK/venv/bin/python
if [[ " $PARTS " == *" rss "* ]] && ! "$PY" -c 'import pyarrow' 2>/dev/null; then
  "$WORK/venv/bin/pip" install -q pyarrow || die "cannot install pyarrow (Parquet reports)"
fi

# The proxy sweep talks to; everything else talks to the server directly.
: > "$LOG/proxy.log"
setsid python3 "$here/../tests/servers/proxy.py" "$AWS_ENDPOINT_URL" '{}' "$LOG/proxy.log" \
  >"$LOG/proxy.port" 2>"$LOG/proxy.err" </dev/null &
PROXY=$!
trap 'kill "$PROXY" 2>/dev/null || true; s3_stop' EXIT
for _ in $(seq 50); do [ -s "$LOG/proxy.port" ] && break; sleep 0.1; done
[ -s "$LOG/proxy.port" ] || die "the proxy did not start: $(cat "$LOG/proxy.err")"
VIA="http://127.0.0.1:$(head -1 "$LOG/proxy.port")"
$S3T mkbucket inv

echo "# S3 server: SeaweedFS $(s3_version "$WORK") at $AWS_ENDPOINT_URL; sweep through a logging proxy at $VIA"
echo "# sweep $("$SW" --version | awk '{print $2}') ($SWEEP_COMMIT); $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); runs: $RUNS"

# mark: the proxy log's length now; since M: its lines after that mark
mark() { wc -l < "$LOG/proxy.log"; }
since() { tail -n +"$(( $1 + 1 ))" "$LOG/proxy.log"; }
# the requests since a mark: LIST (any bucket), DeleteObjects, GETs of report objects, and
# the keys sent in DeleteObjects
counts() {
  since "$1" | awk '
    $1 == "GET" && $2 ~ /[?&]list-type=2/ { l++ }
    $1 == "POST" && $2 ~ /[?&]delete/ { d++ }
    $1 == "GET" && index($2, "/inv/") == 1 { r++ }
    $1 == "KEY" { k++ }
    END { printf "%d %d %d %d\n", l, d, r, k }'
}

policy() { # NAME ROOT LAYOUT KEEP [INVENTORY]
  cat <<YAML
version: 1
policies:
  - name: $1
    root: $2
    timezone: UTC
    layouts: ["$3"]
    keep: $4
YAML
  [ -z "${5:-}" ] || echo "    inventory: $5"
}

# a report of the rows on stdin for bucket $1, uploaded to bucket inv; prints its s3:// URL
report() { # BUCKET DATE CREATED_MS FORMAT
  local dir=$WORK/report-$1; rm -rf "$dir"
  local url; url=$("$PY" "$OBJSTORE" s3 "$AWS_ENDPOINT_URL" inventory "$1" inv reports "$2" "$3" "$4" \
    --rows --files 4 --local "$dir")
  $S3T upload inv "$dir"; rm -rf "$dir"; echo "$url"
}

# timed: runs "$@" under /usr/bin/time; sets SECS and KIB; dies on a failure
timed() {
  local out=$1; shift
  set +e
  /usr/bin/time -f '%e %M' -o "$LOG/time" "$@" >"$out.out" 2>"$out.err"
  local rc=$?
  set -e
  [ $rc = 0 ] || { tail -5 "$out.err" >&2; die "exited $rc: $* (output in $out.*)"; }
  read -r SECS KIB < <(tail -1 "$LOG/time")
}

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

# ---------------------------------------------------------------- nightly
if [[ " $PARTS " == *" nightly "* ]]; then
  FIRST=2024-01-01; DAYS=365; TOTAL=109500; NOW=2024-12-30T12:00:00Z
  CREATED_MS=$(( $(date -u -d 2024-12-30T01:00:00Z +%s) * 1000 ))
  EXPECT=$($S3T expected $FIRST $DAYS $TOTAL 364 daily)
  echo
  echo "## nightly: $TOTAL keys, $DAYS days x 300, keep 364d at $NOW (one day, 300 keys, expires)"
  declare -A WALL RSS
  for r in $(seq "$RUNS"); do
    order="listing inventory"; (( r % 2 )) || order="inventory listing"
    for how in $order; do
      b="nightly-r$r-$how-$RANDOM"
      $S3T mkbucket "$b"
      fillmsg=$(nice -n 5 $S3T fill "$b" $FIRST $DAYS $TOTAL "$FILL_PROCS" "$FILL_THREADS" daily)
      inv=""
      if [ "$how" = inventory ]; then
        inv=$($S3T rows $FIRST $DAYS $TOTAL 2024-12-30T00:30:00.000Z daily | report "$b" 2024-12-30T01-00Z "$CREATED_MS" csv)
      fi
      policy nightly "s3://$b/events" 'dt=%Y-%m-%d/*' 364d "$inv" > "$WORK/nightly.yaml"
      m=$(mark)
      timed "$LOG/nightly-r$r-$how" env AWS_ENDPOINT_URL="$VIA" "$SW" apply -c "$WORK/nightly.yaml" --now $NOW \
        --lock-file "$WORK/lock" --state-dir "$WORK/state" --progress never
      read -r lists deletes gets keys < <(counts "$m" "$b")
      got=$($S3T count "$b" events/)
      [ "$got" = "$EXPECT" ] || die "nightly $how run $r left the wrong keys in $b (kept for inspection)"
      [ "$keys" = 300 ] || die "nightly $how run $r asked to delete $keys keys, not 300"
      WALL[$how]+="$SECS "; RSS[$how]+="$KIB "
      printf '  run %s %-9s %7.2f s %7s KiB  LIST %4s  DeleteObjects %s (%s keys)  report GETs %s  fill: %s\n' \
        "$r" "$how" "$SECS" "$KIB" "$lists" "$deletes" "$keys" "$gets" "$fillmsg"
      s3_drop "$b"
    done
  done
  wl=$(echo "${WALL[listing]}" | med); wi=$(echo "${WALL[inventory]}" | med)
  echo "# nightly apply, medians of $RUNS: listing ${wl}s (runs ${WALL[listing]% }), inventory ${wi}s (runs ${WALL[inventory]% });" \
    "inventory ÷ listing $(ratio "$wi" "$wl") (goal <= 0.20); peak RSS $(echo "${RSS[listing]}" | mx) / $(echo "${RSS[inventory]}" | mx) KiB"
fi

# ---------------------------------------------------------------- rss
if [[ " $PARTS " == *" rss "* ]]; then
  echo
  echo "## rss: sweep plan from a report of $REPORT_ROWS rows (365 days of keys), the bucket empty"
  b=rss-$RANDOM; $S3T mkbucket "$b"
  # the Parquet report is an hour newer, so the second plan reads it (the newest complete one)
  for fmt_hour in csv:01 parquet:02; do
    fmt=${fmt_hour%:*}; hour=${fmt_hour#*:}
    CREATED_MS=$(( $(date -u -d "2024-12-30T$hour:00:00Z" +%s) * 1000 ))
    url=$($S3T rows 2024-01-01 365 "$REPORT_ROWS" 2024-12-30T00:30:00.000Z daily | report "$b" "2024-12-30T$hour-00Z" "$CREATED_MS" "$fmt")
    policy rss "s3://$b/events" 'dt=%Y-%m-%d/*' 364d "$url" > "$WORK/rss.yaml"
    all=""
    for r in $(seq "$RUNS"); do
      timed "$LOG/rss-$fmt-r$r" env AWS_ENDPOINT_URL="$VIA" "$SW" plan -c "$WORK/rss.yaml" --now 2024-12-30T12:00:00Z \
        --progress never --format json
      grep -q '"inventory"' "$LOG/rss-$fmt-r$r.out" || die "rss $fmt: the plan does not say it used the report"
      all+="$KIB "
      printf '  run %s %-8s %6.2f s %7s KiB\n' "$r" "$fmt" "$SECS" "$KIB"
    done
    echo "# $fmt report of $REPORT_ROWS rows: peak RSS $(echo "$all" | mx) KiB at most (runs: ${all% }; goal <= 65536)"
  done
fi

# ---------------------------------------------------------------- shard
if [[ " $PARTS " == *" shard "* ]]; then
  FIRST=2024-01-01; DAYS=21; TOTAL=$(( SHARD_KEYS * 21 / 20 )); NOW=2024-01-21T12:00:00Z
  EXPECT=$($S3T expected $FIRST $DAYS $TOTAL 1)
  GONE=$(( TOTAL - $(python3 -c "import json,sys;print(sum(json.loads(sys.argv[1]).values()))" "$EXPECT") ))
  echo
  echo "## shard: $TOTAL keys in $DAYS days x 24 hours, keep 1d at $NOW: $GONE expire; one runner vs --shard i/4 at once"
  declare -A SWALL
  for r in $(seq "$RUNS"); do
    order="one four"; (( r % 2 )) || order="four one"
    for how in $order; do
      b="shard-r$r-$how-$RANDOM"
      $S3T mkbucket "$b"
      fillmsg=$(nice -n 5 $S3T fill "$b" $FIRST $DAYS $TOTAL "$FILL_PROCS" "$FILL_THREADS")
      policy shard "s3://$b/events" 'dt=%Y-%m-%d/hour=%H/*' 1d > "$WORK/shard.yaml"
      m=$(mark)
      base="env AWS_ENDPOINT_URL=$VIA $SW apply -c $WORK/shard.yaml --now $NOW --state-dir $WORK/state --progress never"
      if [ "$how" = one ]; then
        timed "$LOG/shard-r$r-one" $base --lock-file "$WORK/lock"
      else
        # four runners as four pods would be: each its own lock file, started together
        timed "$LOG/shard-r$r-four" bash -c "for i in 0 1 2 3; do $base --lock-file $WORK/lock-\$i --shard \$i/4 \
          >$LOG/shard-r$r-four-\$i.out 2>&1 & done; fail=0; for j in 1 2 3 4; do wait -n || fail=1; done; exit \$fail"
      fi
      since "$m" | awk '$1 == "KEY" { print $2 }' | sort > "$LOG/shard-r$r-$how.keys"
      read -r lists deletes _ keys < <(counts "$m" "$b")
      twice=$(uniq -d "$LOG/shard-r$r-$how.keys" | wc -l)
      got=$($S3T count "$b" events/)
      [ "$got" = "$EXPECT" ] || die "shard $how run $r left the wrong keys in $b (kept for inspection)"
      [ "$keys" = "$GONE" ] && [ "$twice" = 0 ] || die "shard $how run $r: $keys keys asked, $twice more than once"
      SWALL[$how]+="$SECS "
      printf '  run %s %-4s %7.2f s  LIST %4s  DeleteObjects %4s  keys %s (%s more than once)  fill: %s\n' \
        "$r" "$how" "$SECS" "$lists" "$deletes" "$keys" "$twice" "$fillmsg"
      s3_drop "$b"
    done
    cmp -s "$LOG/shard-r$r-one.keys" "$LOG/shard-r$r-four.keys" || die "run $r: one runner and four shards deleted different keys"
    echo "  run $r: one runner and four shards deleted the same $GONE keys, each once"
  done
  w1=$(echo "${SWALL[one]}" | med); w4=$(echo "${SWALL[four]}" | med)
  echo "# shard apply, medians of $RUNS: one runner ${w1}s (runs ${SWALL[one]% }), four shards ${w4}s (runs ${SWALL[four]% });" \
    "four ÷ one $(ratio "$w4" "$w1") — server, proxy and four runners on $(nproc) cores"
fi
