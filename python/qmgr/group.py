"""IBackgroundCopyGroup: a group of jobs, the unit that is scheduled, and its callbacks."""

import itertools
import logging
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from ctypes import POINTER, byref, c_uint32, c_uint64, string_at
from typing import NamedTuple

from ._convert import from_guid, known_size, to_guid
from ._handle import Handle
from .constants import (
    GroupProp,
    GroupState,
    HResult,
    IID_IBackgroundCopyCallback1,
    Notify,
    Progress,
    Protocol,
    Status,
    VarType,
)
from .enumerators import JobEnumerator, open_each
from .errors import InvalidArgumentError, InvalidStateError, QmgrError, TransferError, check
from .ffi import (
    lib,
    qmgr_callback1,
    qmgr_enum_jobs,
    qmgr_guid,
    qmgr_job,
    qmgr_on_progress_ex_fn,
    qmgr_on_progress_fn,
    qmgr_on_status_fn,
    qmgr_release_fn,
    qmgr_variant,
)
from .job import ByteProgress, Job
from .misc import generate_guid

__all__ = ["Group", "GroupStatus", "ProgressRecord"]

_log = logging.getLogger("qmgr")

#: The file_index of an event that concerns no single file.
_NO_FILE = 0xFFFFFFFF

#: qmgr_group_wait's time slice in milliseconds: a waiting thread returns to Python this often,
#: so that it stays interruptible (KeyboardInterrupt).
_WAIT_SLICE_MS = 200


class GroupStatus(NamedTuple):
    """IBackgroundCopyGroup::GetStatus."""

    #: ``Status.GROUP_*`` bits: new 0x180, running 0x080 (0x480 foreground), error 0x380,
    #: complete 0x140.
    flags: Status
    #: Zero-based index of the job being processed (the last one's once complete; 0 without jobs).
    job_index: int


class ProgressRecord(NamedTuple):
    """The byte array of OnProgressEx (DECISIONS D9), for the group (``job`` None) or the job."""

    version: int
    bytes_done: int
    #: None while any size is unknown.
    bytes_total: int | None
    files_done: int
    files_total: int

    _FORMAT = struct.Struct("<IQQII")

    @classmethod
    def parse(cls, data: bytes) -> "ProgressRecord":
        """Reads the 28-byte version-1 prefix (later versions only append fields)."""
        version, done, total, files_done, files_total = cls._FORMAT.unpack_from(data)
        return cls(version, done, known_size(total), files_done, files_total)


class _Property:
    """A GROUPPROP_* as a Python attribute: read with GetProp, written with SetProp."""

    def __init__(self, prop: GroupProp, kind: Callable, doc: str):
        self._prop = prop
        self._kind = kind
        self.__doc__ = doc

    def __get__(self, group: "Group | None", owner: type | None = None):
        return self if group is None else self._kind(group.get_prop(self._prop))

    def __set__(self, group: "Group", value) -> None:
        group.set_prop(self._prop, value)


