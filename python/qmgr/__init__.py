"""qmgr: Python (ctypes) binding of libqmgr, the Windows Queue Manager (QMGR / BITS 1.x)
background download service rebuilt for Linux.

A :class:`Manager` opens a queue directory; it holds :class:`Group` objects (the unit that is
scheduled), each an ordered list of :class:`Job` objects, each an ordered list of files
(URL, local path). Groups transfer in the background, survive the process, and report
through :meth:`Group.set_callback`. Failures raise :class:`QmgrError` (with its ``hresult``
and the library's message). The library is found as :func:`qmgr.ffi.find_library` says.
"""

__version__ = "0.1.0"

from .constants import (
    BG_E_HTTP_ERROR_BASE,
    CLSID_BackgroundCopyQMgr,
    GroupProp,
    GroupState,
    HResult,
    IID_IBackgroundCopyCallback1,
    IID_IBackgroundCopyGroup,
    IID_IBackgroundCopyJob1,
    IID_IBackgroundCopyQMgr,
    IID_IEnumBackgroundCopyGroups,
    IID_IEnumBackgroundCopyJobs1,
    Notify,
    Option,
    Progress,
    Protocol,
    Status,
    VarType,
)
from .download import download
from .enumerators import GroupEnumerator, JobEnumerator
from .errors import (
    EmptyGroupError,
    InvalidArgumentError,
    InvalidHandleError,
    InvalidStateError,
    ItemNotFoundError,
    NotSupportedError,
    QmgrError,
    ServiceUnavailableError,
    TransferError,
    describe_error,
    last_error_message,
)
from .ffi import LibraryNotFoundError
from .group import Group, GroupStatus, ProgressRecord
from .job import ByteProgress, FileInfo, FileProgress, Job, JobStatus
from .manager import Manager
from .misc import generate_guid, guid_from_string, guid_to_string, library_version

__all__ = [
    "BG_E_HTTP_ERROR_BASE",
    "ByteProgress",
    "CLSID_BackgroundCopyQMgr",
    "EmptyGroupError",
    "FileInfo",
    "FileProgress",
    "Group",
    "GroupEnumerator",
    "GroupProp",
    "GroupState",
    "GroupStatus",
    "HResult",
    "IID_IBackgroundCopyCallback1",
    "IID_IBackgroundCopyGroup",
    "IID_IBackgroundCopyJob1",
    "IID_IBackgroundCopyQMgr",
    "IID_IEnumBackgroundCopyGroups",
    "IID_IEnumBackgroundCopyJobs1",
    "InvalidArgumentError",
    "InvalidHandleError",
    "InvalidStateError",
    "ItemNotFoundError",
    "Job",
    "JobEnumerator",
    "JobStatus",
    "LibraryNotFoundError",
    "Manager",
    "NotSupportedError",
    "Notify",
    "Option",
    "Progress",
    "ProgressRecord",
    "Protocol",
    "QmgrError",
    "ServiceUnavailableError",
    "Status",
    "TransferError",
    "VarType",
    "describe_error",
    "download",
    "generate_guid",
    "guid_from_string",
    "guid_to_string",
    "last_error_message",
    "library_version",
]
