#!/usr/bin/env bash
# Times sweep against the classic ways of doing the same cleanup, side by side in one run,
# on the same freshly generated tree for every tool and every run (generation is not
# timed). Every tool must leave the same files; the table says how many each left.
#
#   bench/compare.sh [--sweep BIN] [--layout daily|hive-hourly|ymd] [--days 100] [--files 1000]
#                    [--keep-days 20] [--runs 3] [--size BYTES] [--fresh-fs | --dir DIR]
#                    [--also NAME=BIN ...]
#
# --also adds NAME-apply and NAME-plan rows for another sweep binary (an A/B comparison
# of two builds in the same run).
# --fresh-fs (the default when run as root) puts each tree on a new ext4 filesystem
# (no journal, like this project's benchmark machine), made in a sparse image file and
# loop-mounted: on ext4, creating a million files right after deleting a million is
# otherwise minutes slower per tree (the inode allocator skips recently freed inodes) and
# each tool would meet a differently fragmented filesystem. All tools see the same setup.
#
# Prints, per tool: median wall seconds, median peak RSS (KiB), files and directories
# left, and the ratio of each median to find's (apply-like tools) or find-plan's (plans).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SWEEP=""; LAYOUT=daily; DAYS=100; FILES=1000; KEEP=20; RUNS=3; SIZE=0; DIR=""; FRESH=auto; ALSO=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) SWEEP=$2; shift 2;; --layout) LAYOUT=$2; shift 2;; --days) DAYS=$2; shift 2;;
    --files) FILES=$2; shift 2;; --keep-days) KEEP=$2; shift 2;; --runs) RUNS=$2; shift 2;;
    --dir) DIR=$2; FRESH=no; shift 2;; --size) SIZE=$2; shift 2;; --fresh-fs) FRESH=yes; shift;;
    --also) ALSO+=("$2"); shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ "$FRESH" = auto ] && { [ "$(id -u)" = 0 ] && FRESH=yes || FRESH=no; }
[ -n "$DIR" ] || DIR=/var/tmp/sweep-bench
END=$(date -u +%F)
CUT=$(python3 -c "import datetime as d;print(d.date.fromisoformat('$END')-d.timedelta(days=$KEEP-1))")
AGE_H=$(python3 -c "import datetime as d,time;c=d.datetime.fromisoformat('${CUT}T00:00:00+00:00').timestamp();print(int((time.time()-c)/3600)-6)")
mkdir -p "$DIR"
IMG=$DIR/fs.img MNT=$DIR/mnt
if [ "$FRESH" = yes ]; then ROOT=$MNT/tree; else ROOT=$DIR/tree; chattr +T "$DIR" 2>/dev/null || true; fi
case $LAYOUT in
  daily) TPL='%Y-%m-%d/*'; PER_DAY=$FILES;;
  hive-hourly) TPL='dt=%Y-%m-%d/hour=%H/*'; PER_DAY=$((FILES * 24));;
  ymd) TPL='%Y/%m/%d/*'; PER_DAY=$FILES;;
  *) echo "layout $LAYOUT not supported here" >&2; exit 2;;
esac
TOTAL=$((DAYS * PER_DAY))
cat > "$DIR/policy.yaml" <<YAML
version: 1
policies:
  - name: bench
    root: $ROOT
    timezone: UTC
    layouts: ["$TPL"]
    keep: ${KEEP}d
YAML

cleanup() { if [ "$FRESH" = yes ] && mountpoint -q "$MNT"; then umount "$MNT"; fi; rm -f "$IMG"; }
trap cleanup EXIT
gen() {
  if [ "$FRESH" = yes ]; then
    mountpoint -q "$MNT" && umount "$MNT"
    mkdir -p "$MNT"; rm -f "$IMG"
    # Size and inode count from the tree: 2 KiB of metadata per file, plus the data.
    local bytes=$(( (TOTAL * (4096 + SIZE)) * 2 + (1 << 30) ))
    truncate -s "$bytes" "$IMG"
    mkfs.ext4 -q -F -O ^has_journal -N $((TOTAL + TOTAL / 4 + 100000)) -E lazy_itable_init=1,nodiscard "$IMG"
    mount -o loop,discard "$IMG" "$MNT"
  else
    rm -rf "$ROOT"
  fi
  python3 "$here/gen_tree.py" "$ROOT" --layout "$LAYOUT" --days "$DAYS" --files "$FILES" --size "$SIZE" --end "$END" >/dev/null
  sync
}
left() { find "$ROOT" -type f | wc -l; }
dirs_left() { find "$ROOT" -mindepth 1 -type d | wc -l; }

declare -A CMDS
ORDER=(find)
CMDS[find]="TZ=UTC find '$ROOT' -type f ! -newermt '$CUT 00:00:00' -delete && TZ=UTC find '$ROOT' -mindepth 1 -type d -empty -delete"
if [ "$LAYOUT" != ymd ]; then
  ORDER+=(rm-rf-partitions)
  # The lower bound for whole-partition deletion: rm -rf on exactly the expired partition dirs.
  CMDS[rm-rf-partitions]="cd '$ROOT' && ls -1 | awk -v c='$CUT' '{d=\$0; sub(/^dt=/,\"\",d)} d < c' | xargs -r rm -rf"
