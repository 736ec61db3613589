//! DECISIONS D10: a manager follows what other processes change in the queue by reading only
//! what changed (`Store::load_changes`). Two managers on one queue directory stand for two
//! processes; after every kind of change made by one, the other's view — groups in creation
//! order, their properties and states, jobs, files, options — equals the writer's, and its
//! handles to groups that still exist keep working.
use qmgr_core::model::{PropId, PropValue};
use qmgr_core::{FileSpec, Group, Guid, Manager};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn open(dir: &std::path::Path) -> Manager {
    let store = qmgr_store::SqliteStore::open(dir).unwrap();
    let transport = qmgr_net::NetTransport::new(&qmgr_core::model::Options::default()).unwrap();
    Manager::open(dir, Box::new(store), Arc::new(transport)).unwrap()
}

/// Everything a manager shows of the queue, in its order.
fn view(m: &Manager) -> Vec<String> {
    let mut out = vec![format!("option max_active_groups={}", m.get_option("max_active_groups").unwrap())];
    for id in m.enum_groups(0).unwrap() {
        let Ok(g) = m.get_group(id) else { continue };
        let Ok(name) = g.get_prop(PropId::DisplayName) else { continue };
        let prio = g.get_prop(PropId::Priority).unwrap();
        out.push(format!("group {id} {name:?} {prio:?} {:?}", g.state().unwrap()));
        for jid in g.enum_jobs(0).unwrap() {
            let j = g.get_job(jid).unwrap();
            for i in 0..j.file_count().unwrap() {
                let f = j.file(i).unwrap();
                out.push(format!("  job {jid} file {i} {} -> {}", f.url, f.local_path));
            }
        }
    }
    out
}

/// Waits (up to 10 s; the follower looks every 200 ms) until `follower` shows what `writer` does.
fn converges(writer: &Manager, follower: &Manager, step: &str) {
    let want = view(writer);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = view(follower);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{step}: follower shows\n{got:#?}\nwriter shows\n{want:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn named(m: &Manager, id: Guid, name: &str) -> Group {
    let g = m.create_group(id).unwrap();
    g.set_prop(PropId::DisplayName, PropValue::Str(name.into())).unwrap();
    g
}

#[test]
fn a_follower_sees_every_change_and_keeps_its_handles() {
    let work = tempfile::tempdir().unwrap();
    let queue = work.path().join("queue");
    let a = open(&queue);
    let b = open(&queue);
    let file = |n: u32| {
        let dest = work.path().join(format!("out{n}.bin")).display().to_string();
        FileSpec::new(format!("http://127.0.0.1:9/f{n}"), dest)
    };

    // Creation, in both directions, keeps one creation order.
    let g1 = named(&a, Guid::generate(), "one");
    let g2 = named(&b, Guid::generate(), "two");
    let g3 = named(&a, Guid::generate(), "three");
    converges(&a, &b, "groups created by both");
    converges(&b, &a, "groups created by both, seen by the other");
    let b1 = b.get_group(g1.id()).unwrap();

    // Properties, jobs and files of one group; the others untouched.
    g1.set_prop(PropId::Priority, PropValue::Int(0)).unwrap();
    let j1 = g1.create_job(Guid::generate()).unwrap();
    j1.add_files(&[file(1), file(2)]).unwrap();
    let j2 = g3.create_job(Guid::generate()).unwrap();
    j2.add_files(&[file(3)]).unwrap();
    converges(&a, &b, "properties, jobs, files");
    assert_eq!(b1.get_prop(PropId::Priority).unwrap(), PropValue::Int(0), "b's handle follows");

    // A job cancelled, a group cancelled, an option set.
    j1.cancel().unwrap();
    g2.cancel().unwrap();
    a.set_option("max_active_groups", "3").unwrap();
    converges(&a, &b, "cancels and an option");
    assert!(b.get_group(g2.id()).is_err(), "cancelled elsewhere");
    assert_eq!(b1.get_prop(PropId::DisplayName).unwrap(), PropValue::Str("one".into()));

    // A GUID cancelled and created again at once is a new group at the end of the order.
    let id = g1.id();
    g1.cancel().unwrap();
    let again = named(&a, id, "one again");
    again.create_job(Guid::generate()).unwrap().add_files(&[file(4)]).unwrap();
    converges(&a, &b, "GUID reused");

    // Many groups at once, created and cancelled by the follower, seen by the writer.
    let many: Vec<Group> = (0..50).map(|i| named(&b, Guid::generate(), &format!("g{i}"))).collect();
    for g in many.iter().step_by(3) {
        g.cancel().unwrap();
    }
    converges(&b, &a, "many groups");
    assert_eq!(a.enum_groups(0).unwrap().count_all(), 2 + 50 - 17);
}
