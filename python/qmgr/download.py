"""``qmgr.download``: one file, in one call, through the queue."""

import os
import time
from collections.abc import Callable
from pathlib import Path

from .constants import GroupState, HResult
from .errors import InvalidArgumentError, InvalidStateError
from .manager import Manager

__all__ = ["download"]

#: Display name of the groups :func:`download` creates.
DISPLAY_NAME = "qmgr.download"


def _checksum(value: str | tuple[str, str]) -> tuple[str, str]:
    """``"sha-256:HEX"`` or ``("sha-256", "HEX")`` as (algorithm, hex)."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, str) and ":" in value:
        algorithm, _, hex_digest = value.partition(":")
        return algorithm, hex_digest
    if isinstance(value, str):
        raise InvalidArgumentError(
            HResult.E_INVALIDARG, f"checksum {value!r} must be ALGORITHM:HEX, e.g. 'sha-256:9f86d0…'"
        )
    raise TypeError(f"checksum must be a str 'sha-256:HEX' or a tuple (algorithm, hex), not {type(value).__name__}")


def download(
    url: str,
    path: str | os.PathLike,
    *,
    queue: str | os.PathLike | None = None,
    timeout: float | None = None,
    checksum: str | tuple[str, str] | None = None,
    progress: Callable[[int, int | None], object] | None = None,
) -> Path:
    """Downloads `url` into `path` through the queue, in the foreground, and returns the
    absolute path once the file is complete under its final name.

    * `queue`: the queue directory (default: the default queue, as ``Manager()``).
    * `timeout`: seconds for the whole download (None = no limit); ``TimeoutError`` when it
      passes.
    * `checksum`: ``"sha-256:HEX"`` (or ``"sha-512:…"``, or a tuple ``(algorithm, hex)``): the
      file must have that digest (DECISIONS D15), else :class:`~qmgr.TransferError` with
      ``QMGR_E_BAD_DIGEST`` and no file.
    * `progress`: called as ``progress(bytes_done, bytes_total)`` (total None while unknown)
      about five times a second, on the calling thread.

    The download is one group of its own (display name ``qmgr.download``) that leaves the queue
    when it ends, however it ends: on success the file stays; on failure, time-out or
    interruption (``KeyboardInterrupt``) the partial data is deleted and nothing is left. Raises
    :class:`~qmgr.TransferError` for a fatal transfer error (HTTP 404, a bad digest…),
    :class:`~qmgr.InvalidArgumentError` for a bad URL, path or checksum, ``TypeError`` for
    arguments of the wrong type. Transient errors are retried as the queue's options say
    (DECISIONS D5); bound them with `timeout`.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
    target = Path(path).absolute()
    digest = None if checksum is None else _checksum(checksum)
    deadline = None if timeout is None else time.monotonic() + timeout
    with Manager(queue) as manager, manager.create_group() as group:
        try:
            group.display_name = DISPLAY_NAME
            with group.create_job() as job:
                job.add_files([(url, os.fspath(target))])
                if digest is not None:
                    job.set_file_checksum(0, *digest)
            group.switch_to_foreground()
            group.resume()
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    group.wait(0.2 if left is None else min(0.2, left))
                    break
                except TimeoutError:
                    pass
                if progress is not None:
                    progress(*group.progress)
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"downloading {url} took longer than {timeout} s")
            if progress is not None:
                progress(*group.progress)
            if group.state is not GroupState.COMPLETE:
                raise InvalidStateError(
                    HResult.QM_E_INVALID_STATE, f"group {group.id} of this download was suspended by another program"
                )
            return target
        finally:
            if group.state is not GroupState.CANCELLED:
                group.cancel()
