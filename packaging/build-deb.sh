#!/usr/bin/env bash
# Build the Debian package of sweep and print the path of the .deb on stdout.
#
#   bash packaging/build-deb.sh [--binary PATH]
#
# 1. cargo build --release --locked (honours CARGO_TARGET_DIR), unless --binary names a
#    sweep binary already built (CI packages the one its tests ran);
# 2. generates the man pages (sweep man [--section 5]), the completions (sweep completions
#    bash|zsh|fish) and the packaged systemd unit (examples/systemd/, ExecStart= at
#    /usr/bin/sweep) into target/package-assets/;
# 3. lays the package out in target/package-root/ (binary stripped, docs, the conffile,
#    maintainer scripts from packaging/debian/), computes Depends: with dpkg-shlibdeps, and
#    builds it with dpkg-deb into target/debian/.
#
# dpkg-deb and dpkg-shlibdeps are Debian's own tools (dpkg, dpkg-dev): the package needs
# nothing compiled first (cargo-deb takes minutes to build on a fresh CI machine).
# Everything but the .deb path goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin=$(realpath "$2"); shift 2;;
    *) echo "usage: build-deb.sh [--binary PATH]" >&2; exit 2;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps strip; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

if [ -z "$bin" ]; then
  # Where cargo puts the binary: CARGO_TARGET_DIR, a .cargo/config target-dir, or target/.
  target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target_dir/release/sweep
  echo "== cargo build --release --locked (target dir $target_dir)" >&2
  cargo build --release --locked >&2