fi
EMPTY="TZ=UTC find '$ROOT' -mindepth 1 -type d -empty -delete"
if command -v fdfind >/dev/null; then
  ORDER+=(fd)
  CMDS[fd]="TZ=UTC fdfind --no-ignore --hidden -t f --changed-before '$CUT 00:00:00' . '$ROOT' -X rm -f && $EMPTY"
fi
if command -v tmpreaper >/dev/null; then
  ORDER+=(tmpreaper)
  CMDS[tmpreaper]="tmpreaper --mtime ${AGE_H}h '$ROOT'"
fi
if [ -n "$SWEEP" ]; then
  ORDER+=(sweep-apply find-plan sweep-plan sweep-plan-json)
  CMDS[sweep-apply]="'$SWEEP' apply -c '$DIR/policy.yaml' --now '${END}T12:00:00Z' --lock-file '$DIR/lock' --progress never >/dev/null"
  CMDS[find-plan]="TZ=UTC find '$ROOT' -type f ! -newermt '$CUT 00:00:00' -printf '%s %p\n' >/dev/null"
  CMDS[sweep-plan]="'$SWEEP' plan -c '$DIR/policy.yaml' --now '${END}T12:00:00Z' --progress never >/dev/null"
  CMDS[sweep-plan-json]="'$SWEEP' plan -c '$DIR/policy.yaml' --now '${END}T12:00:00Z' --progress never --format json >/dev/null"
fi
for a in "${ALSO[@]}"; do
  n=${a%%=*}; b=${a#*=}
  ORDER+=("$n-apply" "$n-plan")
  CMDS[$n-apply]="'$b' apply -c '$DIR/policy.yaml' --now '${END}T12:00:00Z' --lock-file '$DIR/lock' --progress never >/dev/null"
  CMDS[$n-plan]="'$b' plan -c '$DIR/policy.yaml' --now '${END}T12:00:00Z' --progress never >/dev/null"
done
is_plan() { case $1 in *plan*) return 0;; *) return 1;; esac; }

printf '# layout=%s days=%s files/leaf=%s total=%s size=%sB keep=%sd cutoff=%s runs=%s fresh-fs=%s\n' \
  "$LAYOUT" "$DAYS" "$FILES" "$TOTAL" "$SIZE" "$KEEP" "$CUT" "$RUNS" "$FRESH"
printf '# %s, %s cores, %s\n' "$(uname -r)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
declare -A WALL RSS LEFT DLEFT
for r in $(seq "$RUNS"); do
  fresh=no
  for t in "${ORDER[@]}"; do
    # A plan leaves the tree as it was, so consecutive plans share one fresh tree.
    if ! is_plan "$t" || [ "$fresh" = no ]; then gen; fi
    if is_plan "$t"; then fresh=yes; else fresh=no; fi
    out=$( { /usr/bin/time -f '%e %M' bash -c "${CMDS[$t]}" ; } 2>&1 >/dev/null | tail -n 1 )
    WALL[$t]+="${out% *} "; RSS[$t]+="${out#* } "; LEFT[$t]=$(left); DLEFT[$t]=$(dirs_left)
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
fmed=$(echo "${WALL[find]}" | med)
pmed=$( [ -n "${WALL[find-plan]:-}" ] && echo "${WALL[find-plan]}" | med || echo 0)
printf '%-18s %10s %12s %10s %9s %9s  %s\n' tool wall_s peak_rss_kib files_left dirs_left ratio "(runs)"
for t in "${ORDER[@]}"; do
  w=$(echo "${WALL[$t]}" | med); m=$(echo "${RSS[$t]}" | med)
  if is_plan "$t"; then base=$pmed; vs=find-plan; else base=$fmed; vs=find; fi
  printf '%-18s %10s %12s %10s %9s %9s  %s\n' "$t" "$w" "$m" "${LEFT[$t]}" "${DLEFT[$t]}" \
    "$(python3 -c "print(f'{$w/$base:.2f}x {\"$vs\"}' if $base else '-')")" "(${WALL[$t]% })"
done
if [ -n "$SWEEP" ]; then
  ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
  sa=$(echo "${WALL[sweep-apply]}" | med); sp=$(echo "${WALL[sweep-plan]}" | med)
  echo "# targets (medians):"
  echo "#   sweep apply / find -delete            = $(ratio "$sa" "$fmed")   (target <= 1.0)"
  [ -n "${WALL[rm-rf-partitions]:-}" ] && echo "#   sweep apply / rm -rf expired partitions = $(ratio "$sa" "$(echo "${WALL[rm-rf-partitions]}" | med)")   (target <= 1.2)"
  echo "#   sweep plan  / find -printf            = $(ratio "$sp" "$pmed")   (target <= 1.0)"
  echo "#   peak RSS: apply $(echo "${RSS[sweep-apply]}" | med) KiB, plan $(echo "${RSS[sweep-plan]}" | med) KiB, plan --format json $(echo "${RSS[sweep-plan-json]}" | med) KiB"
fi
