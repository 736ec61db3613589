"""Real transfers from a local HTTP server, and callbacks from the library's threads."""

import gc
import logging
import os
import socket
import threading
import time
import weakref

import pytest
from conftest import DEADLINE

import qmgr
from qmgr import HResult, Notify, Progress, Status

COMPLETE = Status.GROUP_COMPLETE | Status.GROUP_SUSPENDED
ERROR = Status.GROUP_ERROR | Status.GROUP_INCOMPLETE | Status.GROUP_SUSPENDED


def is_group_done(event) -> bool:
    return event.method == "on_status" and event.value & Status.GROUP_COMPLETE


def test_download_three_files_in_two_jobs(group, server, downloads, recorder):
    contents = {"small.txt": b"hello qmgr\n", "empty.bin": b"", "large.bin": os.urandom(3 * 1024 * 1024 + 17)}
    urls = {name: server.publish(name, data) for name, data in contents.items()}
    group.display_name = "python test"
    group.notify_flags = Notify.FILE_DONE | Notify.JOB_DONE | Notify.GROUP_DONE
    group.set_callback(recorder)
    first, second = group.create_job(), group.create_job()
    first.add_files([(urls["small.txt"], downloads / "small.txt"), (urls["empty.bin"], downloads / "empty.bin")])
    second.add_files([(urls["large.bin"], downloads / "large.bin", len(contents["large.bin"]))])

    group.resume()
    assert group.wait(DEADLINE) == COMPLETE

    for name, data in contents.items():
        assert (downloads / name).read_bytes() == data
    total = sum(map(len, contents.values()))
    assert group.status == (COMPLETE, 1)
    assert group.size == total
    assert group.progress == (total, total)
    assert group.get_progress(Progress.PERCENT_DONE) == 100
    assert group.get_progress(Progress.SIZE_DONE) == total
    assert second.status == (Status.JOB_COMPLETE, 0, 0, 0)
    assert second.file_progress(0) == (len(contents["large.bin"]), len(contents["large.bin"]), Status.FILE_COMPLETE)
    assert first.progress == (len(contents["small.txt"]), len(contents["small.txt"]))
    assert first.get_progress(Progress.PERCENT_DONE) == 100
    assert first.error_message is None

    (done,) = recorder.wait_for(is_group_done)
    assert (done.group_id, done.job_id, done.file_index) == (group.id, None, None)
    assert done.value == COMPLETE and done.extra == (0, 0, 0)
    assert done.thread != threading.get_ident()
    file_done = recorder.wait_for(lambda e: e.method == "on_status" and e.value & Status.FILE_COMPLETE, 3)
    assert [(e.job_id, e.file_index) for e in file_done] == [(first.id, 0), (first.id, 1), (second.id, 0)]
    job_done = recorder.wait_for(lambda e: e.method == "on_status" and e.value & Status.JOB_COMPLETE, 2)
    assert [(e.job_id, e.file_index) for e in job_done] == [(first.id, None), (second.id, None)]

    with pytest.raises(qmgr.InvalidStateError):
        group.create_job()  # complete
    group.cancel()
    assert recorder.released.wait(DEADLINE)
    assert (downloads / "large.bin").read_bytes() == contents["large.bin"]  # finished files stay


def test_progress_callbacks(group, server, downloads, recorder):
    data = os.urandom(1024 * 1024)
    group.progress_size = 256 * 1024
    group.set_callback(recorder)
    group.create_job().add_files([(server.publish("data.bin", data), downloads / "data.bin")])
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE
    progress = recorder.wait_for(lambda e: e.method == "on_progress")
    assert all(e.extra == (Progress.SIZE_DONE,) and e.group_id == group.id for e in progress)
    assert all(0 < e.value <= len(data) for e in progress)
    assert all(e.thread != threading.get_ident() for e in progress)


def test_progress_ex_callbacks(group, server, downloads, recorder):
    data = os.urandom(1024 * 1024)
    group.notify_flags = Notify.USE_PROGRESSEX
    group.progress_percent = 25
    group.set_callback(recorder)
    job = group.create_job()
    job.add_files([(server.publish("data.bin", data), downloads / "data.bin")])
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE
    (last, *_) = reversed(recorder.wait_for(lambda e: e.method == "on_progress_ex" and e.value == 100))
    kind, record = last.extra
    assert kind == Progress.PERCENT_DONE
    assert record.version >= 1
    assert (record.bytes_done, record.bytes_total) == (len(data), len(data))
    assert record.files_total == 1 and record.files_done <= 1  # counts committed files
    assert not recorder.matching(lambda e: e.method == "on_progress")


