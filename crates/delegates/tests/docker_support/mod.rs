//! A private dockerd for the docker delegate's tests.
//!
//! One dockerd per test process, and one at a time per machine:
//! - every dockerd shares the host's network namespace: its default bridge `docker0`
//!   (172.17.0.0/16) and the userland proxies of published ports are machine-wide, so two
//!   engines would hand out the same container addresses on one bridge. A file lock
//!   ([`LOCK_FILE`]) serializes the engines; the tests of one process (`cargo test`) share
//!   theirs, and under nextest (a process per test) each test starts its own after waiting
//!   for the lock. A dockerd starts in a fraction of a second (see the `dockerd answered`
//!   line on stderr), so the serialization costs little.
//! - the engine's socket, data root, exec root and pidfile live in
//!   /tmp/khutulun-dockerd-<pid>; the engine is stopped (SIGTERM, wait) and the directory
//!   removed when the process exits (an `atexit` hook drops the [`TestDockerd`]: statics are
//!   never dropped). If the test process is killed instead, dockerd gets SIGTERM from the
//!   kernel (PR_SET_PDEATHSIG) and the next run removes the directory.
//!
//! Flags, and why:
//! - `--iptables=false`: published ports still work through docker-proxy (the userland
//!   proxy listens on the host port and forwards to the container's bridge address, which
//!   is all the tests need), and the engine leaves the machine's iptables alone: no DOCKER
//!   chains or NAT rules outliving the test engine on a machine where podman's CNI rules
//!   live too. Containers get no outbound NAT, which no test needs.
//! - `--storage-driver overlay2`, else `vfs` when the kernel or the file system of /tmp
//!   refuses overlay mounts.
//! - `--default-ulimit nofile=1048576:1048576`: a daemon default above this sandbox's hard
//!   limit (as many daemon.json files set), so that every test proves the delegate's own
//!   per-container ulimits: without them runc fails here ("error setting rlimit type 7:
//!   operation not permitted", the process lacks CAP_SYS_RESOURCE).

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const LOCK_FILE: &str = "/tmp/khutulun-test-dockerd.lock";
pub const IMAGE: &str = "khutulun-test-busybox:1";
const ROOT_PREFIX: &str = "khutulun-dockerd-";

/// What the tests need to know about the engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub socket: PathBuf,
    pub storage_driver: &'static str,
    pub startup: Duration,
}

impl Engine {
    /// Runs the docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI")
    }

    /// The names of all containers (running or not) called `name`.
    pub fn containers_named(&self, name: &str) -> Vec<String> {
        let out = self.docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name=^/{name}$"),
            "--format",
            "{{.Names}}",
        ]);
        assert!(out.status.success(), "docker ps: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// The running engine; dropping it stops it and removes its directory.
pub struct TestDockerd {
    root: PathBuf,
    child: Child,
    _lock: File,
}

static ENGINE: OnceLock<Engine> = OnceLock::new();
static RUNNING: Mutex<Option<TestDockerd>> = Mutex::new(None);

/// The shared engine of this test process, started on first use.
pub fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| {
        let (dockerd, engine) = TestDockerd::start();
        *RUNNING.lock().unwrap() = Some(dockerd);
        // SAFETY: registering a plain function; it runs once at process exit.
        unsafe {
            libc::atexit(stop_at_exit);
        }
        import_test_image(&engine);
        engine
    })
}

extern "C" fn stop_at_exit() {
    if let Ok(mut running) = RUNNING.lock() {
        drop(running.take());
    }
}

