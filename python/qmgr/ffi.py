"""The raw C ABI of libqmgr (include/qmgr.h) as ctypes declarations.

Importing this module finds and loads the library (see :func:`find_library`) and declares the
argument and result types of every function of the header, so :data:`lib` can be called
directly. The classes of :mod:`qmgr` are built on it; use it only for what they do not cover.

The ctypes types keep the C names of the header: ``qmgr_guid``, ``qmgr_variant``,
``qmgr_fileset_info``, ``qmgr_callback1``, the opaque handle structures and the callback
function types. Strings the library returns are ``c_char_p`` out-parameters, still to be freed
with ``qmgr_string_free``.
"""

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int32,
    c_int64,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

__all__ = ["LibraryNotFoundError", "find_library", "lib", "library_path"]

#: The library shipped inside the package by ``pip install ./python`` or a wheel (setup.py).
_PACKAGED_LIBRARY = Path(__file__).resolve().with_name("libqmgr.so.0")

#: The repository holding this package (``<repo>/python/qmgr/ffi.py``), whose cargo target
#: directory is searched for a built library.
_REPO_ROOT = Path(__file__).resolve().parents[2]

#: The file name cargo gives the library.
_LIBRARY_FILE = "libqmgr.so"


class LibraryNotFoundError(ImportError):
    """libqmgr could not be found or loaded; the message says where it was looked for."""


def find_library() -> str:
    """Returns the path (or loader name) of libqmgr to load.

    In order: the environment variable ``QMGR_LIBRARY`` (the path of the shared library; it
    must exist), else the library shipped inside the package (``qmgr/libqmgr.so.0``, put there
    by ``pip install`` or a wheel), else the newest of ``release/libqmgr.so`` and
    ``debug/libqmgr.so`` in the cargo target directory (``$CARGO_TARGET_DIR``, else
    ``<repo>/target``: development, ``pip install -e``), else the system's ``libqmgr.so.0``
    (``make install``), as ``ctypes.util.find_library("qmgr")`` finds it.

    Raises :class:`LibraryNotFoundError` when none applies.
    """
    explicit = os.environ.get("QMGR_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise LibraryNotFoundError(f"QMGR_LIBRARY is set to {explicit!r}, which is not a file")
        return explicit
    if _PACKAGED_LIBRARY.is_file():
        return str(_PACKAGED_LIBRARY)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or _REPO_ROOT / "target")
    candidates = [target / profile / _LIBRARY_FILE for profile in ("release", "debug")]
    built = [path for path in candidates if path.is_file()]
    if built:
        return str(max(built, key=lambda path: path.stat().st_mtime))
    system = ctypes.util.find_library("qmgr")
    if system:
        return system
    raise LibraryNotFoundError(
        "libqmgr not found: set QMGR_LIBRARY to the path of libqmgr.so, build it with "
        f"`cargo build -p qmgr-ffi` (looked for {' and '.join(map(str, [_PACKAGED_LIBRARY, *candidates]))}), "
        "install the package with `pip install ./python` (which ships the library), "
        "or install it where the dynamic loader finds it (`make install`)"
    )


qmgr_hresult = c_int32


class qmgr_manager(Structure):
    """An IBackgroundCopyQMgr (opaque handle)."""


class qmgr_group(Structure):
    """An IBackgroundCopyGroup (opaque handle)."""


class qmgr_job(Structure):
    """An IBackgroundCopyJob1 (opaque handle)."""


class qmgr_enum_groups(Structure):
    """An IEnumBackgroundCopyGroups (opaque handle)."""


class qmgr_enum_jobs(Structure):
    """An IEnumBackgroundCopyJobs1 (opaque handle)."""


class qmgr_guid(Structure):
    """A GUID in the Windows layout (16 bytes)."""

    _fields_ = [("data1", c_uint32), ("data2", c_uint16), ("data3", c_uint16), ("data4", c_uint8 * 8)]


class qmgr_variant(Structure):
    """The VARIANT subset of GetProp/SetProp: ``vt`` (QMGR_VT_*), ``int_val``, ``str_val``."""

    _fields_ = [("vt", c_uint16), ("int_val", c_int64), ("str_val", c_char_p)]


class qmgr_fileset_info(Structure):
    """FILESETINFO: source URL, absolute destination path, size hint in bytes (0 = unknown)."""

    _fields_ = [("remote_file", c_char_p), ("local_file", c_char_p), ("size_hint", c_uint32)]


