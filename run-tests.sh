#!/usr/bin/env bash
# Runs every test of qmgr: formatting and lint checks, the Rust unit and integration tests, the
# C/C++ conformance suite, the end-to-end downloads from a local nginx, and the Python tests.
#
# Installs what the tests need when it is missing: nginx, valgrind, curl, iproute2, and for the
# install tests (tests/tests/install.rs) make, pkg-config, binutils (readelf), man-db and the venv
# module of python3 (Debian packages, through sudo when not root), pytest, ruff and build (pip).
# With CI set, a missing tool fails the tests instead of skipping them, and the C and C++
# programs also run under valgrind (QMGR_VALGRIND=1).
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
# tests/tests/install.rs: make install, pkg-config, readelf, man pages, fresh virtual environments.
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v readelf >/dev/null || missing+=(binutils)
command -v man >/dev/null || missing+=(man-db)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
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
if ! python3 -c 'import build' 2>/dev/null; then
  echo "== installing build (python -m build, for the wheel test)"
  python3 -m pip install --quiet build
fi

echo "== cargo fmt --check, ruff (Python)"
cargo fmt --all --check
python3 -m ruff check python
python3 -m ruff format --check python
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (Rust, C/C++ suite, end-to-end with nginx, make install and pip install)"
cargo test --workspace
echo "== pytest (Python package)"
cargo build -p qmgr-ffi
python3 -m pytest python/tests -q
echo "== all tests passed"