class Group(Handle):
    """IBackgroundCopyGroup: a group of the queue (``Manager.create_group``, ``Manager.get_group``).

    A group keeps its manager alive. Closing a Group object only releases the handle: the group
    stays in the queue (use :meth:`cancel` to remove it). Failures raise
    :class:`~qmgr.QmgrError`; once the group is cancelled, every method but :attr:`id` raises
    :class:`~qmgr.InvalidStateError`.
    """

    _add_ref = lib.qmgr_group_add_ref
    _release = lib.qmgr_group_release

    priority = _Property(GroupProp.PRIORITY, int, "0 (high), 1 (normal, default) or 2 (low).")
    remote_user_id = _Property(GroupProp.REMOTEUSERID, str, "HTTP user name (str).")
    remote_user_password = _Property(GroupProp.REMOTEUSERPWD, str, "HTTP password (str); write-only: reads as ''.")
    protocol = _Property(
        GroupProp.PROTOCOLFLAGS,
        Protocol,
        "Protocol.HTTP (default; http/https URLs) or Protocol.SMB (file:// URLs); only while the "
        "group has no files. FTP raises QmgrError(QM_E_DOWNLOADER_UNAVAILABLE), CUSTOM NotSupportedError.",
    )
    notify_flags = _Property(GroupProp.NOTIFYFLAGS, Notify, "Notify bits: which events reach the callback.")
    notify_clsid = _Property(GroupProp.NOTIFYCLSID, str, "'' or a GUID string, stored verbatim.")
    progress_size = _Property(GroupProp.PROGRESSSIZE, int, "on_progress every N bytes (0 = off).")
    progress_percent = _Property(GroupProp.PROGRESSPERCENT, int, "on_progress every N percent, 0-100 (0 = off).")
    progress_time = _Property(GroupProp.PROGRESSTIME, int, "on_progress every N milliseconds (0 = off).")
    display_name = _Property(GroupProp.DISPLAYNAME, str, "Display name (str, at most 256 characters).")
    description = _Property(GroupProp.DESCRIPTION, str, "Description (str, at most 1024 characters).")

    def __repr__(self) -> str:
        return f"<Group {self.id} {self.state.value}>" if not self.closed else "<Group (closed)>"

    @property
    def id(self) -> uuid.UUID:
        """get_GroupID: the group's GUID (also once cancelled)."""
        guid = qmgr_guid()
        check(lib.qmgr_group_get_group_id(self._handle(), byref(guid)))
        return from_guid(guid)

    def get_prop(self, prop: GroupProp) -> int | str:
        """GetProp: an integer property as int, a string property as str.

        Raises :class:`~qmgr.InvalidArgumentError` for an unknown property,
        :class:`~qmgr.NotSupportedError` for ``LOCALUSERID`` / ``LOCALUSERPWD``.
        """
        value = qmgr_variant()
        check(lib.qmgr_group_get_prop(self._handle(), prop, byref(value)))
        try:
            return value.str_val.decode() if value.vt == VarType.BSTR else value.int_val
        finally:
            lib.qmgr_variant_clear(byref(value))

    def set_prop(self, prop: GroupProp, value: int | str) -> None:
        """SetProp: sets a property (persisted before returning); str for string properties,
        int for the others.

        Raises :class:`~qmgr.InvalidArgumentError` for a wrong type or an out-of-range value.
        """
        if isinstance(value, str):
            variant = qmgr_variant(VarType.BSTR, 0, value.encode())
        elif -(1 << 63) <= value < 1 << 63:
            variant = qmgr_variant(VarType.UI4 if value >= 1 << 31 else VarType.I4, value)
        else:
            raise InvalidArgumentError(HResult.E_INVALIDARG, f"SetProp: value {value} is out of range")
        check(lib.qmgr_group_set_prop(self._handle(), prop, byref(variant)))

    @property
    def rate_limit(self) -> int:
        """The group's rate limit in bytes/s, 0 = none (the default): every transfer of the group,
        foreground ones too, receives at most this much (``qmgr_group_set_rate_limit``; C-API.md
        "Per-group rate limit"). Persisted; a running transfer follows a new value at once.
        Background groups stay bound by the option ``background_rate_limit`` and the idle
        controller too: the lowest limit wins.

        Setting raises ``TypeError`` for anything but an int, :class:`~qmgr.InvalidArgumentError`
        (a ``ValueError``) for a negative value or one above 2**64 - 1.
        """
        value = c_uint64()
        check(lib.qmgr_group_get_rate_limit(self._handle(), byref(value)))
        return value.value

    @rate_limit.setter
    def rate_limit(self, bytes_per_second: int) -> None:
        if not isinstance(bytes_per_second, int) or isinstance(bytes_per_second, bool):
            raise TypeError(f"rate_limit must be an int (bytes/s, 0 = none), not {type(bytes_per_second).__name__}")
        if not 0 <= bytes_per_second < 1 << 64:
            raise InvalidArgumentError(
                HResult.E_INVALIDARG, f"rate_limit: {bytes_per_second} bytes/s is not between 0 and 2**64 - 1"
            )
        check(lib.qmgr_group_set_rate_limit(self._handle(), bytes_per_second))

    def get_progress(self, kind: Progress) -> int:
        """GetProgress over all jobs: percent (0-100), bytes (saturating at 0xFFFFFFFF) or
        milliseconds of active transfer, as `kind` says."""
        value = c_uint32()
        check(lib.qmgr_group_get_progress(self._handle(), kind, byref(value)))
        return value.value

    @property
    def progress(self) -> ByteProgress:
        """64-bit progress of the group in bytes."""
        done, total = c_uint64(), c_uint64()
        check(lib.qmgr_group_get_progress64(self._handle(), byref(done), byref(total)))
        return ByteProgress(done.value, known_size(total.value))

    @property
    def status(self) -> GroupStatus:
        """GetStatus: the status bits and the index of the current job."""
        flags, job_index = c_uint32(), c_uint32()
        check(lib.qmgr_group_get_status(self._handle(), byref(flags), byref(job_index)))
        return GroupStatus(Status(flags.value), job_index.value)

    @property
    def state(self) -> GroupState:
        """The group's state (DECISIONS D3): :class:`~qmgr.GroupState` ``SUSPENDED``,
        ``RUNNING``, ``ERROR``, ``COMPLETE``, or ``CANCELLED`` once cancelled (where
        :attr:`status` raises :class:`~qmgr.InvalidStateError`)."""
        try:
            return GroupState.from_status(self.status.flags)
        except InvalidStateError:
            return GroupState.CANCELLED

    def failure(self) -> TransferError | None:
        """The fatal error that stopped the group (state ERROR) as a :class:`~qmgr.TransferError`
        of its failing job (the first with ``JOB_ERROR``), or None when it has none."""
        for job in self.jobs():
            with job:
                status = job.status
                if not status.flags & Status.JOB_ERROR:
                    continue
                first = next(
                    (f for i, f in enumerate(job.files) if not job.file_progress(i).status & Status.FILE_COMPLETE), None
                )
                return TransferError(
                    win32_result=status.win32_result,
                    http_status=status.transport_result,
                    url=first.url if first else None,
                    local_path=first.local_path if first else None,
                    message=job.error_message or "the transfer failed",
                    group_id=self.id,
                    job_id=job.id,
                )
        return None

    @property
    def size(self) -> int:
        """get_Size: total bytes of the files (0 while any size is unknown; saturates at 0xFFFFFFFF)."""
        size = c_uint32()
        check(lib.qmgr_group_get_size(self._handle(), byref(size)))
        return size.value

    def create_job(self, job_id: uuid.UUID | str | None = None) -> Job:
        """CreateJob: a new job without files after the others (`job_id` None = a random GUID).

        Raises :class:`~qmgr.InvalidStateError` while running or once complete,
        :class:`~qmgr.InvalidArgumentError` for a GUID already used in the queue.
        """
        out = POINTER(qmgr_job)()
        check(lib.qmgr_group_create_job(self._handle(), to_guid(job_id or generate_guid(), "job_id"), byref(out)))
        return Job._wrap(out)

    def get_job(self, job_id: uuid.UUID | str) -> Job:
        """GetJob: the job with that GUID; :class:`~qmgr.ItemNotFoundError` if the group has none."""
        out = POINTER(qmgr_job)()
        check(lib.qmgr_group_get_job(self._handle(), to_guid(job_id, "job_id"), byref(out)))
        return Job._wrap(out)

    def enum_jobs(self) -> JobEnumerator:
        """EnumJobs: an enumerator over a snapshot of the jobs' GUIDs, in creation order."""
        out = POINTER(qmgr_enum_jobs)()
        check(lib.qmgr_group_enum_jobs(self._handle(), 0, byref(out)))
        return JobEnumerator._wrap(out)

    def jobs(self) -> Iterator[Job]:
        """The group's jobs, in creation order (those cancelled meanwhile are skipped)."""
        return open_each(self.enum_jobs(), self.get_job)

    def resume(self) -> None:
        """ResumeGroup: starts (or restarts after an error) the transfer; no-op when running or
        complete. Raises :class:`~qmgr.EmptyGroupError` when the group has no files."""
        check(lib.qmgr_group_resume_group(self._handle()))

    def suspend(self) -> None:
        """SuspendGroup: stops a running group within 100 ms, keeping partial data."""
        check(lib.qmgr_group_suspend_group(self._handle()))

    def cancel(self) -> None:
        """CancelGroup: removes the group from the queue (finished files stay, temporary files
        are deleted, the callback is released)."""
        check(lib.qmgr_group_cancel_group(self._handle()))

    def switch_to_foreground(self) -> None:
        """SwitchToForeground (sticky): scheduled first, never rate-limited."""
        check(lib.qmgr_group_switch_to_foreground(self._handle()))

    def wait(self, timeout: float | None = None, *, raise_on_error: bool = True) -> Status:
        """Blocks until the group is complete, in error or suspended, and returns its status bits
        (e.g. ``GROUP_COMPLETE|GROUP_SUSPENDED``: see :attr:`state` for the plain state).

        `timeout` in seconds (None = no limit). Raises ``TimeoutError`` when it passes,
        :class:`~qmgr.InvalidStateError` when the group is (or gets) cancelled, and — unless
        `raise_on_error` is false — :class:`~qmgr.TransferError` when it stopped in ERROR
        (the group stays in the queue, in ERROR, for ``resume`` or ``cancel``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        flags = c_uint32()
        while True:
            slice_ms = _WAIT_SLICE_MS
            if deadline is not None:
                slice_ms = min(slice_ms, max(0, int((deadline - time.monotonic()) * 1000)))
            if check(lib.qmgr_group_wait(self._handle(), slice_ms, byref(flags))) == HResult.S_OK:
                status = Status(flags.value)
                if raise_on_error and status & Status.GROUP_ERROR:
                    error = self.failure()
                    if error is not None:
                        raise error
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"group {self.id} still running after {timeout} s (status {Status(flags.value)!r})")

    def set_callback(self, callback: object | None) -> None:
        """SetNotificationPointer: registers `callback` as the group's notification sink, or
        clears the registration (None).

        `callback` is any object with some of these methods (a missing one is not delivered);
        they run on the library's notification thread, one at a time:

        * ``on_status(group, job, file_index, status, retries, win32_result, transport_result)``:
          an error (by default) or a completion (``notify_flags``). ``job`` is None and
          ``file_index`` None when the event concerns no job or no single file; ``status`` is
          a :class:`~qmgr.Status`. Return None (or ``S_OK``) to acknowledge; any other HRESULT
          asks for the event again later (1 s doubling to 10 min) while it still holds.
        * ``on_progress(kind, group, job, file_index, value)``: a progress threshold was
          crossed; ``kind`` a :class:`~qmgr.Progress`, ``value`` in its unit.
        * ``on_progress_ex(kind, group, job, file_index, value, record)``: instead of
          on_progress with ``Notify.USE_PROGRESSEX``; ``record`` a :class:`ProgressRecord`.
        * ``on_release()``: the library dropped the registration (replaced, cleared, group
          cancelled, or manager closed); no method is called after it.

        The group and job objects passed in hold their own reference (keep them if needed).
        An exception in a method is logged (logger ``qmgr``) and answered with ``E_FAIL``.
        The package keeps `callback` alive until its release. Registrations are not persisted.
        """
        iid = to_guid(IID_IBackgroundCopyCallback1)
        if callback is None:
            check(lib.qmgr_group_set_notification_pointer(self._handle(), byref(iid), None))
            return
        context = next(_contexts)
        pointers = {name: thunk for name, thunk in _THUNKS.items() if hasattr(callback, name)}
        registration = qmgr_callback1(context, release=_release_thunk, **pointers)
        _callbacks[context] = callback  # before the call: pending events may be delivered at once
        try:
            check(lib.qmgr_group_set_notification_pointer(self._handle(), byref(iid), byref(registration)))
        except QmgrError:
            del _callbacks[context]  # a refused registration is never released
            raise


#: context -> the Python callback object, from registration to release.
_callbacks: dict[int, object] = {}
_contexts = itertools.count(1)


def _deliver(name: str, fn_type: type, convert: Callable) -> Callable:
    """A C function pointer of `fn_type` calling method `name` of the callback registered under
    its context, with the C arguments converted by `convert`; its result is the HRESULT."""

    def call(context: int, *args) -> int:
        try:
            result = getattr(_callbacks[context], name)(*convert(*args))
        except Exception:
            _log.exception("qmgr callback %s raised; answering E_FAIL", name)
            return HResult.E_FAIL
        return HResult.S_OK if result is None else int(result)

    return fn_type(call)


def _objects(group, job, file_index: int) -> tuple[Group, Job | None, int | None]:
    return Group._borrow(group), Job._borrow(job) if job else None, None if file_index == _NO_FILE else file_index


#: The C entry points of the callbacks, shared by every registration (so never freed).
_THUNKS = {
    "on_status": _deliver(
        "on_status",
        qmgr_on_status_fn,
        lambda group, job, file_index, status, *codes: (*_objects(group, job, file_index), Status(status), *codes),
    ),
    "on_progress": _deliver(
        "on_progress",
        qmgr_on_progress_fn,
        lambda kind, group, job, file_index, value: (Progress(kind), *_objects(group, job, file_index), value),
    ),
    "on_progress_ex": _deliver(
        "on_progress_ex",
        qmgr_on_progress_ex_fn,
        lambda kind, group, job, file_index, value, size, data: (
            Progress(kind),
            *_objects(group, job, file_index),
            value,
            ProgressRecord.parse(string_at(data, size)),
        ),
    ),
}


@qmgr_release_fn
def _release_thunk(context: int) -> None:
    callback = _callbacks.pop(context, None)
    try:
        getattr(callback, "on_release", lambda: None)()
    except Exception:
        _log.exception("qmgr callback on_release raised")