def test_http_error_is_fatal_and_reported(group, server, downloads, recorder):
    group.set_callback(recorder)  # errors are notified by default
    job = group.create_job()
    job.add_files(
        [
            (server.publish("there.txt", b"here"), downloads / "there.txt"),
            (server.url("missing.txt"), downloads / "missing.txt"),
        ]
    )
    group.resume()
    assert group.wait(DEADLINE, raise_on_error=False) == ERROR
    http_404 = qmgr.BG_E_HTTP_ERROR_BASE | 404
    flags, win32_result, transport_result, retries = job.status
    assert flags & Status.JOB_ERROR and flags & Status.JOB_INCOMPLETE
    assert (win32_result, transport_result) == (http_404, 404)
    assert "404" in job.error_message
    assert "404" in qmgr.describe_error(win32_result)
    assert job.file_progress(0).status == Status.FILE_COMPLETE
    assert job.file_progress(1).status == Status.FILE_INCOMPLETE
    (error,) = recorder.wait_for(lambda e: e.method == "on_status" and e.value & Status.GROUP_ERROR)
    assert (error.job_id, error.file_index, error.value) == (job.id, 1, ERROR)
    assert error.extra == (retries, http_404, 404)
    assert not (downloads / "missing.txt").exists()


@pytest.fixture
def refused_url():
    """A URL whose connection is refused (a bound port nobody listens on): a transient error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"


def until(condition, what: str):
    """Polls `condition` until it holds (DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_transient_error_keeps_running(manager, group, downloads, refused_url):
    manager.set_option(qmgr.Option.MIN_RETRY_DELAY_MS, 100_000)
    job = group.create_job()
    job.add_files([(refused_url, downloads / "never")])
    group.resume()
    until(lambda: job.status.retries >= 1, "a failed attempt")
    assert group.status.flags == Status.GROUP_INCOMPLETE  # running, no error bit
    flags, win32_result, transport_result, _ = job.status
    assert flags == Status.JOB_INCOMPLETE and (win32_result, transport_result) == (12029, 0)
    assert "refused" in job.error_message.lower()
    assert qmgr.describe_error(0x80070000 | win32_result)


def test_wait_raises_when_cancelled_meanwhile(manager, group, downloads, refused_url):
    manager.set_option(qmgr.Option.MIN_RETRY_DELAY_MS, 100_000)
    group.create_job().add_files([(refused_url, downloads / "never")])
    group.resume()
    canceller = threading.Timer(0.2, group.cancel)
    canceller.start()
    with pytest.raises(qmgr.InvalidStateError):
        group.wait(DEADLINE)
    canceller.join()


def test_suspend_resume_and_wait_timeout(manager, group, server, downloads):
    data = os.urandom(2 * 1024 * 1024)
    manager.set_option(qmgr.Option.BACKGROUND_RATE_LIMIT, 256 * 1024)
    group.create_job().add_files([(server.publish("slow.bin", data), downloads / "slow.bin")])
    group.resume()
    assert group.status.flags == Status.GROUP_INCOMPLETE
    with pytest.raises(TimeoutError):
        group.wait(0.3)
    group.suspend()
    assert group.wait(DEADLINE) == Status.GROUP_INCOMPLETE | Status.GROUP_SUSPENDED
    assert group.progress.bytes_done < len(data)
    manager.set_option(qmgr.Option.BACKGROUND_RATE_LIMIT, 0)
    group.switch_to_foreground()  # never rate-limited
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE | Status.GROUP_FOREGROUND
    assert (downloads / "slow.bin").read_bytes() == data


def test_a_rate_limited_group_is_limited_foreground_too(manager, group, server, downloads):
    """1 MiB at 256 KiB/s takes at least ~4 s, although the group is foreground (a lower bound only)."""
    data = os.urandom(1024 * 1024)
    group.switch_to_foreground()
    group.rate_limit = 256 * 1024
    group.create_job().add_files([(server.publish("limited.bin", data), downloads / "limited.bin")])
    start = time.monotonic()
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE | Status.GROUP_FOREGROUND
    assert time.monotonic() - start >= 3.0
    assert (downloads / "limited.bin").read_bytes() == data


def test_groups_from_several_threads(manager, server, downloads):
    """Objects are free-threaded: four threads each download their own group at the same time."""
    contents = {f"t{index}.bin": os.urandom(200_000 + index) for index in range(4)}
    results = {}

    def download(name: str) -> None:
        with manager.create_group() as group, group.create_job() as job:
            job.add_files([(server.publish(name, contents[name]), downloads / name)])
            group.resume()
            results[name] = group.wait(DEADLINE)

    threads = [threading.Thread(target=download, args=(name,)) for name in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(contents, COMPLETE)
    assert all((downloads / name).read_bytes() == data for name, data in contents.items())


def test_file_urls_with_the_smb_protocol(group, tmp_path, downloads):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(100_000))
    group.protocol = qmgr.Protocol.SMB
    group.create_job().add_files([(source.as_uri(), downloads / "copy.bin")])
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE
    assert (downloads / "copy.bin").read_bytes() == source.read_bytes()


class Failing:
    """on_status raises the first time, then acknowledges."""

    def __init__(self):
        self.calls = []
        self.acknowledged = threading.Event()

    def on_status(self, group, job, file_index, status, *codes):
        self.calls.append(status)
        if len(self.calls) == 1:
            raise RuntimeError("callback bug")
        self.acknowledged.set()


def test_exception_in_callback_is_logged_and_redelivered(group, server, downloads, caplog):
    caplog.set_level(logging.ERROR, logger="qmgr")
    failing = Failing()
    group.notify_flags = Notify.GROUP_DONE
    group.set_callback(failing)
    group.create_job().add_files([(server.publish("a.txt", b"a"), downloads / "a.txt")])
    group.resume()
    assert failing.acknowledged.wait(DEADLINE)  # delivered again after E_FAIL
    assert failing.calls == [COMPLETE, COMPLETE]
    (record,) = caplog.records
    assert "on_status" in record.getMessage() and record.exc_info[0] is RuntimeError


class Returning:
    """on_status answers S_FALSE the first time (not S_OK: delivered again), then None."""

    def __init__(self):
        self.calls = 0
        self.acknowledged = threading.Event()

    def on_status(self, *args):
        self.calls += 1
        if self.calls == 1:
            return HResult.S_FALSE
        self.acknowledged.set()


def test_callback_result_is_the_hresult(group, server, downloads):
    returning = Returning()
    group.notify_flags = Notify.GROUP_DONE
    group.set_callback(returning)
    group.create_job().add_files([(server.publish("a.txt", b"a"), downloads / "a.txt")])
    group.resume()
    assert returning.acknowledged.wait(DEADLINE)
    assert returning.calls == 2


class CancelWhenDone:
    """Keeps the group it is given and cancels it from inside the callback."""

    def __init__(self):
        self.kept = None
        self.released = threading.Event()

    def on_status(self, group, job, file_index, status, *codes):
        self.kept = group
        group.cancel()

    def on_release(self):
        self.released.set()


def test_callback_may_keep_and_cancel_its_group(manager, server, downloads):
    sink = CancelWhenDone()
    with manager.create_group() as group:
        group_id = group.id
        group.notify_flags = Notify.GROUP_DONE
        group.set_callback(sink)
        group.create_job().add_files([(server.publish("a.txt", b"a"), downloads / "a.txt")])
        group.resume()
    assert sink.released.wait(DEADLINE)
    assert sink.kept.id == group_id  # still a valid handle after the call
    with pytest.raises(qmgr.InvalidStateError):
        sink.kept.resume()
    with pytest.raises(qmgr.ItemNotFoundError):
        manager.get_group(group_id)
    assert (downloads / "a.txt").read_bytes() == b"a"


class Sink:
    def __init__(self):
        self.released = threading.Event()

    def on_status(self, *args):
        pass

    def on_release(self):
        self.released.set()


def _registered(group, sink_type=Sink):
    """Registers a new sink and returns a weak reference: the package must keep it alive."""
    sink = sink_type()
    group.set_callback(sink)
    return weakref.ref(sink)


def _dropped(reference) -> bool:
    gc.collect()
    return reference() is None


def test_registration_kept_alive_until_cleared(group):
    sink = _registered(group)
    assert not _dropped(sink)
    released = sink().released
    group.set_callback(None)
    assert released.is_set()
    assert _dropped(sink)


def test_replaced_callback_is_released(group):
    first = _registered(group)
    released = first().released
    second = _registered(group)
    assert released.is_set() and _dropped(first)
    assert not second().released.is_set()


def test_cancel_releases_callback(group):
    sink = _registered(group)
    released = sink().released
    group.cancel()
    assert released.wait(DEADLINE) and _dropped(sink)


def test_closing_the_manager_releases_callbacks(tmp_path):
    manager = qmgr.Manager(tmp_path / "queue")
    with manager.create_group() as group:
        sink = _registered(group)
    released = sink().released
    manager.close()
    assert released.is_set() and _dropped(sink)


def test_refused_registration_is_not_kept(group):
    group.cancel()
    sink = Sink()
    with pytest.raises(qmgr.InvalidStateError):
        group.set_callback(sink)
    reference = weakref.ref(sink)
    del sink
    assert _dropped(reference)


def test_methods_are_optional(group, server, downloads):
    group.notify_flags = Notify.GROUP_DONE
    group.progress_percent = 10
    group.set_callback(object())  # nothing to deliver, nothing to release
    group.create_job().add_files([(server.publish("a.txt", b"a" * 1000), downloads / "a.txt")])
    group.resume()
    assert group.wait(DEADLINE) == COMPLETE
