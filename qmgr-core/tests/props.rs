//! The thirteen group properties (reference §1.6, §2.2.1, §2.2.2; DECISIONS D1, D12): defaults,
//! kinds, ranges, lengths, the write-only password, the NOTIMPL ones, persistence.

mod common;

use common::*;
use qmgr_core::hresult::{E_INVALIDARG, E_NOTIMPL, QM_E_DOWNLOADER_UNAVAILABLE, QM_E_INVALID_STATE};
use qmgr_core::model::{notify, protocol, PropId, PropValue};
use qmgr_core::FileSpec;

const INT_PROPS: [PropId; 6] = [
    PropId::Priority,
    PropId::ProtocolFlags,
    PropId::NotifyFlags,
    PropId::ProgressSize,
    PropId::ProgressPercent,
    PropId::ProgressTime,
];
const STR_PROPS: [PropId; 5] =
    [PropId::RemoteUserId, PropId::RemoteUserPwd, PropId::NotifyClsid, PropId::DisplayName, PropId::Description];

fn int(v: u32) -> PropValue {
    PropValue::Int(v)
}

fn text(s: &str) -> PropValue {
    PropValue::Str(s.to_string())
}

#[test]
fn d12_property_defaults() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let want = [
        (PropId::Priority, int(1)),
        (PropId::RemoteUserId, text("")),
        (PropId::RemoteUserPwd, text("")),
        (PropId::ProtocolFlags, int(protocol::HTTP)),
        (PropId::NotifyFlags, int(0)),
        (PropId::NotifyClsid, text("")),
        (PropId::ProgressSize, int(0)),
        (PropId::ProgressPercent, int(0)),
        (PropId::ProgressTime, int(0)),
        (PropId::DisplayName, text("")),
        (PropId::Description, text("")),
    ];
    for (p, v) in want {
        assert_eq!(g.get_prop(p).unwrap(), v, "{p:?}");
    }
}

#[test]
fn d1_local_user_id_and_password_are_not_implemented() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for p in [PropId::LocalUserId, PropId::LocalUserPwd] {
        assert_eq!(hr(g.get_prop(p)), E_NOTIMPL, "{p:?}");
        assert_eq!(hr(g.set_prop(p, text("root"))), E_NOTIMPL, "{p:?}");
    }
}

#[test]
fn d12_property_ids_map_from_their_c_values() {
    for v in 0..=12u32 {
        assert_eq!(PropId::from_u32(v).unwrap() as u32, v);
    }
    assert_eq!(PropId::from_u32(13).unwrap_err().hr, E_INVALIDARG);
}

#[test]
fn d12_set_prop_refuses_a_value_of_the_wrong_kind() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for p in INT_PROPS {
        assert_eq!(hr(g.set_prop(p, text("1"))), E_INVALIDARG, "{p:?}");
    }
    for p in STR_PROPS {
        assert_eq!(hr(g.set_prop(p, int(1))), E_INVALIDARG, "{p:?}");
    }
}

#[test]
fn d1_priority_is_0_1_or_2() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for v in [0, 2, 1] {
        g.set_prop(PropId::Priority, int(v)).unwrap();
        assert_eq!(g.get_prop(PropId::Priority).unwrap(), int(v));
    }
    for v in [3, 100, u32::MAX] {
        assert_eq!(hr(g.set_prop(PropId::Priority, int(v))), E_INVALIDARG, "{v}");
    }
    assert_eq!(g.get_prop(PropId::Priority).unwrap(), int(1), "unchanged by a refused value");
}

#[test]
fn d1_remote_password_is_write_only_and_credentials_reach_the_transport() {
    let (mgr, fake) = open();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10))]);
    g.set_prop(PropId::RemoteUserId, text("alice")).unwrap();
    g.set_prop(PropId::RemoteUserPwd, text("s3cret")).unwrap();
    assert_eq!(g.get_prop(PropId::RemoteUserId).unwrap(), text("alice"));
    assert_eq!(g.get_prop(PropId::RemoteUserPwd).unwrap(), text(""), "write-only");
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.requests()[0].credentials, Some(("alice".to_string(), "s3cret".to_string())));

    let (g2, _) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    g2.resume().unwrap();
    settle(&g2);
    assert_eq!(fake.requests_for(&url("b"))[0].credentials, None, "no user id: no credentials");
}

