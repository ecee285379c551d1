//! A directory that stops answering on demand: `FrozenMount` mounts a passthrough of a
//! source directory with the `freezefs` binary (crate `crates/freezefs`, FUSE) and can freeze
//! it, so every filesystem call on the mount waits, as on a stalled NFS server, until it is
//! thawed. Needs root and FUSE (`/dev/fuse`); without them `new` prints why and returns None.
//!
//! ```ignore
//! let Some(mount) = FrozenMount::new(source.path()) else { return };
//! // ... put the agent's state directory at mount.path() ...
//! mount.freeze(); // from here every request on the mount waits
//! mount.thaw();   // and now they are all answered
//! ```
//!
//! The binary: `target/<profile>/freezefs` beside the test binary's `deps/` directory
//! (`cargo nextest run --workspace`, as scripts/test runs it, builds every workspace binary;
//! alone: `cargo build -p khutulun-freezefs`), or `$FREEZEFS_BIN`.
//!
//! What a frozen mount does and does not block:
//! - Blocks: every call that needs the filesystem: open, stat, read, write, close (flush),
//!   fsync, rename, readdir, ... (attributes and entries are never cached, files are opened
//!   with direct I/O). The waiting thread is killable (SIGKILL) but not interruptible by
//!   other signals while frozen.
//! - Does not block: `flock(2)`/`fcntl` locks on a descriptor that is already open: the
//!   kernel keeps them locally on the mount (so they exclude each other between processes
//!   that use the same mount, but not against the source directory or another mount).
//!
//! Drop thaws, unmounts (the process waits up to 3 s for the requests the thaw released,
//! then detaches a still-busy mount; `umount -l` here as a last resort) and ends the process.
//! Stop processes that keep files open on the mount (an agent) before dropping it, or they
//! get ENOTCONN. The process also unmounts and exits when this test process dies without
//! Drop (its stdin is a pipe from here: `--until-stdin-closes`).
//!
//! While frozen, anything that walks into the mountpoint (a `find /tmp`, `df` of every
//! mount) waits too: the mountpoint is a private temporary directory for that reason.
//!
//! Self-contained (std, libc, tempfile) so it can be included with `#[path]` elsewhere.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long mounting, freezing and thawing may take before the test fails (generous: the
/// machine may be busy).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Drop waits for the process to unmount and exit before it kills it.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `freezefs` mount of a source directory on a private mountpoint.
pub struct FrozenMount {
    child: Child,
    /// The process's stdin: it unmounts and exits when this closes, so a test process that
    /// dies without running Drop (an abort) does not leave a frozen mount behind.
    _lifeline: ChildStdin,
    /// The process's stdout, line by line (read by a thread: `mounted`, `frozen`, ...).
    lines: Mutex<Receiver<String>>,
    /// The mountpoint; None once leaked (it was still mounted in Drop: removing it would
    /// remove the source's files through the mount).
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

/// Why FUSE mounts cannot be made here, if they cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("fuse"))
    {
        return Some("the kernel has no fuse filesystem (/proc/filesystems)".into());
    }
    None
}

/// The `freezefs` binary built with this test binary.
pub fn freezefs_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FREEZEFS_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("freezefs");
    assert!(
        bin.is_file(),
        "{} does not exist: build it with `cargo build -p khutulun-freezefs` \
         (`cargo nextest run --workspace` builds it), or set FREEZEFS_BIN",
        bin.display()
    );
    bin
}

/// Whether `path` is a mountpoint now (per /proc/self/mounts, octal escapes undone).
pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let wanted = path.to_string_lossy();
    mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .any(|field| unescape_mount_field(field) == wanted)
}

fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap();
            out.push(u8::from_str_radix(octal, 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

impl FrozenMount {
    /// Mounts a passthrough of `source` (a directory) on a new private mountpoint and waits
    /// until it answers. None (with the reason printed) when this machine cannot mount FUSE
    /// filesystems (not root, no /dev/fuse); panics when it should be able to and the mount
    /// fails.
    pub fn new(source: &Path) -> Option<FrozenMount> {
        if let Some(reason) = unavailable() {
            eprintln!("FrozenMount: FUSE is unavailable ({reason}): skipping");
            return None;
        }
        let bin = freezefs_bin();
        let dir = tempfile::Builder::new()
            .prefix("freezefs-mnt-")
            .tempdir()
            .expect("mountpoint directory");
        let path = dir.path().canonicalize().expect("canonical mountpoint");
        let mut child = Command::new(&bin)
            .arg("--until-stdin-closes")
            .arg(source)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let lifeline = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut mount = FrozenMount {
            child,
            _lifeline: lifeline,
            lines: Mutex::new(rx),
            dir: Some(dir),
            path,
        };
        if let Err(e) = mount.expect_line("mounted") {
            let status = mount.child.try_wait().ok().flatten();
            panic!(
                "freezefs did not mount {} at {} ({e}; exit status {status:?}; its stderr is above)",
                source.display(),
                mount.path.display()
            );
        }
        Some(mount)
    }

    /// The mountpoint: the source directory's contents, through FUSE.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The freezefs process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the mount: returns once every later filesystem call on it waits (calls already
    /// being answered finish).
    pub fn freeze(&self) {
        signal(self.child.id(), libc::SIGUSR1);
        if let Err(e) = self.expect_line("frozen") {
            panic!("freezefs did not freeze: {e}");
        }
    }

    /// Thaws the mount: returns once every waiting and later call is being answered.
    pub fn thaw(&self) {
        signal(self.child.id(), libc::SIGUSR2);
        if let Err(e) = self.expect_line("thawed") {
            panic!("freezefs did not thaw: {e}");
        }
    }

    /// Waits for the next line of the process's stdout and checks it is `want`.
    fn expect_line(&self, want: &str) -> Result<(), String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        match lines.recv_timeout(STEP_TIMEOUT) {
            Ok(line) if line == want => Ok(()),
            Ok(line) => Err(format!("expected {want:?}, got {line:?}")),
            Err(RecvTimeoutError::Timeout) => Err(format!("no {want:?} within {STEP_TIMEOUT:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("the process closed stdout before {want:?}"))
            }
        }
    }
}

impl Drop for FrozenMount {
    fn drop(&mut self) {
        let pid = self.child.id();
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGTERM alone thaws too; the explicit thaw first costs nothing.
            signal(pid, libc::SIGUSR2);
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + EXIT_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                eprintln!("FrozenMount: freezefs (pid {pid}) did not exit: killing it");
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if is_mounted(&self.path) {
            eprintln!(
                "FrozenMount: {} still mounted: umount -l",
                self.path.display()
            );
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .stdout(Stdio::null())
                .status();
        }
        if is_mounted(&self.path) {
            // Removing the mountpoint would remove the source's files through the mount.
            eprintln!(
                "FrozenMount: {} is still mounted: leaving it",
                self.path.display()
            );
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}
