"""The constants of include/qmgr.h as Python enumerations.

Each header prefix is one enumeration, its members named by the rest of the header name:
``QM_STATUS_GROUP_COMPLETE`` is ``Status.GROUP_COMPLETE``, ``GROUPPROP_DISPLAYNAME`` is
``GroupProp.DISPLAYNAME``, ``QMGR_E_INVALIDARG`` is ``HResult.E_INVALIDARG`` (HRESULTs keep
their Windows names: ``S_OK``, ``E_*``, ``QM_E_*``, ``BG_E_*``). The test suite checks them
against the header.
"""

import enum
import uuid

__all__ = [
    "BG_E_HTTP_ERROR_BASE",
    "CLSID_BackgroundCopyQMgr",
    "GroupProp",
    "GroupState",
    "HResult",
    "IID_IBackgroundCopyCallback1",
    "IID_IBackgroundCopyGroup",
    "IID_IBackgroundCopyJob1",
    "IID_IBackgroundCopyQMgr",
    "IID_IEnumBackgroundCopyGroups",
    "IID_IEnumBackgroundCopyJobs1",
    "Notify",
    "Option",
    "Progress",
    "Protocol",
    "Status",
    "VarType",
]


def _signed(code: int) -> int:
    """An HRESULT written as its 32-bit pattern (0x8...) as the signed value the library returns."""
    return code - (1 << 32) if code & 0x80000000 else code


class HResult(enum.IntEnum):
    """The HRESULTs the library returns: >= 0 success, < 0 failure (signed 32-bit values)."""

    S_OK = 0
    S_FALSE = 1
    E_NOTIMPL = _signed(0x80004001)
    E_NOINTERFACE = _signed(0x80004002)
    E_POINTER = _signed(0x80004003)
    E_ABORT = _signed(0x80004004)
    E_FAIL = _signed(0x80004005)
    E_UNEXPECTED = _signed(0x8000FFFF)
    E_ACCESSDENIED = _signed(0x80070005)
    E_HANDLE = _signed(0x80070006)
    E_OUTOFMEMORY = _signed(0x8007000E)
    E_INVALIDARG = _signed(0x80070057)
    QM_E_INVALID_STATE = _signed(0x81001001)
    QM_E_SERVICE_UNAVAILABLE = _signed(0x81001002)
    QM_E_DOWNLOADER_UNAVAILABLE = _signed(0x81001003)
    QM_E_ITEM_NOT_FOUND = _signed(0x81001004)
    BG_E_EMPTY = _signed(0x80200003)
    BG_E_NETWORK_DISCONNECTED = _signed(0x80200010)
    BG_E_INVALID_SERVER_RESPONSE = _signed(0x8020001B)
    BG_E_NO_PROGRESS = _signed(0x80200024)
    BG_E_CONNECT_FAILURE = _signed(0x8020002D)
    BG_E_CONNECTION_CLOSED = _signed(0x8020002E)
    BG_E_REMOTE_FILE_CHANGED = _signed(0x80200073)
    #: A file's bytes do not match its checksum (``Job.set_file_checksum``) or the server's
    #: digest: the job's ``win32_result`` after such a fatal error is ``E_BAD_DIGEST & 0xFFFFFFFF``
    #: (C: ``QMGR_E_BAD_DIGEST``, Windows' ``TRUST_E_BAD_DIGEST``; DECISIONS D15).
    E_BAD_DIGEST = _signed(0x80096010)


#: ``win32_result`` of an HTTP status failure is ``BG_E_HTTP_ERROR_BASE | status``
#: (unsigned, e.g. 404 -> 0x80190194).
BG_E_HTTP_ERROR_BASE = 0x80190000


class Notify(enum.IntFlag):
    """QM_NOTIFY_*: the bits of ``Group.notify_flags``."""

    FILE_DONE = 1
    JOB_DONE = 2
    GROUP_DONE = 4
    DISABLE_NOTIFY = 64
    USE_PROGRESSEX = 128


class Status(enum.IntFlag):
    """QM_STATUS_*: the bits of group, job and file status words."""

    FILE_COMPLETE = 1
    FILE_INCOMPLETE = 2
    JOB_COMPLETE = 4
    JOB_INCOMPLETE = 8
    JOB_ERROR = 16
    JOB_FOREGROUND = 32
    GROUP_COMPLETE = 64
    GROUP_INCOMPLETE = 128
    GROUP_SUSPENDED = 256
    GROUP_ERROR = 512
    GROUP_FOREGROUND = 1024