#[test]
fn d1_protocol_flags_values() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    g.set_prop(PropId::ProtocolFlags, int(protocol::SMB)).unwrap();
    assert_eq!(g.get_prop(PropId::ProtocolFlags).unwrap(), int(protocol::SMB));
    g.set_prop(PropId::ProtocolFlags, int(protocol::HTTP)).unwrap();
    assert_eq!(hr(g.set_prop(PropId::ProtocolFlags, int(protocol::FTP))), QM_E_DOWNLOADER_UNAVAILABLE);
    assert_eq!(hr(g.set_prop(PropId::ProtocolFlags, int(protocol::CUSTOM))), E_NOTIMPL);
    for v in [0, 5, 0x10] {
        assert_eq!(hr(g.set_prop(PropId::ProtocolFlags, int(v))), E_INVALIDARG, "{v}");
    }
    assert_eq!(g.get_prop(PropId::ProtocolFlags).unwrap(), int(protocol::HTTP));
}

#[test]
fn d1_protocol_decides_which_urls_add_files_accepts_and_changes_only_without_files() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    let file_url = FileSpec { url: "file:///srv/share/a".into(), local_path: dest("fa"), size_hint: 0 };
    assert_eq!(hr(j.add_files(std::slice::from_ref(&file_url))), E_INVALIDARG, "file:// in an HTTP group");
    g.set_prop(PropId::ProtocolFlags, int(protocol::SMB)).unwrap();
    assert_eq!(hr(j.add_files(&[spec("h")])), E_INVALIDARG, "http:// in an SMB group");
    j.add_files(&[file_url]).unwrap();
    assert_eq!(hr(g.set_prop(PropId::ProtocolFlags, int(protocol::HTTP))), QM_E_INVALID_STATE, "the group has files");
    g.set_prop(PropId::ProtocolFlags, int(protocol::SMB)).unwrap();
    assert_eq!(g.get_prop(PropId::ProtocolFlags).unwrap(), int(protocol::SMB));
    let _ = fake;
}

#[test]
fn d12_notify_flags_accept_defined_bits_only_and_read_back() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for v in [notify::ALL, notify::FILE_DONE | notify::USE_PROGRESSEX, 0] {
        g.set_prop(PropId::NotifyFlags, int(v)).unwrap();
        assert_eq!(g.get_prop(PropId::NotifyFlags).unwrap(), int(v));
    }
    assert_eq!(notify::ALL, 0xC7);
    for v in [0x08, 0x10, 0x20, 0x100, 0x8000_0000] {
        assert_eq!(hr(g.set_prop(PropId::NotifyFlags, int(v))), E_INVALIDARG, "{v:#x}");
    }
}

#[test]
fn d12_notify_clsid_is_empty_or_a_guid_string_stored_verbatim() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for s in ["{4991D34B-80A1-4291-83B6-3328366B9097}", "{4991d34b-80a1-4291-83b6-3328366b9097}", ""] {
        g.set_prop(PropId::NotifyClsid, text(s)).unwrap();
        assert_eq!(g.get_prop(PropId::NotifyClsid).unwrap(), text(s), "verbatim");
    }
    for s in ["not a guid", "{4991D34B-80A1-4291-83B6}", "{4991D34B-80A1-4291-83B6-3328366B9097"] {
        assert_eq!(hr(g.set_prop(PropId::NotifyClsid, text(s))), E_INVALIDARG, "{s}");
    }
}

#[test]
fn d1_progress_thresholds_ranges() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for v in [0, 1, 4096, u32::MAX] {
        g.set_prop(PropId::ProgressSize, int(v)).unwrap();
        assert_eq!(g.get_prop(PropId::ProgressSize).unwrap(), int(v));
        g.set_prop(PropId::ProgressTime, int(v)).unwrap();
        assert_eq!(g.get_prop(PropId::ProgressTime).unwrap(), int(v));
    }
    for v in [0, 1, 100] {
        g.set_prop(PropId::ProgressPercent, int(v)).unwrap();
        assert_eq!(g.get_prop(PropId::ProgressPercent).unwrap(), int(v));
    }
    for v in [101, u32::MAX] {
        assert_eq!(hr(g.set_prop(PropId::ProgressPercent, int(v))), E_INVALIDARG, "{v}");
    }
}

