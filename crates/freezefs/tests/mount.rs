//! The `freezefs` binary through the test support that other crates use (`FrozenMount`,
//! crates/khutulun/tests/common/freezefs.rs): passthrough operations, flock, freezing and
//! thawing, unmounting. Needs root and FUSE; skipped (with a message) without them.

#[path = "../../khutulun/tests/common/freezefs.rs"]
mod support;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use support::{is_mounted, FrozenMount};

/// How long a call on a frozen mount must stay unanswered to count as blocked.
const BLOCKED: Duration = Duration::from_millis(500);
/// How long a released call may take to finish (generous: the machine may be busy).
const RELEASED: Duration = Duration::from_secs(30);

fn source() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("freezefs-src-")
        .tempdir()
        .unwrap()
}

/// Writes `path` the way the state store does: temp file, fsync, rename, fsync the
/// directory. Returns the inode number of the temp file.
fn atomic_write(path: &Path, contents: &[u8]) -> u64 {
    let dir = path.parent().unwrap();
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    let mut file = File::create(&tmp).unwrap();
    file.write_all(contents).unwrap();
    file.sync_all().unwrap();
    let ino = file.metadata().unwrap().ino();
    drop(file);
    fs::rename(&tmp, path).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
    ino
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn passthrough_operations_reach_the_source() {
    let src = source();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let m = mount.path();

    // Create, write, read, through the mount and in the source.
    fs::write(m.join("a.json"), b"{\"v\": 1}").unwrap();
    assert_eq!(fs::read(m.join("a.json")).unwrap(), b"{\"v\": 1}");
    assert_eq!(fs::read(src.path().join("a.json")).unwrap(), b"{\"v\": 1}");
    // Rewriting in place truncates (open with O_TRUNC).
    fs::write(m.join("a.json"), b"{}").unwrap();
    assert_eq!(fs::read(m.join("a.json")).unwrap(), b"{}");
    fs::write(m.join("a.json"), b"{\"v\": 1}").unwrap();

    // Atomic replace of an existing file; the inode travels with the rename.
    let before = fs::metadata(m.join("a.json")).unwrap().ino();
    let tmp_ino = atomic_write(&m.join("a.json"), b"{\"v\": 2}");
    assert_ne!(tmp_ino, before);
    assert_eq!(fs::metadata(m.join("a.json")).unwrap().ino(), tmp_ino);
    assert_eq!(fs::read(m.join("a.json")).unwrap(), b"{\"v\": 2}");
    assert_eq!(fs::read(src.path().join("a.json")).unwrap(), b"{\"v\": 2}");
    assert_eq!(names(m), vec!["a.json"]);

    // Directories: create, fill, rename (the files inside follow), list, remove.
    fs::create_dir_all(m.join("hosts/h1")).unwrap();
    atomic_write(&m.join("hosts/h1/host.json"), b"h1");
    let dir_ino = fs::metadata(m.join("hosts/h1")).unwrap().ino();
    let file_ino = fs::metadata(m.join("hosts/h1/host.json")).unwrap().ino();
    fs::rename(m.join("hosts/h1"), m.join("hosts/h2")).unwrap();
    assert_eq!(fs::metadata(m.join("hosts/h2")).unwrap().ino(), dir_ino);
    assert_eq!(
        fs::metadata(m.join("hosts/h2/host.json")).unwrap().ino(),
        file_ino
    );
    assert_eq!(fs::read(m.join("hosts/h2/host.json")).unwrap(), b"h1");
    assert!(!m.join("hosts/h1").exists());
    assert_eq!(names(&m.join("hosts")), vec!["h2"]);
    assert_eq!(names(&src.path().join("hosts/h2")), vec!["host.json"]);
    // readdir reports the same inode numbers as stat.
    let listed = fs::read_dir(m.join("hosts/h2"))
        .unwrap()
        .map(|e| std::os::unix::fs::DirEntryExt::ino(&e.unwrap()))
        .collect::<Vec<_>>();
    assert_eq!(listed, vec![file_ino]);

    // chmod, truncate, utimens.
    let file = m.join("hosts/h2/host.json");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o7777, 0o640);
    let in_source = src.path().join("hosts/h2/host.json");
    assert_eq!(fs::metadata(&in_source).unwrap().mode() & 0o7777, 0o640);
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1)
        .unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"h");
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), when);
    assert_eq!(fs::metadata(&in_source).unwrap().modified().unwrap(), when);

    // Appending (the event log) and a file larger than one request.
    let log = m.join("events.jsonl");
    for i in 0..3 {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        writeln!(f, "{{\"n\": {i}}}").unwrap();
    }
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "{\"n\": 0}\n{\"n\": 1}\n{\"n\": 2}\n"
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(m.join("big"), &big).unwrap();
    let mut back = Vec::new();
    File::open(m.join("big"))
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == big, "a large file reads back as written");

    // Symlinks and hard links.
    std::os::unix::fs::symlink("a.json", m.join("link")).unwrap();
    assert_eq!(fs::read_link(m.join("link")).unwrap(), Path::new("a.json"));
    assert_eq!(fs::read(m.join("link")).unwrap(), b"{\"v\": 2}");
    fs::hard_link(m.join("a.json"), m.join("hard")).unwrap();
    assert_eq!(fs::metadata(m.join("hard")).unwrap().nlink(), 2);

    // Exclusive create fails on an existing file.
    assert_eq!(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(m.join("a.json"))
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::AlreadyExists
    );

    // unlink, rmdir.
    for name in ["link", "hard", "big", "events.jsonl", "hosts/h2/host.json"] {
        fs::remove_file(m.join(name)).unwrap();
    }
    fs::remove_dir(m.join("hosts/h2")).unwrap();
    fs::remove_dir(m.join("hosts")).unwrap();
    assert_eq!(names(m), vec!["a.json"]);
    assert_eq!(names(src.path()), vec!["a.json"]);
    assert_eq!(
        fs::read_dir(m.join("missing")).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn flock_excludes_between_processes_on_the_mount() {
    let src = source();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let lock = mount.path().join("alive.lock");
    let held = File::create(&lock).unwrap();
    held.lock().unwrap();

    // Another process cannot take it...
    let other = Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "7"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(other.code(), Some(7), "flock -n on a held lock");
    // ...nor another open file description in this process.
    let second = File::open(&lock).unwrap();
    assert!(matches!(
        second.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));

    // A waiting locker gets it once it is released.
    let mut waiter = Command::new("flock")
        .arg(&lock)
        .arg("true")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(BLOCKED);
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "flock waits while the lock is held"
    );
    held.unlock().unwrap();
    let deadline = std::time::Instant::now() + RELEASED;
    let status = loop {
        if let Some(status) = waiter.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "flock got the released lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    second.try_lock().unwrap();
    second.unlock().unwrap();

    // The kernel keeps these locks on the mount: they do not reach the source directory.
    held.lock().unwrap();
    let through_source = Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "7"])
        .arg(src.path().join("alive.lock"))
        .arg("true")
        .status()
        .unwrap();
    assert!(through_source.success(), "locks are local to the mount");
}

