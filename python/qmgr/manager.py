"""IBackgroundCopyQMgr: a queue of groups, opened on a queue directory."""

import os
import uuid
from collections.abc import Iterator
from ctypes import POINTER, byref, c_char_p

from ._convert import take_string, to_guid
from ._handle import Handle
from .enumerators import GroupEnumerator, open_each
from .errors import check
from .ffi import lib, qmgr_enum_groups, qmgr_group, qmgr_manager
from .group import Group
from .misc import generate_guid

__all__ = ["Manager"]


class Manager(Handle):
    """IBackgroundCopyQMgr: the queue in a directory (CoCreateInstance counterpart).

    ``Manager(queue_dir)`` opens the queue in `queue_dir` (str or path-like; created with mode
    0700 if missing); ``Manager()`` the default queue: ``$QMGR_HOME``, else
    ``$XDG_STATE_HOME/qmgr``, else ``~/.local/state/qmgr``. Opening a directory again in the
    same process shares the same manager. Groups that were running continue by themselves.
    Closing the last handle of a queue (managers, groups and jobs hold one each) stops its
    transfers after checkpointing them.

    Raises :class:`~qmgr.ServiceUnavailableError` if the queue cannot be opened,
    :class:`~qmgr.InvalidArgumentError` for an empty path.
    """

    _add_ref = lib.qmgr_manager_add_ref
    _release = lib.qmgr_manager_release

    def __init__(self, queue_dir: str | os.PathLike | None = None):
        out = POINTER(qmgr_manager)()
        check(lib.qmgr_create_instance(None if queue_dir is None else os.fsencode(queue_dir), byref(out)))
        self._adopt(out)

    def set_option(self, name: str, value: str | int | os.PathLike) -> None:
        """Sets a queue-wide option (see :class:`~qmgr.Option`), persisted in the queue.

        Integers (and bools) are written in decimal. Raises :class:`~qmgr.InvalidArgumentError`
        for an unknown name or a bad value.
        """
        text = str(int(value)).encode() if isinstance(value, int) else os.fsencode(value)
        check(lib.qmgr_manager_set_option(self._handle(), name.encode(), text))

    def get_option(self, name: str) -> str:
        """Reads a queue option as text (an unset string option reads as '').

        Raises :class:`~qmgr.InvalidArgumentError` for an unknown name.
        """
        text = c_char_p()
        check(lib.qmgr_manager_get_option(self._handle(), name.encode(), byref(text)))
        return take_string(text)

    def create_group(self, group_id: uuid.UUID | str | None = None) -> Group:
        """CreateGroup: a new suspended group with default properties (`group_id` None = a
        random GUID). Raises :class:`~qmgr.InvalidArgumentError` for a GUID already in the queue."""
        out = POINTER(qmgr_group)()
        guid = to_guid(group_id or generate_guid(), "group_id")
        check(lib.qmgr_manager_create_group(self._handle(), guid, byref(out)))
        return Group._wrap(out)

    def get_group(self, group_id: uuid.UUID | str) -> Group:
        """GetGroup: the group with that GUID; :class:`~qmgr.ItemNotFoundError` if there is none,
        :class:`~qmgr.InvalidArgumentError` if `group_id` is not a GUID."""
        out = POINTER(qmgr_group)()
        check(lib.qmgr_manager_get_group(self._handle(), to_guid(group_id, "group_id"), byref(out)))
        return Group._wrap(out)

    def enum_groups(self) -> GroupEnumerator:
        """EnumGroups: an enumerator over a snapshot of the groups' GUIDs, in creation order."""
        out = POINTER(qmgr_enum_groups)()
        check(lib.qmgr_manager_enum_groups(self._handle(), 0, byref(out)))
        return GroupEnumerator._wrap(out)

    def groups(self) -> Iterator[Group]:
        """The queue's groups, in creation order (those cancelled meanwhile are skipped)."""
        return open_each(self.enum_groups(), self.get_group)
