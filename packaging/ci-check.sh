#!/usr/bin/env bash
# Install the sweep .deb, use it as a person on a new server would, remove and purge it,
# and check that nothing of it is left behind.
#
#   bash packaging/ci-check.sh target/debian/sweep_0.2.0-1_amd64.deb
#
# Needs root, dpkg, man (man-db) and systemd-analyze/systemctl (systemd); systemd need not
# be running. Refuses to run when sweep is already installed, or when a file the package
# would install already exists: it removes and purges the package at the end (also after
# a failure), and must not take anything of the machine's with it.
set -euo pipefail

deb=${1:?usage: ci-check.sh PATH.deb}
deb=$(realpath "$deb")
pass=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
fail() { echo "FAILED: $*" >&2; echo "ci-check: $pass passed, 1 failed" >&2; exit 1; }
trap 'echo "FAILED: ci-check.sh line $LINENO: $BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
for tool in dpkg dpkg-deb dpkg-query man systemd-analyze systemctl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install man-db systemd)"
done

pkg=$(dpkg-deb -f "$deb" Package)
# Purge removes the state directory with whatever is in it: it must be the package's.
[ ! -e /var/lib/sweep ] || fail "/var/lib/sweep already exists; dpkg --purge would remove it: move it away first"
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -f "$deb" Depends | grep -q 'libc6 (>= ' || fail "Depends: of $deb does not name libc6: '$(dpkg-deb -f "$deb" Depends)'"
status=$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)
case $status in
  ""|not-installed) ;;
  *) fail "$pkg is already on this machine ($status); this check would remove it: dpkg --purge $pkg first";;
esac

# Every path in the package, as /usr/bin/sweep (directories too).
mapfile -t paths < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^\.\?$' | grep -v '^/$')
[ "${#paths[@]}" -gt 0 ] || fail "no files in $deb"
declare -A existed=()
for p in "${paths[@]}"; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    [ -d "$p" ] && [ ! -L "$p" ] || fail "$p already exists and is not a directory: it would be replaced, then removed"
    existed[$p]=1
  fi
done

# What the package must not touch: unit enablement and deb-systemd-helper's state.
state_dirs=(/etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked)
snapshot() { { find "${state_dirs[@]}" 2>/dev/null || true; } | LC_ALL=C sort; }
before=$(snapshot)