#[test]
fn freeze_blocks_every_request_until_thaw() {
    let src = source();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let file = mount.path().join("service.json");
    fs::write(&file, b"{}").unwrap();
    let open = File::open(&file).unwrap();

    for round in 0..2 {
        mount.freeze();
        let (tx, rx) = mpsc::channel();
        {
            let (tx, file) = (tx.clone(), file.clone());
            std::thread::spawn(move || tx.send(("stat", fs::metadata(&file).map(|m| m.len()))));
        }
        {
            let (tx, dir) = (tx.clone(), mount.path().to_path_buf());
            std::thread::spawn(move || {
                tx.send(("write", fs::write(dir.join("new.json"), b"{}").map(|()| 0)))
            });
        }
        assert!(
            rx.recv_timeout(BLOCKED).is_err(),
            "round {round}: a call on a frozen mount was answered"
        );
        // Locks on a descriptor that is already open are the kernel's: they do not wait.
        open.try_lock().unwrap();
        open.unlock().unwrap();

        mount.thaw();
        let mut done: Vec<_> = (0..2)
            .map(|_| {
                let (what, result) = rx
                    .recv_timeout(RELEASED)
                    .expect("a call released by the thaw finishes");
                (what, result.unwrap())
            })
            .collect();
        done.sort();
        assert_eq!(done, vec![("stat", 2), ("write", 0)]);
        assert_eq!(fs::read(mount.path().join("new.json")).unwrap(), b"{}");
        fs::remove_file(mount.path().join("new.json")).unwrap();
    }
}

#[test]
fn drop_unmounts_and_ends_the_process() {
    let src = source();
    fs::write(src.path().join("keep"), b"kept").unwrap();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let path = mount.path().to_path_buf();
    let pid = mount.pid();
    assert!(is_mounted(&path));
    assert_eq!(fs::read(path.join("keep")).unwrap(), b"kept");
    drop(mount);
    assert!(!is_mounted(&path), "{} still mounted", path.display());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "freezefs ended"
    );
    assert!(!path.exists(), "the mountpoint is removed");
    assert_eq!(fs::read(src.path().join("keep")).unwrap(), b"kept");
}

#[test]
fn drop_while_frozen_releases_the_waiting_calls() {
    let src = source();
    fs::write(src.path().join("keep"), b"kept").unwrap();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let path = mount.path().to_path_buf();
    mount.freeze();
    let (tx, rx) = mpsc::channel();
    let file = path.join("keep");
    std::thread::spawn(move || tx.send(fs::read(&file)));
    assert!(rx.recv_timeout(BLOCKED).is_err(), "the read waits");
    drop(mount);
    let read = rx.recv_timeout(RELEASED).expect("the read is released");
    assert_eq!(read.unwrap(), b"kept", "the thaw answers before unmounting");
    assert!(!is_mounted(&path));
    assert_eq!(fs::read(src.path().join("keep")).unwrap(), b"kept");
}

#[test]
fn drop_with_a_file_open_detaches_the_mount() {
    let src = source();
    fs::write(src.path().join("keep"), b"kept").unwrap();
    let Some(mount) = FrozenMount::new(src.path()) else {
        return;
    };
    let path = mount.path().to_path_buf();
    let mut open = File::open(path.join("keep")).unwrap();
    drop(mount);
    assert!(!is_mounted(&path));
    let mut buf = Vec::new();
    assert!(
        open.read_to_end(&mut buf).is_err(),
        "a file left open on a detached mount fails instead of hanging"
    );
    assert_eq!(fs::read(src.path().join("keep")).unwrap(), b"kept");
}

#[test]
fn closing_stdin_unmounts_when_asked_to() {
    let src = source();
    let Some(probe) = FrozenMount::new(src.path()) else {
        return;
    };
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_freezefs"))
        .arg("--until-stdin-closes")
        .arg(src.path())
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "mounted\n");
    assert!(is_mounted(&path));
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!is_mounted(&path));
}

#[test]
fn usage_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_freezefs"))
        .arg("only-one")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: freezefs"));
}
