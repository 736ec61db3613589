"""Job.set_file_checksum (DECISIONS D15): its argument checks, and transfers from the local
HTTP server whose digest matches or not."""

import hashlib
import os

import pytest
from conftest import DEADLINE

import qmgr
from qmgr import HResult, Status

COMPLETE = Status.GROUP_COMPLETE | Status.GROUP_SUSPENDED
ERROR = Status.GROUP_ERROR | Status.GROUP_INCOMPLETE | Status.GROUP_SUSPENDED


def test_set_file_checksum_checks_its_arguments(group, downloads):
    job = group.create_job()
    job.add_files([("http://127.0.0.1:9/a", downloads / "a")])
    for index, algorithm, hex_digest, words in [
        (0, "md5", "00" * 16, "algorithm"),
        (0, "sha-256", "00" * 31, "hex_digest"),
        (0, "sha-512", "00" * 32, "128"),
        (0, "sha-256", "0g" * 32, "position 1"),
        (1, "sha-256", "00" * 32, "file_index 1"),
    ]:
        with pytest.raises(qmgr.InvalidArgumentError) as raised:
            job.set_file_checksum(index, algorithm, hex_digest)
        assert words in raised.value.message
    job.set_file_checksum(0, "SHA-512", "Ab" * 64)
    job.cancel()
    with pytest.raises(qmgr.InvalidStateError):
        job.set_file_checksum(0, "sha-256", "00" * 32)


@pytest.mark.parametrize("right", [True, False])
def test_a_checksum_is_checked_before_the_file_gets_its_name(group, server, downloads, right):
    data = os.urandom(2 * 1024 * 1024 + 5)
    digest = hashlib.sha256(data if right else b"something else").hexdigest()
    job = group.create_job()
    job.add_files([(server.publish("data.bin", data), downloads / "data.bin")])
    job.set_file_checksum(0, "sha-256", digest.upper())
    group.resume()
    if right:
        assert group.wait(DEADLINE) == COMPLETE
        assert (downloads / "data.bin").read_bytes() == data
        with pytest.raises(qmgr.InvalidStateError):
            job.set_file_checksum(0, "sha-256", digest)  # complete
        return
    with pytest.raises(qmgr.TransferError) as raised:
        group.wait(DEADLINE)
    assert raised.value.win32_result == HResult.E_BAD_DIGEST & 0xFFFFFFFF
    assert group.wait(0, raise_on_error=False) == ERROR
    status = job.status
    assert status.flags & Status.JOB_ERROR
    assert (status.win32_result, status.transport_result) == (HResult.E_BAD_DIGEST & 0xFFFFFFFF, 0)
    message = job.error_message
    assert "sha-256" in message and digest in message and hashlib.sha256(data).hexdigest() in message
    assert list(downloads.iterdir()) == []  # no final file, no temporary file
    assert "checksum" in qmgr.describe_error(HResult.E_BAD_DIGEST)
