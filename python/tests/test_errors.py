"""HRESULTs as exceptions, last-error messages, closed handles."""

import ctypes
import pickle
import threading
import uuid

import pytest

import qmgr
from qmgr import HResult, ffi

#: The exception class of each HRESULT that has one (the others raise QmgrError itself).
ERROR_CLASSES = {
    HResult.E_INVALIDARG: qmgr.InvalidArgumentError,
    HResult.E_HANDLE: qmgr.InvalidHandleError,
    HResult.E_NOTIMPL: qmgr.NotSupportedError,
    HResult.QM_E_INVALID_STATE: qmgr.InvalidStateError,
    HResult.QM_E_ITEM_NOT_FOUND: qmgr.ItemNotFoundError,
    HResult.QM_E_SERVICE_UNAVAILABLE: qmgr.ServiceUnavailableError,
    HResult.BG_E_EMPTY: qmgr.EmptyGroupError,
}


def test_error_class_follows_the_hresult():
    for hresult, error_class in ERROR_CLASSES.items():
        assert type(qmgr.QmgrError(hresult, "")) is error_class
    error = qmgr.QmgrError(HResult.QM_E_ITEM_NOT_FOUND, "no such group")
    assert isinstance(error, LookupError) and isinstance(qmgr.QmgrError(HResult.E_INVALIDARG, ""), ValueError)
    assert (error.hresult, error.message) == (HResult.QM_E_ITEM_NOT_FOUND, "no such group")
    assert str(error) == "QM_E_ITEM_NOT_FOUND (0x81001004): no such group"
    assert type(qmgr.QmgrError(HResult.E_FAIL, "x")) is qmgr.QmgrError
    assert str(qmgr.QmgrError(-5, "odd")) == "HRESULT (0xFFFFFFFB): odd"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is qmgr.ItemNotFoundError and copy.message == "no such group"


INVALIDARG, NOT_FOUND = HResult.E_INVALIDARG, HResult.QM_E_ITEM_NOT_FOUND

#: id -> (action on (manager, group), HRESULT, words of the message)
FAILURES = {
    "priority": (lambda m, g: setattr(g, "priority", 7), INVALIDARG, "priority"),
    "unknown-prop": (lambda m, g: g.get_prop(99), INVALIDARG, "99"),
    "localuserid": (lambda m, g: g.get_prop(qmgr.GroupProp.LOCALUSERID), HResult.E_NOTIMPL, ""),
    "ftp": (lambda m, g: setattr(g, "protocol", qmgr.Protocol.FTP), HResult.QM_E_DOWNLOADER_UNAVAILABLE, ""),
    "long-display-name": (lambda m, g: setattr(g, "display_name", "x" * 257), INVALIDARG, "256"),
    "prop-beyond-int64": (lambda m, g: setattr(g, "progress_size", 1 << 64), INVALIDARG, "range"),
    "unknown-group": (lambda m, g: m.get_group(uuid.uuid4()), NOT_FOUND, ""),
    "duplicate-group": (lambda m, g: m.create_group(g.id), INVALIDARG, ""),
    "zero-guid": (lambda m, g: m.create_group(uuid.UUID(int=0)), INVALIDARG, ""),
    "unknown-job": (lambda m, g: g.get_job(uuid.uuid4()), NOT_FOUND, ""),
    "resume-empty": (lambda m, g: g.resume(), HResult.BG_E_EMPTY, ""),
    "get-file-past-end": (lambda m, g: g.create_job().get_file(0), NOT_FOUND, ""),
    "file-progress-past-end": (lambda m, g: g.create_job().file_progress(3), NOT_FOUND, ""),
    "group-progress-kind": (lambda m, g: g.get_progress(0), INVALIDARG, ""),
    "job-progress-kind": (lambda m, g: g.create_job().get_progress(9), INVALIDARG, ""),
    "relative-path": (lambda m, g: g.create_job().add_files([("http://h/a", "rel.bin")]), INVALIDARG, "rel.bin"),
    "missing-directory": (lambda m, g: g.create_job().add_files([("http://h/a", "/no/such/a")]), INVALIDARG, "file 0"),
    "ftp-url": (lambda m, g: g.create_job().add_files([("ftp://h/a", "/tmp/a")]), INVALIDARG, ""),
    "unknown-option": (lambda m, g: m.set_option("no_such_option", 1), INVALIDARG, "no_such_option"),
    "retry-delay-floor": (lambda m, g: m.set_option(qmgr.Option.MIN_RETRY_DELAY_MS, 99), INVALIDARG, ""),
    "negative-option": (lambda m, g: m.set_option(qmgr.Option.MAX_ACTIVE_GROUPS, -1), INVALIDARG, ""),
    "get-unknown-option": (lambda m, g: m.get_option("no_such_option"), INVALIDARG, ""),
    "bad-guid-text": (lambda m, g: qmgr.guid_from_string("not a guid"), INVALIDARG, ""),
    "unknown-hresult": (lambda m, g: qmgr.describe_error(0x12345678), INVALIDARG, ""),
    "empty-queue-dir": (lambda m, g: qmgr.Manager(""), INVALIDARG, "queue_dir"),
}


@pytest.mark.parametrize("action, hresult, words", FAILURES.values(), ids=FAILURES.keys())
def test_failures_raise_the_matching_error(manager, group, action, hresult, words):
    with pytest.raises(qmgr.QmgrError) as raised:
        action(manager, group)
    assert type(raised.value) is ERROR_CLASSES.get(hresult, qmgr.QmgrError)
    assert raised.value.hresult == hresult
    assert raised.value.message and words in raised.value.message
    assert str(raised.value).startswith(f"{HResult(hresult).name} (0x{hresult & 0xFFFFFFFF:08X}): ")