scratch=$(mktemp -d /tmp/sweep-ci-check.XXXXXX)
installed=""
cleanup() {
  rc=$?
  if [ -n "$installed" ] && [ "$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)" != not-installed ]; then
    echo "ci-check: purging $pkg after a failure" >&2
    dpkg --purge "$pkg" >/dev/null 2>&1 || true
  fi
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT

echo "== dpkg -i $deb"
installed=1
dpkg -i "$deb"
[ "$(dpkg-query -W -f '${db:Status-Abbrev}' "$pkg")" = "ii " ] || fail "dpkg -i: $pkg is not installed"
ok "dpkg -i $(basename "$deb")"

[ "$(command -v sweep)" = /usr/bin/sweep ] || fail "sweep on PATH is $(command -v sweep), not /usr/bin/sweep"
v=$(sweep --version)
echo "$v"
[ "$v" = "sweep ${version%-*}" ] || fail "sweep --version says '$v', the package is $version"
ok "sweep --version: $v"

# `sweep demo` keeps its scratch tree (under TMPDIR): point TMPDIR at ours.
if ! TMPDIR=$scratch sweep demo > "$scratch/demo.log" 2>&1; then
  tail -30 "$scratch/demo.log" >&2
  fail "sweep demo exited non-zero"
fi
tail -3 "$scratch/demo.log"
ok "sweep demo exits 0"

# The state directory: root's, 0755, where max_delete: auto keeps its history by default.
[ "$(stat -c '%U %a' /var/lib/sweep)" = "root 755" ] || fail "/var/lib/sweep is $(stat -c '%U %a' /var/lib/sweep), not root 755"
mkdir -p "$scratch/data/2024-07-11" "$scratch/data/2024-07-12"
touch "$scratch/data/2024-07-11/a" "$scratch/data/2024-07-12/a"
printf 'version: 1\npolicies:\n  - name: ci-check-auto\n    root: %s\n    timezone: UTC\n    layouts: ["%%Y-%%m-%%d/**"]\n    keep: 1d\n    max_delete: auto\n' \
  "$scratch/data" > "$scratch/auto.yaml"
sweep apply -c "$scratch/auto.yaml" --now 2024-07-12T02:00:00Z --lock-file "$scratch/sweep.lock" > "$scratch/auto.log" 2>&1 \
  || { cat "$scratch/auto.log" >&2; fail "sweep apply with max_delete: auto and the default --state-dir failed"; }
grep -q '"name":"ci-check-auto"' /var/lib/sweep/history.json || fail "apply did not record its history in /var/lib/sweep/history.json"
[ "$(stat -c '%U %a' /var/lib/sweep/history.json)" = "root 644" ] || fail "history.json is $(stat -c '%U %a' /var/lib/sweep/history.json)"
ok "/var/lib/sweep (root 755): apply records max_delete: auto's history there"

for page in "sweep /usr/share/man/man1/sweep.1.gz" "sweep.yaml /usr/share/man/man5/sweep.yaml.5.gz"; do
  set -- $page
  where=$(man -w "$1") || fail "man -w $1 finds nothing"
  [ "$where" = "$2" ] || fail "man -w $1 gives $where, not $2"
  # and it renders (groff's warnings to stderr are failures)
  err=$(MANWIDTH=80 man -P cat "$1" 2>&1 >/dev/null) || fail "man $1 does not render: $err"
  [ -z "$err" ] || fail "man $1 warns: $err"
  ok "man -w $1: $where"
done

bash -c 'source /usr/share/bash-completion/completions/sweep && complete -p sweep' >/dev/null \
  || fail "the bash completion does not define a completion for sweep"
for f in /usr/share/zsh/vendor-completions/_sweep /usr/share/fish/vendor_completions.d/sweep.fish; do
  [ -s "$f" ] || fail "$f missing or empty"
done
grep -q '^#compdef sweep' /usr/share/zsh/vendor-completions/_sweep || fail "_sweep is not a zsh completion for sweep"
grep -q '^complete -c sweep' /usr/share/fish/vendor_completions.d/sweep.fish || fail "sweep.fish is not a fish completion for sweep"
ok "completions for bash, zsh and fish"

units=(/usr/lib/systemd/system/sweep.service /usr/lib/systemd/system/sweep.timer)
for u in "${units[@]}"; do [ -f "$u" ] || fail "$u is not installed"; done
grep -qx 'ExecStart=/usr/bin/sweep apply .*' /usr/lib/systemd/system/sweep.service || fail "ExecStart= does not run /usr/bin/sweep apply"
! grep -q /usr/local/bin /usr/lib/systemd/system/sweep.service || fail "the packaged sweep.service names /usr/local/bin"
grep -qx 'Documentation=man:sweep(1)' /usr/lib/systemd/system/sweep.service || fail "Documentation=man:sweep(1) missing"
# verify checks ExecStart='s program exists and resolves Documentation=man:sweep(1) with man.
# It may also talk about the host's own units: only lines about ours count.
out=$(systemd-analyze verify --man=yes "${units[@]}" 2>&1) || fail "systemd-analyze verify failed: $out"
ours=$(printf '%s\n' "$out" | grep -E 'sweep\.(service|timer)|/usr/bin/sweep|man:sweep' || true)
[ -z "$ours" ] || fail "systemd-analyze verify on the installed units: $ours"
ok "systemd-analyze verify ${units[*]}"

# Installed, not enabled: no symlink anywhere under /etc/systemd/system, nothing recorded
# as enabled, nothing running. The one new entry allowed is deb-systemd-helper's
# sweep.timer.dsh-also: the links an enable *would* make, so that purge can remove them
# (what dh_installsystemd --no-enable does too); none of them may exist.
now=$(snapshot)
dsh=/var/lib/systemd/deb-systemd-helper-enabled
new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$now") | grep -vx -e "$dsh" -e "$dsh/sweep.timer.dsh-also" || true)
[ -z "$new" ] || fail "installing created: $new"
if [ -f "$dsh/sweep.timer.dsh-also" ]; then
  while read -r link; do
    if [ -n "$link" ] && { [ -e "$link" ] || [ -L "$link" ]; }; then
      fail "installing enabled sweep.timer: $link exists"
    fi
  done < "$dsh/sweep.timer.dsh-also"
fi
e=$(systemctl is-enabled sweep.timer 2>&1 || true)
[ "$e" = disabled ] || fail "systemctl is-enabled sweep.timer: $e (want disabled)"
e=$(systemctl is-enabled sweep.service 2>&1 || true)
[ "$e" = static ] || fail "systemctl is-enabled sweep.service: $e (want static: started by the timer only)"
if [ -d /run/systemd/system ]; then
  for u in sweep.service sweep.timer; do
    a=$(systemctl is-active "$u" 2>&1 || true)
    [ "$a" = inactive ] || fail "$u is $a after dpkg -i (want inactive)"
  done
fi
ok "units installed, not enabled (timer disabled, service static, no symlink in /etc/systemd/system)"

[ -f /etc/sweep/README ] || fail "/etc/sweep/README missing"
grep -q /usr/share/doc/sweep/examples /etc/sweep/README || fail "/etc/sweep/README does not point to the examples"
[ -f /usr/share/doc/sweep/examples/systemd/sweep.service ] || fail "examples not under /usr/share/doc/sweep/examples"
dpkg-query -W -f '${Conffiles}\n' "$pkg" | grep -q '^ /etc/sweep/README ' || fail "/etc/sweep/README is not a conffile"
ok "/etc/sweep/README (a conffile) and /usr/share/doc/sweep/examples"

# The documents the README links to, at the same relative paths.
for f in README.md docs/guide.md docs/operations.md docs/output.md docs/safety.md docs/architecture.md bench/README.md; do
  [ -s "/usr/share/doc/sweep/$f" ] || fail "/usr/share/doc/sweep/$f missing or empty"
done
grep -q '(docs/guide.md' /usr/share/doc/sweep/README.md || fail "the installed README does not link to docs/guide.md"
ok "/usr/share/doc/sweep/README.md, docs/ and bench/README.md"

echo "== dpkg -r $pkg"
dpkg -r "$pkg"
[ "$(dpkg-query -W -f '${db:Status-Status}' "$pkg")" = config-files ] || fail "after dpkg -r, $pkg is not in state config-files"
left=()
for p in "${paths[@]}"; do
  [ -n "${existed[$p]:-}" ] && continue
  case $p in /etc/sweep|/etc/sweep/README) continue;; esac  # conffiles stay until purge
  [ "$p" = /var/lib/sweep ] && continue                     # state stays until purge
  if [ -e "$p" ] || [ -L "$p" ]; then left+=("$p"); fi