qmgr_on_status_fn = CFUNCTYPE(
    qmgr_hresult, c_void_p, POINTER(qmgr_group), POINTER(qmgr_job), c_uint32, c_uint32, c_uint32, c_uint32, c_uint32
)
qmgr_on_progress_fn = CFUNCTYPE(
    qmgr_hresult, c_void_p, c_uint32, POINTER(qmgr_group), POINTER(qmgr_job), c_uint32, c_uint32
)
qmgr_on_progress_ex_fn = CFUNCTYPE(
    qmgr_hresult,
    c_void_p,
    c_uint32,
    POINTER(qmgr_group),
    POINTER(qmgr_job),
    c_uint32,
    c_uint32,
    c_uint32,
    POINTER(c_uint8),
)
qmgr_release_fn = CFUNCTYPE(None, c_void_p)


class qmgr_callback1(Structure):
    """IBackgroundCopyCallback1: a context and four function pointers (any may be NULL)."""

    _fields_ = [
        ("context", c_void_p),
        ("on_status", qmgr_on_status_fn),
        ("on_progress", qmgr_on_progress_fn),
        ("on_progress_ex", qmgr_on_progress_ex_fn),
        ("release", qmgr_release_fn),
    ]


_P = POINTER
_H = qmgr_hresult
_U32 = c_uint32
_U64 = c_uint64

