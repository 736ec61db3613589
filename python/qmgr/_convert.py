"""Conversions between Python values and the C types of :mod:`qmgr.ffi`."""

import uuid
from ctypes import c_char_p, c_uint8

from .constants import HResult
from .ffi import lib, qmgr_guid


def to_guid(value: uuid.UUID | str, name: str = "guid") -> qmgr_guid:
    """A ``qmgr_guid`` (Windows layout) from a UUID or its text form (braces optional).

    Raises ``TypeError`` for another type, :class:`~qmgr.InvalidArgumentError` for text that
    is not a GUID; both messages name the argument `name`.
    """
    if not isinstance(value, uuid.UUID):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a uuid.UUID or a GUID string, not {type(value).__name__}")
        try:
            value = uuid.UUID(value)
        except ValueError:
            from .errors import InvalidArgumentError  # errors imports this module

            raise InvalidArgumentError(HResult.E_INVALIDARG, f"{name} {value!r} is not a GUID") from None
    return qmgr_guid(value.time_low, value.time_mid, value.time_hi_version, (c_uint8 * 8)(*value.bytes[8:]))


def from_guid(guid: qmgr_guid) -> uuid.UUID:
    """The UUID of a ``qmgr_guid``."""
    data4 = bytes(guid.data4)
    return uuid.UUID(fields=(guid.data1, guid.data2, guid.data3, data4[0], data4[1], int.from_bytes(data4[2:])))


#: A 64-bit size the library reports while it is unknown.
_UNKNOWN_SIZE = 0xFFFFFFFFFFFFFFFF


def known_size(value: int) -> int | None:
    """A 64-bit byte total of the library, None while unknown (UINT64_MAX)."""
    return None if value == _UNKNOWN_SIZE else value


def take_string(text: c_char_p) -> str | None:
    """The value of a string the library returned (``None`` for NULL), freeing it."""
    try:
        return None if text.value is None else text.value.decode()
    finally:
        lib.qmgr_string_free(text)
