"""The base of every object that owns a library handle."""

import atexit
import weakref
from ctypes import _Pointer
from typing import ClassVar, Self

from .constants import HResult
from .errors import InvalidHandleError

#: Every open handle, closed at interpreter exit so that no library thread calls into a
#: finalizing interpreter (the manager's last release stops its threads).
_open: "weakref.WeakSet[Handle]" = weakref.WeakSet()


class Handle:
    """Owns one reference to a library handle, released by :meth:`close`.

    ``with obj:`` closes it on exit; an unreachable object is closed by the garbage collector;
    closing twice is harmless. Methods of a closed object raise :class:`InvalidHandleError`.
    Do not close an object while another thread is calling it.
    """

    #: The library's add_ref and release functions of this type.
    _add_ref: ClassVar
    _release: ClassVar
    #: The owned handle; ``None`` once closed (also on an object whose opening failed).
    _ptr: _Pointer | None = None

    @classmethod
    def _wrap(cls, ptr: _Pointer) -> Self:
        """An object adopting the reference `ptr` holds."""
        obj = cls.__new__(cls)
        obj._adopt(ptr)
        return obj

    @classmethod
    def _borrow(cls, ptr: _Pointer) -> Self:
        """An object holding a new reference to the borrowed handle `ptr`."""
        cls._add_ref(ptr)
        return cls._wrap(ptr)

    def _adopt(self, ptr: _Pointer) -> None:
        self._ptr = ptr
        _open.add(self)

    def _handle(self) -> _Pointer:
        """The handle, for a library call; raises InvalidHandleError once closed."""
        if self._ptr is None:
            raise InvalidHandleError(HResult.E_HANDLE, f"this {type(self).__name__} is closed")
        return self._ptr

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._ptr is None

    def close(self) -> None:
        """Releases the handle's reference. Closing a closed object does nothing."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            _open.discard(self)
            self._release(ptr)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    for handle in list(_open):
        handle.close()
