"""IBackgroundCopyJob1: a job, an ordered list of files of a group."""

import os
import uuid
from collections.abc import Iterable
from ctypes import POINTER, byref, c_char_p, c_uint32, c_uint64, pointer
from typing import NamedTuple

from ._convert import from_guid, known_size, take_string
from ._handle import Handle
from .constants import Progress, Status
from .errors import check
from .ffi import lib, qmgr_fileset_info, qmgr_guid

__all__ = ["ByteProgress", "FileInfo", "FileProgress", "Job", "JobStatus"]


class FileInfo(NamedTuple):
    """FILESETINFO: one file of a job."""

    #: Source URL (ASCII).
    url: str
    #: Absolute destination path.
    local_path: str
    #: Expected size in bytes, 0 = unknown.
    size_hint: int = 0


class JobStatus(NamedTuple):
    """IBackgroundCopyJob1::GetStatus."""

    #: ``Status.JOB_INCOMPLETE`` or ``JOB_COMPLETE``, plus ``JOB_ERROR``, plus ``JOB_FOREGROUND``.
    flags: Status
    #: Win32 code (or ``BG_E_HTTP_ERROR_BASE | http_status``) of the job's current error, 0 if none.
    win32_result: int
    #: The HTTP status of the current error, 0 if none.
    transport_result: int
    #: Failed attempts so far (never reset).
    retries: int


class ByteProgress(NamedTuple):
    """Bytes transferred and the total (``None`` while any size is unknown)."""

    bytes_done: int
    bytes_total: int | None


class FileProgress(NamedTuple):
    """Progress of one file: bytes, total (``None`` while unknown), and
    ``Status.FILE_COMPLETE`` or ``Status.FILE_INCOMPLETE``."""

    bytes_done: int
    bytes_total: int | None
    status: Status


def _fileset_info(index: int, entry: object) -> qmgr_fileset_info:
    """The C record of file `index`: ``(url, local_path)`` or ``(url, local_path, size_hint)``.

    Raises ``TypeError`` naming the file for any other shape or type.
    """
    shape = "a (url, local_path) or (url, local_path, size_hint) tuple"
    if isinstance(entry, str | bytes) or not isinstance(entry, tuple | list):
        raise TypeError(f"add_files: file {index} must be {shape}, not {type(entry).__name__} {entry!r}")
    if len(entry) not in (2, 3):
        raise TypeError(f"add_files: file {index} must be {shape}, not {len(entry)} items")
    url, local_path, *size_hint = entry
    if not isinstance(url, str):
        raise TypeError(f"add_files: the URL of file {index} must be a str, not {type(url).__name__}")
    if not isinstance(local_path, str | os.PathLike):
        raise TypeError(
            f"add_files: the local path of file {index} must be a str or path-like, not {type(local_path).__name__}"
        )
    if size_hint and (not isinstance(size_hint[0], int) or isinstance(size_hint[0], bool)):
        raise TypeError(f"add_files: the size hint of file {index} must be an int, not {type(size_hint[0]).__name__}")
    return qmgr_fileset_info(url.encode(), os.fsencode(local_path), *size_hint)


