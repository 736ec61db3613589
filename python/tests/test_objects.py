"""Manager, groups, jobs and enumerators without transfers."""

import os
import struct
import uuid
from pathlib import Path

import pytest

import qmgr
from qmgr import GroupProp, Notify, Option, Progress, Protocol, Status

OPTION_DEFAULTS = {
    Option.MAX_ACTIVE_GROUPS: "4",
    Option.MIN_RETRY_DELAY_MS: "5000",
    Option.NO_PROGRESS_TIMEOUT_MS: "1209600000",
    Option.BACKGROUND_RATE_LIMIT: "0",
    Option.CONNECT_TIMEOUT_MS: "30000",
    Option.READ_TIMEOUT_MS: "60000",
    Option.USER_AGENT: "",
    Option.CA_FILE: "",
    Option.ALLOW_CREDENTIALS_OVER_HTTP: "0",
    Option.AUTOSTART: "1",
    Option.BACKGROUND_MODE: "idle",
}


def test_option_defaults(tmp_path):
    with qmgr.Manager(tmp_path / "queue") as manager:
        assert {option: manager.get_option(option) for option in OPTION_DEFAULTS} == OPTION_DEFAULTS


@pytest.mark.parametrize(
    "option, value, text",
    [
        (Option.MAX_ACTIVE_GROUPS, 2, "2"),
        (Option.BACKGROUND_RATE_LIMIT, "1000000", "1000000"),
        (Option.ALLOW_CREDENTIALS_OVER_HTTP, True, "1"),
        (Option.AUTOSTART, False, "0"),
        (Option.BACKGROUND_MODE, "normal", "normal"),
        (Option.USER_AGENT, "qmgr-python-test/1", "qmgr-python-test/1"),
        (Option.PROXY, "http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ],
)
def test_options_round_trip_and_persist(tmp_path, option, value, text):
    with qmgr.Manager(tmp_path / "queue") as manager:
        manager.set_option(option, value)
        assert manager.get_option(option) == text
    with qmgr.Manager(tmp_path / "queue") as reopened:
        assert reopened.get_option(option) == text


def test_ca_file_takes_a_path(manager, tmp_path):
    not_pem = tmp_path / "roots.pem"
    not_pem.write_text("no certificate here")
    with pytest.raises(qmgr.InvalidArgumentError):
        manager.set_option(Option.CA_FILE, not_pem)


def test_default_queue_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("QMGR_HOME", str(tmp_path / "home-queue"))
    with qmgr.Manager() as manager, manager.create_group() as group:
        group_id = group.id
    assert (tmp_path / "home-queue" / "queue.sqlite").is_file()
    assert os.stat(tmp_path / "home-queue").st_mode & 0o777 == 0o700
    with qmgr.Manager(tmp_path / "home-queue") as manager:
        assert [g.id for g in manager.groups()] == [group_id]


def test_same_directory_shares_the_queue(manager, tmp_path):
    with qmgr.Manager(tmp_path / "queue") as other, other.create_group() as group:
        assert manager.get_group(group.id).id == group.id


def test_groups_in_creation_order(manager):
    ids = [uuid.uuid4() for _ in range(3)]
    created = [manager.create_group(group_id) for group_id in ids]
    assert [group.id for group in created] == ids
    assert [group.id for group in manager.groups()] == ids
    assert manager.get_group(str(ids[1])).id == ids[1]
    generated = manager.create_group()
    assert generated.id.version == 4


def test_groups_skips_groups_cancelled_meanwhile(manager):
    first, second, third = (manager.create_group() for _ in range(3))
    found = manager.groups()
    assert next(found).id == first.id
    second.cancel()
    assert [group.id for group in found] == [third.id]


def test_group_enumerator(manager):
    ids = [manager.create_group().id for _ in range(4)]
    with manager.enum_groups() as groups:
        assert groups.count == 4
        assert groups.fetch(0) == []
        assert groups.fetch(2) == ids[:2]
        with groups.clone() as clone:
            assert groups.skip(1) is True
            assert list(groups) == ids[3:]
            assert list(clone) == ids[2:]
            assert clone.skip(1) is False
        groups.reset()
        assert next(groups) == ids[0]
        manager.create_group()
        assert groups.count == 4  # a snapshot


def test_job_enumerator_and_jobs(group):
    jobs = [group.create_job() for _ in range(3)]
    ids = [job.id for job in jobs]
    with group.enum_jobs() as found:
        assert found.count == 3
        assert found.fetch(5) == ids
        assert found.skip(1) is False
        found.reset()
        assert found.skip(2) is True
        with found.clone() as clone:
            assert list(clone) == ids[2:]
    jobs[1].cancel()
    assert [job.id for job in group.jobs()] == [ids[0], ids[2]]
    assert group.get_job(ids[2]).id == ids[2]
    with pytest.raises(qmgr.InvalidStateError):
        jobs[1].file_count  # noqa: B018
    assert jobs[1].id == ids[1]


#: attribute -> (GroupProp, default, another value)
PROPERTIES = {
    "priority": (GroupProp.PRIORITY, 1, 0),
    "remote_user_id": (GroupProp.REMOTEUSERID, "", "user"),
    "protocol": (GroupProp.PROTOCOLFLAGS, Protocol.HTTP, Protocol.SMB),
    "notify_flags": (GroupProp.NOTIFYFLAGS, Notify(0), Notify.GROUP_DONE | Notify.USE_PROGRESSEX),
    "notify_clsid": (GroupProp.NOTIFYCLSID, "", "{084F6593-3800-4E08-9B59-99FA59ADDF82}"),
    "progress_size": (GroupProp.PROGRESSSIZE, 0, 65536),
    "progress_percent": (GroupProp.PROGRESSPERCENT, 0, 100),
    "progress_time": (GroupProp.PROGRESSTIME, 0, 250),
    "display_name": (GroupProp.DISPLAYNAME, "", "Überweisung ✓ " + "n" * 242),
    "description": (GroupProp.DESCRIPTION, "", "d" * 1024),
}


@pytest.mark.parametrize("name, prop, default, value", [(n, *v) for n, v in PROPERTIES.items()], ids=PROPERTIES)
def test_group_property_round_trip(manager, group, name, prop, default, value):
    assert getattr(group, name) == default and type(getattr(group, name)) is type(default)
    setattr(group, name, value)
    assert getattr(group, name) == value and group.get_prop(prop) == value
    with manager.get_group(group.id) as again:
        assert getattr(again, name) == value


def test_properties_through_get_prop_and_set_prop(group):
    group.set_prop(GroupProp.PROGRESSSIZE, 3_000_000_000)  # beyond int32: sent as VT_UI4
    assert group.get_prop(GroupProp.PROGRESSSIZE) == 3_000_000_000
    group.set_prop(GroupProp.NOTIFYFLAGS, Notify.JOB_DONE)
    assert group.notify_flags is Notify.JOB_DONE
    with pytest.raises(qmgr.InvalidArgumentError):
        group.set_prop(GroupProp.DISPLAYNAME, 5)  # wrong type
    with pytest.raises(qmgr.NotSupportedError):
        group.set_prop(GroupProp.LOCALUSERPWD, "secret")


def test_password_is_write_only(group):
    group.remote_user_password = "secret"
    assert group.remote_user_password == ""


def test_new_group_status(group):
    assert group.status == (Status.GROUP_INCOMPLETE | Status.GROUP_SUSPENDED, 0)
    assert group.size == 0
    assert group.progress == (0, 0)
    assert group.get_progress(Progress.PERCENT_DONE) == 0
    group.suspend()  # a no-op when suspended
    assert group.wait(0) == Status.GROUP_INCOMPLETE | Status.GROUP_SUSPENDED


def test_foreground(group):
    job = group.create_job()
    group.switch_to_foreground()
    assert group.status.flags & Status.GROUP_FOREGROUND
    assert not job.status.flags & Status.JOB_FOREGROUND
    job.switch_to_foreground()
    assert job.status.flags & Status.JOB_FOREGROUND


def test_rate_limit_round_trips_and_persists(tmp_path):
    """C-API.md "Per-group rate limit": int bytes/s, 0 = none by default, persisted, refused once cancelled."""
    with qmgr.Manager(tmp_path / "queue") as manager, manager.create_group() as group:
        assert group.rate_limit == 0
        for value in (1, 512 * 1024, (1 << 64) - 1, 0, 300_000):
            group.rate_limit = value
            assert group.rate_limit == value
        group.switch_to_foreground()
        group.rate_limit = 4096  # foreground groups take a limit too
        group_id = group.id
    with qmgr.Manager(tmp_path / "queue") as manager, manager.get_group(group_id) as group:
        assert group.rate_limit == 4096
        group.cancel()
        with pytest.raises(qmgr.InvalidStateError):
            group.rate_limit = 1
        with pytest.raises(qmgr.InvalidStateError):
            _ = group.rate_limit


@pytest.mark.parametrize("value", ["1000", 1.5, None, True, b"1"])
def test_rate_limit_must_be_an_int(group, value):
    with pytest.raises(TypeError, match="rate_limit must be an int"):
        group.rate_limit = value
    assert group.rate_limit == 0


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_rate_limit_out_of_range(group, value):
    with pytest.raises(qmgr.InvalidArgumentError, match="rate_limit") as caught:
        group.rate_limit = value
    assert isinstance(caught.value, ValueError)
    assert group.rate_limit == 0


def test_files_of_a_job(group, downloads):
    job = group.create_job(uuid.uuid4())
    files = [
        ("http://127.0.0.1:9/a.bin", str(downloads / "a.bin")),
        qmgr.FileInfo("http://127.0.0.1:9/b.bin", str(downloads / "b.bin"), 1000),
        ("http://127.0.0.1:9/c.bin", downloads / "c.bin", 24),
    ]
    job.add_files(files)
    job.add_files([])
    assert job.file_count == 3
    assert job.files == [
        qmgr.FileInfo("http://127.0.0.1:9/a.bin", str(downloads / "a.bin"), 0),
        qmgr.FileInfo("http://127.0.0.1:9/b.bin", str(downloads / "b.bin"), 1000),
        qmgr.FileInfo("http://127.0.0.1:9/c.bin", str(downloads / "c.bin"), 24),
    ]
    assert job.get_file(1).size_hint == 1000
    assert job.file_progress(1) == (0, 1000, Status.FILE_INCOMPLETE)
    assert job.file_progress(0) == (0, None, Status.FILE_INCOMPLETE)
    assert job.progress == (0, None)
    assert job.status == (Status.JOB_INCOMPLETE, 0, 0, 0)
    assert [job.get_progress(kind) for kind in Progress] == [0, 0, 0]
    assert group.size == 0  # a size is unknown
    with pytest.raises(qmgr.InvalidArgumentError, match="file 1"):
        job.add_files(
            [("http://127.0.0.1:9/d.bin", str(downloads / "d.bin")), ("http://127.0.0.1:9/e", str(downloads / "a.bin"))]
        )
    assert job.file_count == 3  # all or nothing
    with pytest.raises(qmgr.InvalidStateError):
        group.protocol = Protocol.SMB  # the group has files


def test_group_size_from_hints(group, downloads):
    group.create_job().add_files(
        [("http://127.0.0.1:9/a", downloads / "a", 100), ("http://127.0.0.1:9/b", downloads / "b", 23)]
    )
    assert group.size == 123
    assert group.progress == (0, 123)


def test_guid_helpers():
    generated = qmgr.generate_guid()
    assert generated.version == 4
    text = qmgr.guid_to_string(generated)
    assert text == "{" + str(generated) + "}"
    assert qmgr.guid_from_string(text.upper()) == generated
    assert qmgr.guid_from_string(str(generated)) == generated


def test_repr(group):
    assert repr(group) == f"<Group {group.id} suspended>"
    job = group.create_job()
    assert repr(job) == f"<Job {job.id}>"


def test_unreachable_objects_release_their_handle(manager):
    group = manager.create_group()
    handle = group._handle()
    assert qmgr.ffi.lib.qmgr_group_add_ref(handle) == 2
    del group
    assert qmgr.ffi.lib.qmgr_group_release(handle) == 0


def test_queue_directory_is_path_like(tmp_path):
    with qmgr.Manager(Path(tmp_path) / "nested" / "queue"):
        assert (tmp_path / "nested" / "queue" / "queue.sqlite").is_file()


def test_progress_record_reads_version_1_prefix():
    data = struct.pack("<IQQII", 2, 5, 2**64 - 1, 0, 3) + b"fields of later versions"
    assert qmgr.ProgressRecord.parse(data) == (2, 5, None, 0, 3)