fi
[ -x "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 1; }
assets=target/package-assets

echo "== generating $assets/" >&2
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions" "$assets/systemd"

# Man pages. gzip -n: no name or time stamp, so the same page gives the same bytes.
"$bin" man | gzip -9n > "$assets/man/sweep.1.gz"
"$bin" man --section 5 | gzip -9n > "$assets/man/sweep.yaml.5.gz"
# Each page must say what man will file it under (man -w sweep / man -w sweep.yaml).
zcat "$assets/man/sweep.1.gz" | grep -qiE '^\.TH "?sweep"? "?1"?( |$)' \
  || { echo "error: sweep man does not start with .TH sweep 1" >&2; exit 1; }
zcat "$assets/man/sweep.yaml.5.gz" | grep -qiE '^\.TH "?sweep\.yaml"? "?5"?( |$)' \
  || { echo "error: sweep man --section 5 does not start with .TH sweep.yaml 5" >&2; exit 1; }

"$bin" completions bash > "$assets/completions/sweep.bash"
"$bin" completions zsh > "$assets/completions/_sweep"
"$bin" completions fish > "$assets/completions/sweep.fish"
for f in "$assets"/completions/*; do
  [ -s "$f" ] || { echo "error: empty completion script $f" >&2; exit 1; }
done
bash -n "$assets/completions/sweep.bash"

# The packaged unit: the example with the program at /usr/bin/sweep (the example says
# /usr/local/bin/sweep, where `cargo install --root /usr/local` puts it) and its install
# comment replaced by the packaged way. Exactly one ExecStart= must change.
src_unit=examples/systemd/sweep.service
n=$(grep -c '^ExecStart=/usr/local/bin/sweep ' "$src_unit" || true)
if [ "$n" != 1 ]; then
  echo "error: $src_unit has $n lines 'ExecStart=/usr/local/bin/sweep ...', expected 1" >&2
  exit 1
fi
awk '
  /^# Install:$/ {
    print "# Installed by the sweep Debian package (from examples/systemd/sweep.service, with"
    print "# ExecStart= at /usr/bin/sweep). Not enabled: systemctl enable --now sweep.timer"
    print "# Local changes (a policy root outside /data in ReadWritePaths=): systemctl edit sweep.service"
    skip = 1; next
  }
  skip && /^#   / { next }
  { skip = 0 }
  /^ExecStart=\/usr\/local\/bin\/sweep / { sub(/^ExecStart=\/usr\/local\/bin\/sweep /, "ExecStart=/usr/bin/sweep ") }
  { print }
' "$src_unit" > "$assets/systemd/sweep.service"
grep -q '^ExecStart=/usr/bin/sweep apply ' "$assets/systemd/sweep.service" \
  || { echo "error: the packaged sweep.service has no ExecStart=/usr/bin/sweep apply" >&2; exit 1; }
if grep -q '/usr/local/bin/sweep' "$assets/systemd/sweep.service"; then
  echo "error: the packaged sweep.service still names /usr/local/bin/sweep" >&2; exit 1
fi
cp examples/systemd/sweep.timer "$assets/systemd/sweep.timer"
chmod 644 "$assets"/man/* "$assets"/completions/* "$assets"/systemd/*

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
revision=1
arch=$(dpkg --print-architecture)
root=target/package-root
[ -n "$version" ] || { echo "error: no version in Cargo.toml" >&2; exit 1; }
rm -rf "$root"
echo "== laying out $root" >&2
install -D -m 0755 "$bin" "$root/usr/bin/sweep"
strip --strip-unneeded "$root/usr/bin/sweep"
install -D -m 0644 "$assets/man/sweep.1.gz" "$root/usr/share/man/man1/sweep.1.gz"
install -D -m 0644 "$assets/man/sweep.yaml.5.gz" "$root/usr/share/man/man5/sweep.yaml.5.gz"
install -D -m 0644 "$assets/completions/sweep.bash" "$root/usr/share/bash-completion/completions/sweep"
install -D -m 0644 "$assets/completions/_sweep" "$root/usr/share/zsh/vendor-completions/_sweep"
install -D -m 0644 "$assets/completions/sweep.fish" "$root/usr/share/fish/vendor_completions.d/sweep.fish"
install -D -m 0644 "$assets/systemd/sweep.service" "$root/usr/lib/systemd/system/sweep.service"
install -D -m 0644 "$assets/systemd/sweep.timer" "$root/usr/lib/systemd/system/sweep.timer"
install -D -m 0644 packaging/etc-sweep-README "$root/etc/sweep/README"
# The state directory (--state-dir's default, the unit's StateDirectory=): root's, 0755,
# so that a run from cron finds it as the timer's does. Its history.json is state, not a
# file of the package: postrm removes it on purge.
install -d -m 0755 "$root/var/lib/sweep"
doc=$root/usr/share/doc/sweep
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 CHANGELOG.md "$doc/CHANGELOG.md"
# The README links to docs/ and bench/README.md: the same relative paths here.
for f in docs/*.md; do install -D -m 0644 "$f" "$doc/$f"; done
install -D -m 0644 bench/README.md "$doc/bench/README.md"
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
mkdir -p "$doc/examples" "$doc/policies"
cp -r examples/. "$doc/examples/"
cp policies/*.yaml "$doc/policies/"
find "$doc" -type d -exec chmod 0755 {} +
find "$doc" -type f -exec chmod 0644 {} +

# Depends: from the libraries the binary links (libc6, libgcc-s1), as debhelper does.
shlibs=target/package-shlibs
rm -rf "$shlibs"
mkdir -p "$root/DEBIAN" "$shlibs/debian"
printf 'Source: sweep\n\nPackage: sweep\nArchitecture: any\n' > "$shlibs/debian/control"
exe=$(realpath "$root/usr/bin/sweep")
depends=$(cd "$shlibs" && dpkg-shlibdeps -O -e "$exe" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
case $depends in
  *libc6*) ;;
  *) echo "error: dpkg-shlibdeps found no libc6 dependency ('$depends')" >&2; exit 1;;
esac
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
{
  echo "Package: sweep"
  echo "Version: $version-$revision"
  echo "Architecture: $arch"
  echo "Maintainer: sweep maintainers <maintainers@users.noreply.h-seed-983c7d84.example>"
  echo "Installed-Size: $size"
  echo "Depends: $depends"
  echo "Section: admin"
  echo "Priority: optional"
  echo "Description: delete expired files by declarative retention policies"
  sed 's/^/ /' packaging/debian/description
} > "$root/DEBIAN/control"
echo /etc/sweep/README > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done
mkdir -p target/debian
deb=target/debian/sweep_${version}-${revision}_${arch}.deb
echo "== dpkg-deb --build $root $deb" >&2
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
realpath "$deb"