class Job(Handle):
    """IBackgroundCopyJob1: a job of a group (``Group.create_job``, ``Group.get_job``).

    Failures raise :class:`~qmgr.QmgrError`; once the job or its group is cancelled, every
    method but :attr:`id` raises :class:`~qmgr.InvalidStateError`.
    """

    _add_ref = lib.qmgr_job_add_ref
    _release = lib.qmgr_job_release

    def __repr__(self) -> str:
        return f"<Job {self.id}>" if not self.closed else "<Job (closed)>"

    @property
    def id(self) -> uuid.UUID:
        """get_JobID: the job's GUID (also once cancelled)."""
        guid = qmgr_guid()
        check(lib.qmgr_job_get_job_id(self._handle(), byref(guid)))
        return from_guid(guid)

    def add_files(self, files: Iterable[tuple]) -> None:
        """AddFiles: appends files, each ``(url, local_path)`` or ``(url, local_path, size_hint)``
        (a :class:`FileInfo` too).

        ``url`` is an ASCII ``http(s)://`` URL (``file://`` for ``Protocol.SMB`` groups),
        ``local_path`` an absolute path (str or path-like) in an existing writable directory,
        ``size_hint`` the expected size in bytes (0 = unknown). All or nothing. Raises
        :class:`~qmgr.InvalidArgumentError` for a bad URL or path (the message names the file
        index), :class:`~qmgr.InvalidStateError` while the group runs or once complete.
        """
        if isinstance(files, str | bytes | tuple) and files and isinstance(files[0], str | bytes):
            raise TypeError("add_files takes a list of (url, local_path) tuples, not a single one or a str")
        infos = [pointer(_fileset_info(index, entry)) for index, entry in enumerate(files)]
        check(lib.qmgr_job_add_files(self._handle(), len(infos), (POINTER(qmgr_fileset_info) * len(infos))(*infos)))

    def get_file(self, index: int) -> FileInfo:
        """GetFile: the file at zero-based `index`; :class:`~qmgr.ItemNotFoundError` past the end."""
        info = qmgr_fileset_info()
        check(lib.qmgr_job_get_file(self._handle(), index, byref(info)))
        try:
            return FileInfo(info.remote_file.decode(), info.local_file.decode(), info.size_hint)
        finally:
            lib.qmgr_fileset_info_clear(byref(info))

    @property
    def file_count(self) -> int:
        """GetFileCount: the number of files."""
        count = c_uint32()
        check(lib.qmgr_job_get_file_count(self._handle(), byref(count)))
        return count.value

    @property
    def files(self) -> list[FileInfo]:
        """Every file of the job, in the order added."""
        return [self.get_file(index) for index in range(self.file_count)]

    @property
    def status(self) -> JobStatus:
        """GetStatus: status bits, current error codes and retry count."""
        words = [c_uint32() for _ in range(4)]
        check(lib.qmgr_job_get_status(self._handle(), *map(byref, words)))
        flags, win32_result, transport_result, retries = (word.value for word in words)
        return JobStatus(Status(flags), win32_result, transport_result, retries)

    def get_progress(self, kind: Progress) -> int:
        """GetProgress: percent (0-100), bytes (saturating at 0xFFFFFFFF) or milliseconds of
        active transfer, as `kind` says. Raises :class:`~qmgr.InvalidArgumentError` for another kind."""
        value = c_uint32()
        check(lib.qmgr_job_get_progress(self._handle(), kind, byref(value)))
        return value.value

    @property
    def progress(self) -> ByteProgress:
        """64-bit progress of the job in bytes."""
        done, total = c_uint64(), c_uint64()
        check(lib.qmgr_job_get_progress64(self._handle(), byref(done), byref(total)))
        return ByteProgress(done.value, known_size(total.value))

    def file_progress(self, index: int) -> FileProgress:
        """Progress of the file at `index`; :class:`~qmgr.ItemNotFoundError` past the end."""
        done, total, status = c_uint64(), c_uint64(), c_uint32()
        check(lib.qmgr_job_get_file_progress(self._handle(), index, byref(done), byref(total), byref(status)))
        return FileProgress(done.value, known_size(total.value), Status(status.value))

    @property
    def error_message(self) -> str | None:
        """The human-readable cause of the job's current error (transient or fatal), or None."""
        text = c_char_p()
        check(lib.qmgr_job_get_error_message(self._handle(), byref(text)))
        return take_string(text)

    def set_file_checksum(self, index: int, algorithm: str, hex_digest: str) -> None:
        """Sets the expected digest of the file at zero-based `index` (DECISIONS D15):
        `algorithm` ``"sha-256"`` or ``"sha-512"`` (any case), `hex_digest` its 64 or 128 hex
        digits (any case). Persisted at once; setting it again replaces it.

        The file is hashed as it is written (a resumed file re-reads the bytes it kept, once;
        one set while the file is being fetched is checked at its end) and checked before it
        gets its final name. A mismatch is a fatal job error: :attr:`status` then has
        ``win32_result == HResult.E_BAD_DIGEST & 0xFFFFFFFF`` and ``transport_result == 0``,
        :attr:`error_message` names the algorithm, the expected and the actual digest, and
        the temporary file is deleted.

        Raises :class:`~qmgr.InvalidArgumentError` for an unknown algorithm, a digest of the
        wrong length or with a non-hex character (the message names ``algorithm`` or
        ``hex_digest``) or an `index` out of range; :class:`~qmgr.InvalidStateError` once the
        job or its group is cancelled, or when the file is complete.
        """
        check(lib.qmgr_job_set_file_checksum(self._handle(), index, algorithm.encode(), hex_digest.encode()))

    def switch_to_foreground(self) -> None:
        """SwitchToForeground: sets ``Status.JOB_FOREGROUND`` and makes the group foreground."""
        check(lib.qmgr_job_switch_to_foreground(self._handle()))

    def cancel(self) -> None:
        """CancelJob: removes the job from its group (finished files stay, partial data is
        deleted); the group goes on with its next job."""
        check(lib.qmgr_job_cancel_job(self._handle()))