#[test]
fn d2_display_name_and_description_lengths_count_characters() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for (p, max) in [(PropId::DisplayName, 256), (PropId::Description, 1024)] {
        let at_max = "é".repeat(max);
        g.set_prop(p, text(&at_max)).unwrap();
        assert_eq!(g.get_prop(p).unwrap(), text(&at_max), "{p:?}: {max} characters (more bytes) accepted");
        assert_eq!(hr(g.set_prop(p, text(&"a".repeat(max + 1)))), E_INVALIDARG, "{p:?}");
        assert_eq!(g.get_prop(p).unwrap(), text(&at_max), "unchanged by a refused value");
        g.set_prop(p, text("")).unwrap();
        assert_eq!(g.get_prop(p).unwrap(), text(""));
    }
}

#[test]
fn d6_properties_and_foreground_are_persisted_and_survive_a_reopen() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.create_group(guid()).unwrap();
    let id = g.id();
    let set = [
        (PropId::Priority, int(2)),
        (PropId::RemoteUserId, text("bob")),
        (PropId::NotifyFlags, int(notify::GROUP_DONE | notify::FILE_DONE)),
        (PropId::NotifyClsid, text("{4991D34B-80A1-4291-83B6-3328366B9097}")),
        (PropId::ProgressSize, int(1 << 20)),
        (PropId::ProgressPercent, int(10)),
        (PropId::ProgressTime, int(500)),
        (PropId::DisplayName, text("name ✓")),
        (PropId::Description, text("description")),
    ];
    for (p, v) in set.clone() {
        g.set_prop(p, v).unwrap();
    }
    g.set_prop(PropId::RemoteUserPwd, text("pw")).unwrap();
    g.switch_to_foreground().unwrap();
    let rec = store.image().groups.into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(rec.props.remote_password, "pw", "persisted before SetProp returned");
    assert!(rec.foreground);
    drop((mgr, g));

    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.get_group(id).unwrap();
    for (p, v) in set {
        assert_eq!(g.get_prop(p).unwrap(), v, "{p:?}");
    }
    assert_eq!(g.get_prop(PropId::RemoteUserPwd).unwrap(), text(""));
    assert_eq!(g.status().unwrap().0, 0x580, "foreground is persisted");
}

#[test]
fn d3_set_prop_that_cannot_be_persisted_changes_nothing() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.create_group(guid()).unwrap();
    store.fail_writes.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = err("SetProp", g.set_prop(PropId::DisplayName, text("x")));
    assert_eq!(e.hr, qmgr_core::hresult::QM_E_SERVICE_UNAVAILABLE);
    assert_eq!(g.get_prop(PropId::DisplayName).unwrap(), text(""));
    store.fail_writes.store(false, std::sync::atomic::Ordering::SeqCst);
    g.set_prop(PropId::DisplayName, text("x")).unwrap();
}

/// C-API.md "Per-group rate limit": 0 (none) by default, any value in every live state,
/// persisted before it returns, seen by another manager of the store (DECISIONS D10),
/// `QM_E_INVALID_STATE` once cancelled, unchanged when it cannot be persisted.
#[test]
fn rate_limit_round_trips_persists_and_is_refused_once_cancelled() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.create_group(guid()).unwrap();
    let id = g.id();
    assert_eq!(g.rate_limit().unwrap(), 0, "no limit by default");
    for v in [1, 512 * 1024, u64::MAX, 0, 300_000] {
        g.set_rate_limit(v).unwrap();
        assert_eq!(g.rate_limit().unwrap(), v);
    }
    let rec = store.image().groups.into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(rec.props.rate_limit, 300_000, "persisted before it returned");
    assert_eq!(g.snapshot().unwrap().props.rate_limit, 300_000);
    let other = open_on(Box::new(store.clone()), &fake);
    assert_eq!(other.get_group(id).unwrap().rate_limit().unwrap(), 300_000, "another manager of the queue");

    store.fail_writes.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = err("SetRateLimit", g.set_rate_limit(7));
    assert_eq!(e.hr, qmgr_core::hresult::QM_E_SERVICE_UNAVAILABLE);
    assert_eq!(g.rate_limit().unwrap(), 300_000, "unchanged");
    store.fail_writes.store(false, std::sync::atomic::Ordering::SeqCst);
    drop((other, mgr, g));

    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.get_group(id).unwrap();
    assert_eq!(g.rate_limit().unwrap(), 300_000, "survives a reopen");
    g.cancel().unwrap();
    assert_eq!(hr(g.set_rate_limit(1)), QM_E_INVALID_STATE);
    assert_eq!(hr(g.rate_limit()), QM_E_INVALID_STATE);
}