class GroupState(enum.Enum):
    """A group's state (DECISIONS D3), read from its status word by :attr:`Group.state`.

    RUNNING covers queued, connecting, transferring and waiting to retry a transient error;
    ERROR and COMPLETE groups are also suspended (their status words carry
    ``GROUP_SUSPENDED``), which is why ``repr(group.status.flags)`` of a finished group reads
    ``GROUP_COMPLETE|GROUP_SUSPENDED``.
    """

    SUSPENDED = "suspended"
    RUNNING = "running"
    ERROR = "error"
    COMPLETE = "complete"
    CANCELLED = "cancelled"

    @classmethod
    def from_status(cls, flags: int) -> "GroupState":
        """The state a group status word describes (reference §3.4 as DECISIONS D3 composes
        it: complete 0x140, error 0x380, new or suspended 0x180, running 0x080)."""
        if flags & Status.GROUP_COMPLETE:
            return cls.COMPLETE
        if flags & Status.GROUP_ERROR:
            return cls.ERROR
        if flags & Status.GROUP_SUSPENDED:
            return cls.SUSPENDED
        return cls.RUNNING

    def __repr__(self) -> str:
        return f"<GroupState.{self.name}>"


class Protocol(enum.IntEnum):
    """QM_PROTOCOL_*: ``Group.protocol``."""

    HTTP = 1
    FTP = 2
    SMB = 3
    CUSTOM = 4


class Progress(enum.IntEnum):
    """QM_PROGRESS_*: what ``get_progress`` measures and what ``on_progress`` reports."""

    PERCENT_DONE = 1
    TIME_DONE = 2
    SIZE_DONE = 3


class VarType(enum.IntEnum):
    """QMGR_VT_*: the type tag of a ``qmgr_variant``."""

    EMPTY = 0
    I2 = 2
    I4 = 3
    BSTR = 8
    UI2 = 18
    UI4 = 19
    INT = 22
    UINT = 23


class GroupProp(enum.IntEnum):
    """GROUPPROP_*: the group properties of ``Group.get_prop`` / ``Group.set_prop``."""

    PRIORITY = 0
    REMOTEUSERID = 1
    REMOTEUSERPWD = 2
    LOCALUSERID = 3
    LOCALUSERPWD = 4
    PROTOCOLFLAGS = 5
    NOTIFYFLAGS = 6
    NOTIFYCLSID = 7
    PROGRESSSIZE = 8
    PROGRESSPERCENT = 9
    PROGRESSTIME = 10
    DISPLAYNAME = 11
    DESCRIPTION = 12


class Option(enum.StrEnum):
    """The queue-wide options of ``Manager.set_option`` / ``Manager.get_option``."""

    MAX_ACTIVE_GROUPS = "max_active_groups"
    MIN_RETRY_DELAY_MS = "min_retry_delay_ms"
    NO_PROGRESS_TIMEOUT_MS = "no_progress_timeout_ms"
    BACKGROUND_RATE_LIMIT = "background_rate_limit"
    CONNECT_TIMEOUT_MS = "connect_timeout_ms"
    READ_TIMEOUT_MS = "read_timeout_ms"
    USER_AGENT = "user_agent"
    PROXY = "proxy"
    CA_FILE = "ca_file"
    ALLOW_CREDENTIALS_OVER_HTTP = "allow_credentials_over_http"
    AUTOSTART = "autostart"
    #: ``idle`` (default: background groups use only bandwidth nobody else uses) or ``normal``
    #: (they compete like any download); DECISIONS D14.
    BACKGROUND_MODE = "background_mode"
    #: Files of a group's current job fetched at once (default 6, 1 = one at a time); DECISIONS
    #: D16.
    MAX_CONNECTIONS_PER_GROUP = "max_connections_per_group"


IID_IBackgroundCopyQMgr = uuid.UUID("16f41c69-09f5-41d2-8cd8-3c08c47bc8a8")
IID_IBackgroundCopyGroup = uuid.UUID("1ded80a7-53ea-424f-8a04-17fea9adc4f5")
IID_IBackgroundCopyJob1 = uuid.UUID("59f5553c-2031-4629-bb18-2645a6970947")
IID_IEnumBackgroundCopyGroups = uuid.UUID("d993e603-4aa4-47c5-8665-c20d39c2ba4f")
IID_IEnumBackgroundCopyJobs1 = uuid.UUID("8baeba9d-8f1c-42c4-b82c-09ae79980d25")
IID_IBackgroundCopyCallback1 = uuid.UUID("084f6593-3800-4e08-9b59-99fa59addf82")
CLSID_BackgroundCopyQMgr = uuid.UUID("69ad4aee-51be-439b-a92c-86ae490e8b30")
