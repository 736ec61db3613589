"""Builds libqmgr and the qmgr command with cargo and ships both inside the package (issue #16).

`pip install ./python` and `python -m build --wheel python` run `cargo build --release -p
qmgr-ffi -p qmgr-cli` in the repository holding this directory (honouring `CARGO` and
`CARGO_TARGET_DIR`) and copy, without their debug information, `libqmgr.so` into the package
as `qmgr/libqmgr.so.0`, where `qmgr.ffi` looks for it right after `QMGR_LIBRARY`, and the
`qmgr` binary as `qmgr/qmgr`: the library starts background runners from the `qmgr` beside it
(DECISIONS D13), so work a Python program queues finishes after it exits with nothing else
installed. The wheel is a platform wheel (`py3-none-<platform>`): it holds native code but no
Python extension module, so one wheel serves every Python 3 version.

`pip install -e python/` builds nothing: in development the package loads the repository's
own build (`cargo build -p qmgr-ffi`), as `qmgr.ffi.find_library` says.

A plain setuptools step rather than setuptools-rust or maturin: the library is a C ABI loaded
with ctypes, not a Python extension, so neither tool's binding support is needed; the cargo
command is the Makefile's own (the same packages, so the same features and artifacts: a build
for `make` is reused, not compiled again), and building needs nothing beyond setuptools.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

#: The repository holding this directory (`<repo>/python/setup.py`).
REPO = Path(__file__).resolve().parent.parent

#: What is copied from cargo's release directory into the package, under which name: the
#: library (`qmgr.ffi` loads it from there) and the runner binary beside it.
SHIPPED = {"libqmgr.so": "libqmgr.so.0", "qmgr": "qmgr"}


class BuildWithLibrary(build_py):
    """build_py, then the cargo build, and the library and the binary into the package."""

    def run(self):
        super().run()
        if self.editable_mode:
            return  # development: qmgr.ffi finds the repository's build
        if not (REPO / "Cargo.toml").is_file() or not (REPO / "qmgr-ffi").is_dir():
            raise SystemExit(
                f"qmgr: no Rust workspace at {REPO}: the package is built from a checkout of the qmgr "
                "repository (its python/ directory), which holds the library's sources"
            )
        cargo = os.environ.get("CARGO", "cargo")
        command = [cargo, "build", "--release", "-p", "qmgr-ffi", "-p", "qmgr-cli"]
        self.announce(f"running {' '.join(command)} in {REPO}", level=2)
        try:
            subprocess.run(command, cwd=REPO, check=True)
        except FileNotFoundError as error:
            raise SystemExit(f"qmgr: {cargo} not found: building the package needs a Rust toolchain") from error
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        if not target.is_absolute():
            target = REPO / target
        for built, name in SHIPPED.items():
            destination = Path(self.build_lib) / "qmgr" / name
            _copy_without_debug_info(target / "release" / built, destination)


def _copy_without_debug_info(source: Path, destination: Path) -> None:
    """Copies an executable file, dropping its debug information with `strip --strip-debug`
    (`$STRIP`) when that tool is there (the release profile keeps line tables: tens of MiB)."""
    strip = shutil.which(os.environ.get("STRIP", "strip"))
    if strip:
        subprocess.run([strip, "--strip-debug", "-o", str(destination), str(source)], check=True)
    else:
        shutil.copyfile(source, destination)
    os.chmod(destination, 0o755)


class PlatformDistribution(Distribution):
    """A distribution with native code: installed into platlib, never a pure wheel."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A `py3-none-<platform>` wheel: native code, but no Python ABI."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=PlatformDistribution, cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
