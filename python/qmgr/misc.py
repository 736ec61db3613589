"""The library's GUID helpers and version."""

import uuid
from ctypes import byref, c_char_p

from ._convert import from_guid, take_string, to_guid
from .errors import check
from .ffi import lib, qmgr_guid

__all__ = ["generate_guid", "guid_from_string", "guid_to_string", "library_version"]


def generate_guid() -> uuid.UUID:
    """A random (version 4) GUID from the library."""
    guid = qmgr_guid()
    check(lib.qmgr_guid_generate(byref(guid)))
    return from_guid(guid)


def guid_to_string(value: uuid.UUID) -> str:
    """The library's text form of a GUID: ``{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}``, lower case."""
    text = c_char_p()
    check(lib.qmgr_guid_to_string(byref(to_guid(value)), byref(text)))
    return take_string(text)


def guid_from_string(text: str) -> uuid.UUID:
    """Parses a GUID (braces optional, any case) with the library.

    Raises :class:`~qmgr.InvalidArgumentError` if `text` is not a GUID.
    """
    guid = qmgr_guid()
    check(lib.qmgr_guid_from_string(text.encode(), byref(guid)))
    return from_guid(guid)


def library_version() -> str:
    """The loaded library's version, e.g. ``"0.1.0"``."""
    return lib.qmgr_version().decode()
