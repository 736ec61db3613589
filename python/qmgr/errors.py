"""HRESULT failures as Python exceptions."""

from ctypes import byref, c_char_p

from ._convert import take_string
from .constants import HResult
from .ffi import lib

__all__ = [
    "EmptyGroupError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "InvalidStateError",
    "ItemNotFoundError",
    "NotSupportedError",
    "QmgrError",
    "ServiceUnavailableError",
    "TransferError",
    "describe_error",
    "last_error_message",
]

#: HRESULT -> the QmgrError subclass raised for it.
_SUBCLASSES: dict[int, type["QmgrError"]] = {}


class QmgrError(Exception):
    """A library call failed with a failure HRESULT (< 0).

    ``hresult`` is the signed HRESULT (compare with :class:`~qmgr.HResult`), ``message`` what
    the library said about this call (its per-thread last-error message). Like ``OSError`` with
    an errno, ``QmgrError(hresult, message)`` creates the subclass registered for that HRESULT
    (:class:`InvalidArgumentError` for ``E_INVALIDARG``…), if any.
    """

    def __new__(cls, hresult: int, message: str):
        if cls is QmgrError:
            cls = _SUBCLASSES.get(hresult, QmgrError)
        return super().__new__(cls, hresult, message)

    def __init__(self, hresult: int, message: str):
        super().__init__(hresult, message)
        self.hresult = hresult
        self.message = message

    def __init_subclass__(cls, hresult: HResult, **kwargs):
        super().__init_subclass__(**kwargs)
        _SUBCLASSES[hresult] = cls

    def __str__(self) -> str:
        try:
            name = HResult(self.hresult).name
        except ValueError:
            name = "HRESULT"
        return f"{name} (0x{self.hresult & 0xFFFFFFFF:08X}): {self.message}"


class InvalidArgumentError(QmgrError, ValueError, hresult=HResult.E_INVALIDARG):
    """``E_INVALIDARG``: an argument is invalid (bad value, unknown name or property…)."""


class InvalidHandleError(QmgrError, hresult=HResult.E_HANDLE):
    """``E_HANDLE``: the object was closed (or the handle is not a live one)."""


class NotSupportedError(QmgrError, NotImplementedError, hresult=HResult.E_NOTIMPL):
    """``E_NOTIMPL``: the feature is not implemented (e.g. ``GroupProp.LOCALUSERID``)."""


class InvalidStateError(QmgrError, hresult=HResult.QM_E_INVALID_STATE):
    """``QM_E_INVALID_STATE``: not allowed in the object's state (running, complete, cancelled)."""


class ItemNotFoundError(QmgrError, LookupError, hresult=HResult.QM_E_ITEM_NOT_FOUND):
    """``QM_E_ITEM_NOT_FOUND``: no such group, job or file."""


class ServiceUnavailableError(QmgrError, hresult=HResult.QM_E_SERVICE_UNAVAILABLE):
    """``QM_E_SERVICE_UNAVAILABLE``: the queue directory or database cannot be used."""


class EmptyGroupError(QmgrError, hresult=HResult.BG_E_EMPTY):
    """``BG_E_EMPTY``: the group has no files to download."""


class TransferError(Exception):
    """A group stopped in ERROR on a fatal transfer error (raised by ``Group.wait`` and
    :func:`qmgr.download`): not a failed library call, but what the failing job reports.

    Attributes: ``hresult`` (the job's Win32 result as a signed HRESULT: ``BG_E_HTTP_ERROR_*``
    for an HTTP status, ``HRESULT_FROM_WIN32(code)`` for a Win32 code), ``win32_result`` (as the
    job reports it), ``http_status`` (0 when the failure was not an HTTP status), ``url`` and
    ``local_path`` (the first file the job did not complete; ``None`` if unknown),
    ``message`` (the job's error message), ``group_id`` and ``job_id``.
    """

    def __init__(
        self,
        *,
        win32_result: int,
        http_status: int,
        url: str | None,
        local_path: str | None,
        message: str,
        group_id,
        job_id,
    ):
        code = win32_result & 0xFFFFFFFF
        unsigned = code if code & 0x80000000 else (0x80070000 | (code & 0xFFFF) if code else 0x80004005)
        self.hresult = unsigned - (1 << 32)
        self.win32_result = win32_result
        self.http_status = http_status
        self.url = url
        self.local_path = local_path
        self.message = message
        self.group_id = group_id
        self.job_id = job_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" ({self.url} -> {self.local_path})" if self.url else ""
        http = f", HTTP {self.http_status}" if self.http_status else ""
        return f"transfer failed{where}: {self.message} (HRESULT 0x{self.hresult & 0xFFFFFFFF:08X}{http})"


def last_error_message() -> str | None:
    """What went wrong in this thread's last failed library call (``None`` if none failed)."""
    text = c_char_p()
    lib.qmgr_get_last_error_message(byref(text))
    return take_string(text)


def describe_error(hresult: int) -> str:
    """The library's description of an HRESULT it returns (GetErrorDescription).

    Accepts HRESULTs signed (:class:`~qmgr.HResult`) or as their unsigned 32-bit pattern, e.g.
    a ``win32_result`` of ``BG_E_HTTP_ERROR_BASE | 404``; a plain Win32 ``win32_result`` (such
    as 12029) is described as HRESULT_FROM_WIN32, ``0x80070000 | code``. Raises
    :class:`InvalidArgumentError` for a code the library never returns.
    """
    text = c_char_p()
    check(lib.qmgr_get_error_description(hresult - (1 << 32) if hresult > 0x7FFFFFFF else hresult, byref(text)))
    return take_string(text)


def check(hresult: int) -> int:
    """Returns a success HRESULT (``S_OK``, ``S_FALSE``) as is; raises a failure as QmgrError.

    Must run on the thread of the failed call, right after it: the message is per thread.
    """
    if hresult < 0:
        raise QmgrError(hresult, last_error_message() or "")
    return hresult