impl TestDockerd {
    fn start() -> (TestDockerd, Engine) {
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_FILE)
            .expect("open the dockerd lock file");
        // SAFETY: flock on an open descriptor.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            eprintln!("waiting for another test process's dockerd ({LOCK_FILE})");
            let waited = Instant::now();
            // SAFETY: as above, blocking.
            let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            assert_eq!(rc, 0, "flock {LOCK_FILE}");
            eprintln!("got the dockerd lock after {:?}", waited.elapsed());
        }
        // With the lock held no other test engine runs: whatever is left is stale.
        remove_stale_roots();
        let root = std::env::temp_dir().join(format!("{ROOT_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let socket = root.join("docker.sock");
        let mut failures = Vec::new();
        for driver in ["overlay2", "vfs"] {
            let begun = Instant::now();
            let mut child = spawn_dockerd(&root, &socket, driver);
            match wait_for_ping(&socket, &mut child, Duration::from_secs(60)) {
                Ok(()) => {
                    let startup = begun.elapsed();
                    eprintln!(
                        "dockerd answered at {} after {startup:?} (storage driver {driver})",
                        socket.display()
                    );
                    let engine = Engine {
                        socket,
                        storage_driver: driver,
                        startup,
                    };
                    return (
                        TestDockerd {
                            root,
                            child,
                            _lock: lock,
                        },
                        engine,
                    );
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    failures.push(format!(
                        "{driver}: {why}\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ));
                    unmount_under(&root);
                    for dir in ["data", "exec"] {
                        let _ = std::fs::remove_dir_all(root.join(dir));
                    }
                }
            }
        }
        panic!("dockerd did not start:\n{}", failures.join("\n\n"));
    }
}

impl Drop for TestDockerd {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        unmount_under(&self.root);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn spawn_dockerd(root: &Path, socket: &Path, driver: &str) -> Child {
    let log = File::create(root.join("dockerd.log")).unwrap();
    let mut command = Command::new("dockerd");
    command
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("--pidfile")
        .arg(root.join("docker.pid"))
        .args(["--storage-driver", driver])
        .arg("--iptables=false")
        .args(["--default-ulimit", "nofile=1048576:1048576"])
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    // SAFETY: prctl only, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // PR_SET_PDEATHSIG fires when the THREAD that forked dies: fork from a thread that
    // lives as long as the process, not from a test's thread.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("dockerd-parent".into())
        .spawn(move || {
            sender.send(command.spawn()).unwrap();
            loop {
                std::thread::park();
            }
        })
        .unwrap();
    receiver
        .recv()
        .unwrap()
        .expect("start dockerd (is docker.io installed?)")
}

/// GET /_ping over the socket until it answers OK, dockerd exits, or the deadline passes.
/// (Polling is fine here: test setup, not the delegate.)
fn wait_for_ping(socket: &Path, child: &mut Child, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if ping(socket) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("dockerd exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no answer within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// Stops and removes what killed test processes left: their dockerd (if it outlived them)
/// and their directory.
fn remove_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with(ROOT_PREFIX) {
            continue;
        }
        let root = entry.path();
        if let Some(pid) = std::fs::read_to_string(root.join("docker.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "dockerd" {
                eprintln!(
                    "stopping a stale test dockerd (pid {pid}) in {}",
                    root.display()
                );
                // SAFETY: signalling a stale dockerd of an earlier test run.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline
                    && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map(|s| !s.contains(") Z "))
                        .unwrap_or(false)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        unmount_under(&root);
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Detaches whatever is still mounted under `root` (overlay layers, shm, netns files of a
/// dockerd that was killed), deepest first.
fn unmount_under(root: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for point in points {
        if let Ok(c) = std::ffi::CString::new(point.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid C string.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Imports a busybox root file system as [`IMAGE`]: no registry involved.
fn import_test_image(engine: &Engine) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("a static busybox (apt-get install -y busybox-static)");
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("rootfs.tar");
    {
        let mut tar = tar::Builder::new(File::create(&tarball).unwrap());
        for directory in ["bin", "tmp", "www"] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(if directory == "tmp" { 0o1777 } else { 0o755 });
            header.set_size(0);
            tar.append_data(&mut header, directory, std::io::empty())
                .unwrap();
        }
        tar.append_path_with_name(busybox, "bin/busybox").unwrap();
        for applet in ["sh", "httpd", "echo", "cat", "sleep", "wget", "ls", "env"] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            tar.append_link(&mut header, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
        tar.into_inner().unwrap().flush().unwrap();
    }
    let begun = Instant::now();
    let out = engine.docker(&["import", tarball.to_str().unwrap(), IMAGE]);
    assert!(out.status.success(), "docker import: {out:?}");
    eprintln!("imported {IMAGE} in {:?}", begun.elapsed());
}
