"""What a newcomer meets first (issue #15): states in plain words, clear argument errors,
``wait`` raising on a failed transfer, and the one-call :func:`qmgr.download`."""

import hashlib
import os
import socket
import uuid

import pytest
from conftest import DEADLINE

import qmgr
from qmgr import GroupState


def test_a_group_says_its_state_in_plain_words(manager, server, downloads):
    group = manager.create_group()
    assert group.state is GroupState.SUSPENDED
    assert repr(group) == f"<Group {group.id} suspended>"
    with group.create_job() as job:
        job.add_files([(server.publish("a.txt", b"a"), downloads / "a.txt")])
    group.resume()
    group.wait(DEADLINE)
    assert group.state is GroupState.COMPLETE
    assert repr(group).endswith(" complete>")
    group.cancel()
    assert group.state is GroupState.CANCELLED


def test_wait_raises_a_transfer_error_with_the_job_s_result(group, server, downloads):
    url = server.url("missing.txt")
    with group.create_job() as job:
        job.add_files([(server.publish("there.txt", b"here"), downloads / "there.txt"), (url, downloads / "m.txt")])
        job_id = job.id
    group.resume()
    with pytest.raises(qmgr.TransferError) as caught:
        group.wait(DEADLINE)
    e = caught.value
    assert (e.http_status, e.win32_result) == (404, qmgr.BG_E_HTTP_ERROR_BASE | 404)
    assert e.hresult & 0xFFFFFFFF == qmgr.BG_E_HTTP_ERROR_BASE | 404
    assert (e.url, e.local_path) == (url, str(downloads / "m.txt"))
    assert (e.group_id, e.job_id) == (group.id, job_id)
    assert "404" in e.message and "404" in str(e) and url in str(e)
    assert group.state is GroupState.ERROR, "the group stays in the queue, in ERROR"
    assert group.wait(0, raise_on_error=False) & qmgr.Status.GROUP_ERROR


def test_bad_argument_shapes_get_clear_errors(manager, group):
    with group.create_job() as job:
        with pytest.raises(TypeError, match=r"file 0 must be a \(url, local_path\).*not str 'http://h/a'"):
            job.add_files(["http://h/a"])
        with pytest.raises(TypeError, match="not a single one or a str"):
            job.add_files(("http://h/a", "/tmp/a"))
        with pytest.raises(TypeError, match=r"file 1 must be .* not 1 items"):
            job.add_files([("http://h/a", "/tmp/a"), ("http://h/b",)])
        with pytest.raises(TypeError, match="local path of file 0 must be a str or path-like, not int"):
            job.add_files([("http://h/a", 5)])
        assert job.file_count == 0, "nothing was added"
    with pytest.raises(qmgr.InvalidArgumentError, match="group_id 'not-a-guid' is not a GUID") as caught:
        manager.get_group("not-a-guid")
    assert caught.value.hresult == qmgr.HResult.E_INVALIDARG
    with pytest.raises(TypeError, match=r"group_id must be a uuid\.UUID or a GUID string, not int"):
        manager.get_group(5)
    with pytest.raises(qmgr.ItemNotFoundError):
        manager.get_group(str(uuid.uuid4()))


def test_download_in_one_call(manager, server, tmp_path):
    data = os.urandom(300_000)
    url = server.publish("one.bin", data)
    seen = []
    got = qmgr.download(url, tmp_path / "one.bin", queue=tmp_path / "queue", progress=lambda d, t: seen.append((d, t)))
    assert got == tmp_path / "one.bin" and got.read_bytes() == data
    assert seen and seen[-1] == (len(data), len(data))
    assert list(manager.groups()) == [], "the download's group left the queue"


def test_download_checks_a_checksum(manager, server, tmp_path):
    data = b"checked bytes\n"
    url = server.publish("c.txt", data)
    digest = hashlib.sha256(data).hexdigest()
    got = qmgr.download(url, tmp_path / "c.txt", queue=tmp_path / "queue", checksum=f"sha-256:{digest.upper()}")
    assert got.read_bytes() == data
    with pytest.raises(qmgr.TransferError) as caught:
        qmgr.download(url, tmp_path / "d.txt", queue=tmp_path / "queue", checksum=("sha-256", "0" * 64))
    assert caught.value.hresult == qmgr.HResult.E_BAD_DIGEST
    assert "sha-256" in caught.value.message and digest in caught.value.message
    assert not (tmp_path / "d.txt").exists()
    with pytest.raises(qmgr.InvalidArgumentError, match="ALGORITHM:HEX"):
        qmgr.download(url, tmp_path / "e.txt", queue=tmp_path / "queue", checksum="deadbeef")
    assert list(manager.groups()) == []


def test_download_failures_raise_and_leave_nothing(manager, server, tmp_path):
    with pytest.raises(qmgr.TransferError) as caught:
        qmgr.download(server.url("nope.bin"), tmp_path / "nope.bin", queue=tmp_path / "queue")
    assert caught.value.http_status == 404
    assert not (tmp_path / "nope.bin").exists()
    # A port nobody listens on: transient errors, retried until the time-out.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TimeoutError, match="longer than 1 s"):
        qmgr.download(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", queue=tmp_path / "queue", timeout=1)
    with pytest.raises(qmgr.InvalidArgumentError):
        qmgr.download("ftp://127.0.0.1/x", tmp_path / "y.bin", queue=tmp_path / "queue")
    with pytest.raises(TypeError, match="url must be a str"):
        qmgr.download(b"http://127.0.0.1/x", tmp_path / "y.bin", queue=tmp_path / "queue")
    assert list(manager.groups()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queue", "www"], "no file, no temporary file"
