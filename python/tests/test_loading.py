"""Finding and loading libqmgr."""

import ctypes.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import qmgr
from qmgr import ffi

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent


def test_loaded_library_is_the_workspace_version():
    cargo = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())
    version = cargo["workspace"]["package"]["version"]
    assert qmgr.library_version() == version
    assert qmgr.__version__ == version


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No QMGR_LIBRARY; no library inside the package; an empty CARGO_TARGET_DIR."""
    monkeypatch.delenv("QMGR_LIBRARY", raising=False)
    monkeypatch.setattr(ffi, "_PACKAGED_LIBRARY", tmp_path / "package" / "libqmgr.so.0")
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "target"))
    return tmp_path / "target"


def _touch(path: Path, mtime: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))
    return path


def test_qmgr_library_variable_wins(clean_env, monkeypatch, tmp_path):
    _touch(clean_env / "release" / "libqmgr.so", 2_000_000_000)
    chosen = _touch(tmp_path / "elsewhere.so", 1_000_000_000)
    monkeypatch.setenv("QMGR_LIBRARY", str(chosen))
    assert ffi.find_library() == str(chosen)


def test_qmgr_library_variable_must_name_a_file(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("QMGR_LIBRARY", str(tmp_path / "missing.so"))
    with pytest.raises(qmgr.LibraryNotFoundError, match=r"missing\.so"):
        ffi.find_library()


def test_packaged_library_before_a_cargo_build(clean_env, monkeypatch, tmp_path):
    _touch(clean_env / "release" / "libqmgr.so", 2_000_000_000)
    packaged = _touch(tmp_path / "package" / "libqmgr.so.0", 1_000_000_000)
    assert ffi.find_library() == str(packaged)
    chosen = _touch(tmp_path / "elsewhere.so", 1_000_000_000)
    monkeypatch.setenv("QMGR_LIBRARY", str(chosen))
    assert ffi.find_library() == str(chosen)


@pytest.mark.parametrize("newest", ["release", "debug"])
def test_newest_cargo_build_wins(clean_env, newest):
    for profile in ("release", "debug"):
        _touch(clean_env / profile / "libqmgr.so", 2_000_000_000 if profile == newest else 1_000_000_000)
    assert ffi.find_library() == str(clean_env / newest / "libqmgr.so")


def test_repository_target_directory_by_default(clean_env, monkeypatch, tmp_path):
    monkeypatch.delenv("CARGO_TARGET_DIR")
    monkeypatch.setattr(ffi, "_REPO_ROOT", tmp_path / "repo")
    built = _touch(tmp_path / "repo" / "target" / "debug" / "libqmgr.so", 1_000_000_000)
    assert ffi.find_library() == str(built)


def test_system_library_as_last_resort(clean_env, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.0")
    assert ffi.find_library() == "libqmgr.so.0"


def test_not_found_says_what_to_do(clean_env, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    expected = r"QMGR_LIBRARY.*cargo build -p qmgr-ffi.*pip install"
    with pytest.raises(qmgr.LibraryNotFoundError, match=expected) as raised:
        ffi.find_library()
    assert isinstance(raised.value, ImportError)


def _import_qmgr(library: str) -> subprocess.CompletedProcess:
    """Imports qmgr in a fresh interpreter with QMGR_LIBRARY=`library`."""
    return subprocess.run(
        [sys.executable, "-c", "import qmgr.ffi; print(qmgr.ffi.library_path)"],
        cwd=PACKAGE_ROOT,
        env={**os.environ, "QMGR_LIBRARY": library},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_with_explicit_library():
    result = _import_qmgr(ffi.library_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ffi.library_path


@pytest.mark.parametrize("content, message", [(None, "not a file"), (b"not an ELF file", "cannot load libqmgr")])
def test_import_fails_clearly(tmp_path, content, message):
    library = tmp_path / "libqmgr.so"
    if content is not None:
        library.write_bytes(content)
    result = _import_qmgr(str(library))
    assert result.returncode != 0
    assert "LibraryNotFoundError: " in result.stderr and message in result.stderr, result.stderr