def test_queue_that_cannot_be_opened(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(qmgr.ServiceUnavailableError) as raised:
        qmgr.Manager(tmp_path / "file" / "queue")
    assert raised.value.hresult == HResult.QM_E_SERVICE_UNAVAILABLE and "queue" in raised.value.message


def test_cancelled_objects_raise_invalid_state(group):
    job = group.create_job()
    group_id, job_id = group.id, job.id
    group.cancel()
    for action in (
        lambda: group.status,
        lambda: group.cancel(),
        lambda: group.create_job(),
        lambda: group.wait(1),
        lambda: group.set_callback(None),
        lambda: job.status,
        lambda: job.error_message,
    ):
        with pytest.raises(qmgr.InvalidStateError) as raised:
            action()
        assert raised.value.hresult == HResult.QM_E_INVALID_STATE and raised.value.message
    assert (group.id, job.id) == (group_id, job_id)


def test_last_error_message_is_per_thread_and_kept(group):
    with pytest.raises(qmgr.InvalidArgumentError) as raised:
        group.priority = 9
    assert qmgr.last_error_message() == raised.value.message
    assert group.priority == 1  # a success neither clears nor changes it
    assert qmgr.last_error_message() == raised.value.message
    other_thread = []
    thread = threading.Thread(target=lambda: other_thread.append(qmgr.last_error_message()))
    thread.start()
    thread.join()
    assert other_thread == [None]


def test_describe_error_accepts_signed_and_unsigned_codes():
    assert "invalid" in qmgr.describe_error(HResult.E_HANDLE).lower()
    assert "404" in qmgr.describe_error(qmgr.BG_E_HTTP_ERROR_BASE | 404)
    assert qmgr.describe_error(HResult.E_INVALIDARG) == qmgr.describe_error(0x80070057)


def test_s_false_is_not_an_error(group):
    job = group.create_job()
    assert job.error_message is None  # S_FALSE: no error
    with group.enum_jobs() as jobs:
        assert jobs.skip(5) is False  # S_FALSE: fewer left
        assert jobs.fetch(3) == []


def test_adding_no_files_to_a_cancelled_job_is_refused(group):
    job = group.create_job()
    job.cancel()
    with pytest.raises(qmgr.InvalidStateError):
        job.add_files([])


def _every_object(manager):
    group = manager.create_group()
    job = group.create_job()
    return [manager, group, job, manager.enum_groups(), group.enum_jobs()]


def test_closed_objects_raise_and_close_twice(tmp_path):
    objects = _every_object(qmgr.Manager(tmp_path / "queue"))
    for obj in objects:
        assert not obj.closed
        obj.close()
        obj.close()
        assert obj.closed
    manager, group, job, groups, jobs = objects
    for action in (
        lambda: manager.create_group(),
        lambda: manager.get_option(qmgr.Option.PROXY),
        lambda: group.id,
        lambda: group.status,
        lambda: group.set_callback(None),
        lambda: job.id,
        lambda: job.add_files([]),
        lambda: next(groups),
        lambda: jobs.count,
    ):
        with pytest.raises(qmgr.InvalidHandleError, match="is closed") as raised:
            action()
        assert raised.value.hresult == HResult.E_HANDLE
    assert repr(group) == "<Group (closed)>" and repr(job) == "<Job (closed)>"


def test_with_closes(tmp_path):
    with qmgr.Manager(tmp_path / "queue") as manager, manager.create_group() as group, group.enum_jobs() as jobs:
        pass
    assert manager.closed and group.closed and jobs.closed


def test_handles_keep_what_they_need_alive(tmp_path):
    manager = qmgr.Manager(tmp_path / "queue")
    group = manager.create_group()
    group_id = group.id
    job = group.create_job()
    manager.close()
    group.close()
    assert job.file_count == 0  # the job keeps its manager alive
    with qmgr.Manager(tmp_path / "queue") as again, again.get_group(group_id) as found:
        assert [j.id for j in found.jobs()] == [job.id]
    job.close()


def test_raw_abi_reports_null_and_foreign_handles():
    """The declarations of functions the classes do not wrap, and the library's own checks."""
    unknown = ctypes.c_void_p()
    assert ffi.lib.qmgr_group_query_new_job_interface(None, None, ctypes.byref(unknown)) == HResult.E_POINTER
    assert ffi.lib.qmgr_enum_groups_add_ref(None) == 0
    assert ffi.lib.qmgr_enum_jobs_add_ref(None) == 0
    assert ffi.lib.qmgr_manager_release(None) == 0
    foreign = ctypes.cast(ctypes.pointer(ctypes.c_uint64(7)), ctypes.POINTER(ffi.qmgr_group))
    assert ffi.lib.qmgr_group_resume_group(foreign) == HResult.E_HANDLE
    assert "resume" in qmgr.last_error_message().lower()


def test_query_new_job_interface_has_no_interfaces(group):
    unknown = ctypes.c_void_p(1)
    iid = qmgr._convert.to_guid(qmgr.IID_IBackgroundCopyJob1)
    hresult = ffi.lib.qmgr_group_query_new_job_interface(group._handle(), ctypes.byref(iid), ctypes.byref(unknown))
    assert hresult == HResult.E_NOINTERFACE and unknown.value is None


def test_enumerator_reference_counts(manager):
    with manager.enum_groups() as groups, manager.create_group().enum_jobs() as jobs:
        for enumerator, add_ref, release in (
            (groups, ffi.lib.qmgr_enum_groups_add_ref, ffi.lib.qmgr_enum_groups_release),
            (jobs, ffi.lib.qmgr_enum_jobs_add_ref, ffi.lib.qmgr_enum_jobs_release),
        ):
            assert add_ref(enumerator._handle()) == 2
            assert release(enumerator._handle()) == 1
