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