done
[ "${#left[@]}" = 0 ] || fail "dpkg -r left: ${left[*]}"
[ -f /etc/sweep/README ] || fail "dpkg -r removed the conffile /etc/sweep/README (it stays until purge)"
[ -f /var/lib/sweep/history.json ] || fail "dpkg -r removed the state in /var/lib/sweep (it stays until purge)"
ok "dpkg -r: every file gone but the conffile /etc/sweep/README and the state in /var/lib/sweep"
# Until purge, deb-systemd-helper masks the removed timer (a link to /dev/null, as for
# every Debian package whose unit has an [Install] section) and keeps its records.
masked=/var/lib/systemd/deb-systemd-helper-masked
new=$(comm -13 <(printf '%s\n' "$before") <(snapshot) \
  | grep -vx -e "$dsh" -e "$dsh/sweep.timer.dsh-also" -e "$masked" -e "$masked/sweep.timer" -e /etc/systemd/system/sweep.timer || true)
[ -z "$new" ] || fail "after dpkg -r: $new"
if [ -e /etc/systemd/system/sweep.timer ] || [ -L /etc/systemd/system/sweep.timer ]; then
  [ "$(readlink /etc/systemd/system/sweep.timer)" = /dev/null ] || fail "/etc/systemd/system/sweep.timer is not a mask"
fi
ok "dpkg -r: systemd state as before but deb-systemd-helper's mask of sweep.timer (purge removes it)"

echo "== dpkg --purge $pkg"
dpkg --purge "$pkg"
installed=""
[ "$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || echo not-installed)" = not-installed ] \
  || fail "after dpkg --purge, $pkg is still known to dpkg"
left=()
for p in "${paths[@]}"; do
  if [ -n "${existed[$p]:-}" ]; then
    [ -d "$p" ] || fail "$p existed before the install and is gone"
  elif [ -e "$p" ] || [ -L "$p" ]; then
    left+=("$p")
  fi
done
[ "${#left[@]}" = 0 ] || fail "dpkg --purge left: ${left[*]}"
[ ! -e /var/lib/sweep ] || fail "dpkg --purge left the state directory /var/lib/sweep"
after=$(snapshot)
[ "$before" = "$after" ] || fail "systemd state differs after purge: $(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep '^[<>]')"
ok "dpkg --purge: none of the ${#paths[@]} paths of the package left, systemd state as before"

echo "ci-check: $pass passed, 0 failed"
