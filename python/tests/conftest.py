"""Fixtures: a manager on a fresh queue directory, a local HTTP server, a recording callback."""

import contextlib
import functools
import http.server
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

import qmgr

#: Generous deadline (seconds) for anything that waits on the library's threads.
DEADLINE = 60


@pytest.fixture
def manager(tmp_path: Path) -> qmgr.Manager:
    """A manager on `tmp_path/queue`, not using any proxy from the environment."""
    with qmgr.Manager(tmp_path / "queue") as manager:
        manager.set_option(qmgr.Option.PROXY, "")
        yield manager


@pytest.fixture
def group(manager: qmgr.Manager) -> qmgr.Group:
    """A new group, cancelled after the test (unless the test cancelled or closed it): a group
    left RUNNING would keep a background runner serving it when autostart is on."""
    with manager.create_group() as group:
        yield group
        if not group.closed:
            with contextlib.suppress(qmgr.QmgrError):
                group.cancel()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    """An empty destination directory."""
    path = tmp_path / "downloads"
    path.mkdir()
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 (ephemeral port) serving the files of `root`."""

    def __init__(self, root: Path):
        self.root = root
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root)
        )
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def publish(self, name: str, data: bytes) -> str:
        """Serves `data` as `name`; returns its URL."""
        (self.root / name).write_bytes(data)
        return self.url(name)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Server:
    root = tmp_path / "www"
    root.mkdir()
    server = Server(root)
    yield server
    server.stop()


class Event(NamedTuple):
    """One callback call: the method, its arguments as plain values, and the calling thread."""

    method: str
    group_id: object
    job_id: object
    file_index: int | None
    value: object
    extra: tuple
    thread: int


class Recorder:
    """A callback sink recording every event, with waiting on them."""

    def __init__(self):
        self.events: list[Event] = []
        self.released = threading.Event()
        self._changed = threading.Condition()

    def _record(self, method: str, group: qmgr.Group, job: qmgr.Job | None, file_index, value, *extra) -> None:
        event = Event(method, group.id, job.id if job else None, file_index, value, extra, threading.get_ident())
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def on_status(self, group, job, file_index, status, retries, win32_result, transport_result):
        self._record("on_status", group, job, file_index, status, retries, win32_result, transport_result)

    def on_progress(self, kind, group, job, file_index, value):
        self._record("on_progress", group, job, file_index, value, kind)

    def on_progress_ex(self, kind, group, job, file_index, value, record):
        self._record("on_progress_ex", group, job, file_index, value, kind, record)

    def on_release(self):
        self.released.set()

    def wait_for(self, predicate: Callable[[Event], bool], count: int = 1) -> list[Event]:
        """Waits (up to DEADLINE) until `count` events match; returns the matching events."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.matching(predicate)) >= count, DEADLINE), self.events
            return self.matching(predicate)

    def matching(self, predicate: Callable[[Event], bool]) -> list[Event]:
        with self._changed:
            return [event for event in self.events if predicate(event)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