#: name -> (restype, argtypes) of every function of include/qmgr.h.
PROTOTYPES = {
    "qmgr_enum_groups_next": (_H, [_P(qmgr_enum_groups), _U32, _P(qmgr_guid), _P(_U32)]),
    "qmgr_enum_groups_skip": (_H, [_P(qmgr_enum_groups), _U32]),
    "qmgr_enum_groups_reset": (_H, [_P(qmgr_enum_groups)]),
    "qmgr_enum_groups_clone": (_H, [_P(qmgr_enum_groups), _P(_P(qmgr_enum_groups))]),
    "qmgr_enum_groups_get_count": (_H, [_P(qmgr_enum_groups), _P(_U32)]),
    "qmgr_enum_groups_add_ref": (_U32, [_P(qmgr_enum_groups)]),
    "qmgr_enum_groups_release": (_U32, [_P(qmgr_enum_groups)]),
    "qmgr_enum_jobs_next": (_H, [_P(qmgr_enum_jobs), _U32, _P(qmgr_guid), _P(_U32)]),
    "qmgr_enum_jobs_skip": (_H, [_P(qmgr_enum_jobs), _U32]),
    "qmgr_enum_jobs_reset": (_H, [_P(qmgr_enum_jobs)]),
    "qmgr_enum_jobs_clone": (_H, [_P(qmgr_enum_jobs), _P(_P(qmgr_enum_jobs))]),
    "qmgr_enum_jobs_get_count": (_H, [_P(qmgr_enum_jobs), _P(_U32)]),
    "qmgr_enum_jobs_add_ref": (_U32, [_P(qmgr_enum_jobs)]),
    "qmgr_enum_jobs_release": (_U32, [_P(qmgr_enum_jobs)]),
    "qmgr_group_add_ref": (_U32, [_P(qmgr_group)]),
    "qmgr_group_release": (_U32, [_P(qmgr_group)]),
    "qmgr_group_get_prop": (_H, [_P(qmgr_group), _U32, _P(qmgr_variant)]),
    "qmgr_group_set_prop": (_H, [_P(qmgr_group), _U32, _P(qmgr_variant)]),
    "qmgr_group_get_progress": (_H, [_P(qmgr_group), _U32, _P(_U32)]),
    "qmgr_group_get_status": (_H, [_P(qmgr_group), _P(_U32), _P(_U32)]),
    "qmgr_group_get_job": (_H, [_P(qmgr_group), qmgr_guid, _P(_P(qmgr_job))]),
    "qmgr_group_suspend_group": (_H, [_P(qmgr_group)]),
    "qmgr_group_resume_group": (_H, [_P(qmgr_group)]),
    "qmgr_group_cancel_group": (_H, [_P(qmgr_group)]),
    "qmgr_group_get_size": (_H, [_P(qmgr_group), _P(_U32)]),
    "qmgr_group_get_group_id": (_H, [_P(qmgr_group), _P(qmgr_guid)]),
    "qmgr_group_create_job": (_H, [_P(qmgr_group), qmgr_guid, _P(_P(qmgr_job))]),
    "qmgr_group_enum_jobs": (_H, [_P(qmgr_group), _U32, _P(_P(qmgr_enum_jobs))]),
    "qmgr_group_switch_to_foreground": (_H, [_P(qmgr_group)]),
    "qmgr_group_query_new_job_interface": (_H, [_P(qmgr_group), _P(qmgr_guid), _P(c_void_p)]),
    "qmgr_group_set_notification_pointer": (_H, [_P(qmgr_group), _P(qmgr_guid), _P(qmgr_callback1)]),
    "qmgr_group_get_progress64": (_H, [_P(qmgr_group), _P(_U64), _P(_U64)]),
    "qmgr_group_wait": (_H, [_P(qmgr_group), _U32, _P(_U32)]),
    "qmgr_group_set_rate_limit": (_H, [_P(qmgr_group), _U64]),
    "qmgr_group_get_rate_limit": (_H, [_P(qmgr_group), _P(_U64)]),
    "qmgr_job_add_ref": (_U32, [_P(qmgr_job)]),
    "qmgr_job_release": (_U32, [_P(qmgr_job)]),
    "qmgr_job_cancel_job": (_H, [_P(qmgr_job)]),
    "qmgr_job_get_progress": (_H, [_P(qmgr_job), _U32, _P(_U32)]),
    "qmgr_job_get_status": (_H, [_P(qmgr_job), _P(_U32), _P(_U32), _P(_U32), _P(_U32)]),
    "qmgr_job_add_files": (_H, [_P(qmgr_job), _U32, _P(_P(qmgr_fileset_info))]),
    "qmgr_job_get_file": (_H, [_P(qmgr_job), _U32, _P(qmgr_fileset_info)]),
    "qmgr_job_get_file_count": (_H, [_P(qmgr_job), _P(_U32)]),
    "qmgr_job_switch_to_foreground": (_H, [_P(qmgr_job)]),
    "qmgr_job_get_job_id": (_H, [_P(qmgr_job), _P(qmgr_guid)]),
    "qmgr_job_get_progress64": (_H, [_P(qmgr_job), _P(_U64), _P(_U64)]),
    "qmgr_job_get_file_progress": (_H, [_P(qmgr_job), _U32, _P(_U64), _P(_U64), _P(_U32)]),
    "qmgr_job_get_error_message": (_H, [_P(qmgr_job), _P(c_char_p)]),
    "qmgr_job_set_file_checksum": (_H, [_P(qmgr_job), _U32, c_char_p, c_char_p]),
    "qmgr_create_instance": (_H, [c_char_p, _P(_P(qmgr_manager))]),
    "qmgr_manager_set_option": (_H, [_P(qmgr_manager), c_char_p, c_char_p]),
    "qmgr_manager_get_option": (_H, [_P(qmgr_manager), c_char_p, _P(c_char_p)]),
    "qmgr_manager_add_ref": (_U32, [_P(qmgr_manager)]),
    "qmgr_manager_release": (_U32, [_P(qmgr_manager)]),
    "qmgr_manager_create_group": (_H, [_P(qmgr_manager), qmgr_guid, _P(_P(qmgr_group))]),
    "qmgr_manager_get_group": (_H, [_P(qmgr_manager), qmgr_guid, _P(_P(qmgr_group))]),
    "qmgr_manager_enum_groups": (_H, [_P(qmgr_manager), _U32, _P(_P(qmgr_enum_groups))]),
    "qmgr_string_free": (None, [c_char_p]),
    "qmgr_variant_clear": (None, [_P(qmgr_variant)]),
    "qmgr_fileset_info_clear": (None, [_P(qmgr_fileset_info)]),
    "qmgr_guid_generate": (_H, [_P(qmgr_guid)]),
    "qmgr_guid_to_string": (_H, [_P(qmgr_guid), _P(c_char_p)]),
    "qmgr_guid_from_string": (_H, [c_char_p, _P(qmgr_guid)]),
    "qmgr_get_error_description": (_H, [_H, _P(c_char_p)]),
    "qmgr_get_last_error_message": (_H, [_P(c_char_p)]),
    "qmgr_version": (c_char_p, []),
}


def _load(path: str) -> ctypes.CDLL:
    """Loads the library at `path` and declares every function of :data:`PROTOTYPES`."""
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        raise LibraryNotFoundError(f"cannot load libqmgr from {path}: {error}") from error
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            function = getattr(library, name)
        except AttributeError as error:
            raise LibraryNotFoundError(f"{path} does not export {name}: is it an older build?") from error
        function.restype = restype
        function.argtypes = argtypes
    return library


#: Where the loaded library was found (see :func:`find_library`).
library_path = find_library()

#: The loaded library, every function declared.
lib = _load(library_path)
