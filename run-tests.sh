#!/usr/bin/env bash
# Runs every test of qmgr: formatting and lint checks, the Rust unit and integration tests, the
# C/C++ conformance suite, the end-to-end downloads from a local nginx, and the Python tests.
#
# Installs what the tests need when it is missing: nginx, valgrind, curl and iproute2 (Debian
# packages, through sudo when not root), pytest and ruff (pip). With CI set, a missing tool fails the
# tests instead of skipping them, and the C suite also runs under valgrind (QMGR_VALGRIND=1).
set -euo pipefail
cd "$(dirname "$0")"
# No background runner from the suites (DECISIONS D13); the runner's own tests turn it on.
export QMGR_AUTOSTART=0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
# tests/tests/background.rs: shaped links in network namespaces (root), curl as the competitor.
command -v curl >/dev/null || missing+=(curl)
{ command -v ip && command -v tc; } >/dev/null 2>&1 || [ -x /usr/sbin/tc ] || [ -x /sbin/tc ] || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "== installing pytest"
  python3 -m pip install --quiet pytest
fi
if ! python3 -m ruff --version >/dev/null 2>&1; then
  echo "== installing ruff"
  python3 -m pip install --quiet ruff
fi

echo "== cargo fmt --check, ruff (Python)"
cargo fmt --all --check
python3 -m ruff check python
python3 -m ruff format --check python
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (Rust, C/C++ suite, end-to-end with nginx)"
cargo test --workspace
echo "== pytest (Python package)"
cargo build -p qmgr-ffi
python3 -m pytest python/tests -q
echo "== all tests passed"
