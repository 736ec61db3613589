"""IEnumBackgroundCopyGroups / IEnumBackgroundCopyJobs1: iterators over group or job GUIDs."""

import uuid
from collections.abc import Callable, Iterator
from ctypes import POINTER, byref, c_uint32
from typing import ClassVar, Self, TypeVar

from ._convert import from_guid
from ._handle import Handle
from .constants import HResult
from .errors import ItemNotFoundError, check
from .ffi import lib, qmgr_enum_groups, qmgr_enum_jobs, qmgr_guid

__all__ = ["GroupEnumerator", "JobEnumerator"]

_T = TypeVar("_T")


class _Enumerator(Handle):
    """An iterator over a snapshot of GUIDs (taken when the enumerator was created), in creation
    order, with the COM enumerator's cursor operations."""

    _type: ClassVar[type]
    _next: ClassVar
    _skip: ClassVar
    _reset: ClassVar
    _clone: ClassVar
    _get_count: ClassVar

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> uuid.UUID:
        fetched = self.fetch(1)
        if not fetched:
            raise StopIteration
        return fetched[0]

    def fetch(self, count: int) -> list[uuid.UUID]:
        """Next: up to `count` GUIDs from the cursor (fewer at the end), advancing it."""
        guids = (qmgr_guid * count)()
        fetched = c_uint32()
        check(self._next(self._handle(), count, guids, byref(fetched)))
        return [from_guid(guid) for guid in guids[: fetched.value]]

    def skip(self, count: int) -> bool:
        """Skip: advances the cursor by `count`; False when fewer were left."""
        return check(self._skip(self._handle(), count)) == HResult.S_OK

    def reset(self) -> None:
        """Reset: moves the cursor back to the first item."""
        check(self._reset(self._handle()))

    def clone(self) -> Self:
        """Clone: a new enumerator over the same snapshot at the same position."""
        out = POINTER(self._type)()
        check(self._clone(self._handle(), byref(out)))
        return self._wrap(out)

    @property
    def count(self) -> int:
        """GetCount: the number of items in the snapshot, whatever the cursor position."""
        count = c_uint32()
        check(self._get_count(self._handle(), byref(count)))
        return count.value


class GroupEnumerator(_Enumerator):
    """IEnumBackgroundCopyGroups: iterates the GUIDs of the queue's groups (``Manager.enum_groups``)."""

    _type = qmgr_enum_groups
    _add_ref = lib.qmgr_enum_groups_add_ref
    _release = lib.qmgr_enum_groups_release
    _next = lib.qmgr_enum_groups_next
    _skip = lib.qmgr_enum_groups_skip
    _reset = lib.qmgr_enum_groups_reset
    _clone = lib.qmgr_enum_groups_clone
    _get_count = lib.qmgr_enum_groups_get_count


class JobEnumerator(_Enumerator):
    """IEnumBackgroundCopyJobs1: iterates the GUIDs of a group's jobs (``Group.enum_jobs``)."""

    _type = qmgr_enum_jobs
    _add_ref = lib.qmgr_enum_jobs_add_ref
    _release = lib.qmgr_enum_jobs_release
    _next = lib.qmgr_enum_jobs_next
    _skip = lib.qmgr_enum_jobs_skip
    _reset = lib.qmgr_enum_jobs_reset
    _clone = lib.qmgr_enum_jobs_clone
    _get_count = lib.qmgr_enum_jobs_get_count


def open_each(enumerator: _Enumerator, open_item: Callable[[uuid.UUID], _T]) -> Iterator[_T]:
    """Yields ``open_item(guid)`` for each GUID of `enumerator`, then closes it; items gone since
    the snapshot (ItemNotFoundError) are skipped."""
    with enumerator:
        for guid in enumerator:
            try:
                yield open_item(guid)
            except ItemNotFoundError:
                continue
