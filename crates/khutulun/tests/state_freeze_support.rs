//! Smoke test of the `FrozenMount` test support (tests/common/freezefs.rs): a state
//! directory that stops answering on demand, as an NFS mount does when its server stalls.
//! Needs root and FUSE; skipped (with a message) without them.

#[path = "common/freezefs.rs"]
mod freezefs;

use freezefs::FrozenMount;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn frozen_mount_blocks_reads_until_thawed() {
    let source = tempfile::tempdir().unwrap();
    let Some(mount) = FrozenMount::new(source.path()) else {
        return;
    };
    let file = mount.path().join("cluster.json");
    std::fs::write(&file, b"{\"format\": 1}").unwrap();
    assert_eq!(
        std::fs::read(source.path().join("cluster.json")).unwrap(),
        b"{\"format\": 1}"
    );

    mount.freeze();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(std::fs::read(&file)));
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "a read on a frozen mount was answered"
    );
    mount.thaw();
    let read = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the read finishes after the thaw");
    assert_eq!(read.unwrap(), b"{\"format\": 1}");
}

/// As on NFS (whose waits are killable), a process stuck on the frozen mount dies when
/// killed, and one that exits holding a file there is not held back either.
#[test]
fn processes_waiting_on_a_frozen_mount_can_be_killed() {
    let source = tempfile::tempdir().unwrap();
    let Some(mount) = FrozenMount::new(source.path()) else {
        return;
    };
    let dir = mount.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("held"), b"").unwrap();
    // One process only holds a file open there (and works in a directory there), one waits
    // in a request on the mount.
    let spawn = |script: &str, cwd: &std::path::Path| {
        std::process::Command::new("sh")
            .args(["-c", script])
            .current_dir(cwd)
            .spawn()
            .unwrap()
    };
    let mut holder = spawn("exec 3<>held; exec sleep 600", &dir);
    std::thread::sleep(Duration::from_millis(200));
    mount.freeze();
    let mut waiter = spawn(
        &format!("while :; do cat {}/held >/dev/null; done", dir.display()),
        source.path(),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter did not wait on the frozen mount"
    );
    for child in [&mut waiter, &mut holder] {
        child.kill().unwrap();
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send((waiter.wait().unwrap(), holder.wait().unwrap())));
    let ended = rx.recv_timeout(Duration::from_secs(5));
    mount.thaw();
    assert!(
        ended.is_ok(),
        "killed processes stayed in the kernel while the mount was frozen"
    );
}
