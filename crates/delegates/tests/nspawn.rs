//! The nspawn delegate against the real systemd-nspawn (as root). Every test builds its own
//! root from the static busybox (nspawn locks a root directory while a container runs from
//! it), uses unique machine names so the tests run in parallel, and kills what it started
//! even when it fails.

use khutulun_delegates::nspawn::NspawnDelegate;
use khutulun_delegates::proc_stat;
use khutulun_delegates::{
    Delegate, DelegateError, Exit, Mount, RootSource, Running, SystemContainerSpec, WorkloadSpec,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn delegate() -> Arc<NspawnDelegate> {
    Arc::new(NspawnDelegate::detect().expect("systemd-nspawn is usable here (root, installed)"))
}

fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "kt-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A root made of the static busybox and its applets, with the os-release nspawn wants.
fn make_root(root: &Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox is not installed; scripts/setup installs busybox-static");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "httpd", "echo", "cat", "sleep", "wget", "ls", "env", "pwd",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("usr/lib/os-release"), "ID=khutulun-test\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=khutulun-test\n").unwrap();
}

/// A temporary directory with a busybox root in `root/` and room for logs and state.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Drop for Sandbox {
    /// nspawn leaves its lock file for a root behind when it is killed.
    fn drop(&mut self) {
        for root in [self.root(), self.path().join("state/rootfs")] {
            if let Ok(meta) = std::fs::metadata(&root) {
                let _ = std::fs::remove_file(format!(
                    "/run/systemd/nspawn/locks/inode-{}:{}",
                    meta.dev(),
                    meta.ino()
                ));
            }
        }
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        make_root(&dir.path().join("root"));
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.path().join("root")
    }

    fn logs(&self) -> PathBuf {
        self.path().join("logs")
    }

    fn spec(&self, name: &str, command: &[&str]) -> SystemContainerSpec {
        SystemContainerSpec {
            name: name.into(),
            root: RootSource::Directory(self.root()),
            command: command.iter().map(|s| s.to_string()).collect(),
            environment: BTreeMap::from([("GREETING".into(), "hello".into())]),
            mounts: Vec::new(),
            state_directory: self.path().join("state"),
            log_directory: self.logs(),
        }
    }
}

/// Kills what a test started (the nspawn process and the container's leader) when it ends,
/// whether it passed or not.
#[derive(Default)]
struct Cleanup(Arc<Mutex<Vec<Running>>>);

impl Cleanup {
    fn track(&self, running: &Running) {
        self.0.lock().unwrap().push(running.clone());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for running in self.0.lock().unwrap().iter() {
            let leader = (
                running.handle.get("leader_pid").and_then(|v| v.as_u64()),
                running
                    .handle
                    .get("leader_start_time")
                    .and_then(|v| v.as_u64()),
            );
            for (pid, start) in [(running.pid.map(u64::from), running.pid_start_time), leader] {
                if let (Some(pid), Some(start)) = (pid, start) {
                    if proc_stat::start_time(pid as u32) == Some(start) {
                        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                            let _ =
                                rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                        }
                    }
                }
            }
        }
    }
}

async fn start(d: &NspawnDelegate, cleanup: &Cleanup, spec: SystemContainerSpec) -> Running {
    let running = d
        .start(&WorkloadSpec::SystemContainer(spec))
        .await
        .expect("the system container starts");
    cleanup.track(&running);
    running
}

fn spawn_wait(d: &Arc<NspawnDelegate>, running: &Running) -> tokio::task::JoinHandle<Exit> {
    let d = d.clone();
    let running = running.clone();
    tokio::spawn(async move { d.wait(&running).await })
}

async fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn http_get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Live processes whose root is `root` (the same os-release file seen through their root)
/// or whose command line holds `marker`.
fn container_processes(root: &Path, marker: &str) -> Vec<u32> {
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let ours = id(&root.join("usr/lib/os-release")).expect("the root has an os-release");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            let in_root = id(&PathBuf::from(format!(
                "/proc/{pid}/root/usr/lib/os-release"
            ))) == Some(ours);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let marked = !marker.is_empty()
                && String::from_utf8_lossy(&cmdline).contains(marker)
                && !String::from_utf8_lossy(&cmdline).contains("systemd-nspawn");
            (in_root || marked) && proc_stat::start_time(*pid).is_some()
        })
        .collect()
}

#[tokio::test]
async fn serves_http_from_a_root_directory_with_a_read_only_bind_and_logs_its_output() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let www = sandbox.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from nspawn\n").unwrap();
    let port = free_port();
    let script = format!("echo out $GREETING; echo err >&2; exec httpd -f -p {port} -h /www");
    let mut spec = sandbox.spec(&unique("web"), &["sh", "-c", &script]);
    spec.mounts.push(Mount {
        source: www.clone(),
        target: "/www".into(),
        read_only: true,
    });
    let machine = spec.name.clone();
    let running = start(&d, &cleanup, spec).await;
    assert_eq!(
        running.handle.get("machine").and_then(|v| v.as_str()),
        Some(machine.as_str())
    );
    let leader = running.handle["leader_pid"].as_u64().unwrap() as u32;
    assert_ne!(Some(leader), running.pid);
    assert!(d.is_alive(&running).await);

    let response = eventually("the container's httpd", Duration::from_secs(20), || {
        http_get(port).filter(|r| r.contains("hello from nspawn"))
    })
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        container_processes(&sandbox.root(), "").contains(&leader),
        "the leader {leader} runs in the root"
    );
    // The bind is read-only inside.
    let plan = d
        .exec_plan(
            &running,
            &["sh".into(), "-c".into(), "echo x > /www/new".into()],
            false,
        )
        .unwrap();
    let status = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.environment.unwrap())
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert!(!www.join("new").exists());

    eventually("the output in the logs", Duration::from_secs(10), || {
        (read(&sandbox.logs().join("stdout.log")).contains("out hello")
            && read(&sandbox.logs().join("stderr.log")).contains("err"))
        .then_some(())
    })
    .await;
    assert_eq!(read(&sandbox.logs().join("stdout.log")), "out hello\n");

    let waiter = spawn_wait(&d, &running);
    d.stop(&running, Duration::from_secs(10)).await.unwrap();
    waiter.await.unwrap();
    assert!(http_get(port).is_none());
}

#[tokio::test]
async fn stop_ends_the_container_and_wait_resolves() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let marker = unique("stop-marker");
    let script = format!("echo started; sleep 1000 # {marker}");
    let running = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("stop"), &["sh", "-c", &script]),
    )
    .await;
    let waiter = spawn_wait(&d, &running);
    eventually("the container's processes", Duration::from_secs(10), || {
        (container_processes(&sandbox.root(), &marker).len() >= 2).then_some(())
    })
    .await;
    let began = Instant::now();
    d.stop(&running, Duration::from_secs(10)).await.unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "a polite stop took {:?}",
        began.elapsed()
    );
    let exit = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves after stop")
        .unwrap();
    assert!(exit.code.is_some() || exit.signal.is_some(), "{exit:?}");
    assert!(!d.is_alive(&running).await);
    assert_eq!(
        container_processes(&sandbox.root(), &marker),
        Vec::<u32>::new()
    );
    // Stopping again is no error.
    d.stop(&running, Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn stop_escalates_to_sigkill_when_the_container_ignores_sigterm() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let marker = unique("stubborn");
    let script = format!("trap '' TERM HUP; echo ready; while :; do sleep 1; done # {marker}");
    let running = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("stubborn"), &["sh", "-c", &script]),
    )
    .await;
    let waiter = spawn_wait(&d, &running);
    eventually("the trap to be set", Duration::from_secs(10), || {
        read(&sandbox.logs().join("stdout.log"))
            .contains("ready")
            .then_some(())
    })
    .await;
    d.stop(&running, Duration::from_millis(500)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves")
        .unwrap();
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert_eq!(
        container_processes(&sandbox.root(), &marker),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn an_outside_sigkill_of_nspawn_resolves_wait_and_leaves_no_process() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let marker = unique("orphan-marker");
    let script = format!("sleep 1000 # {marker}");
    let running = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("killed"), &["sh", "-c", &script]),
    )
    .await;
    let waiter = spawn_wait(&d, &running);
    eventually("the container's processes", Duration::from_secs(10), || {
        (container_processes(&sandbox.root(), &marker).len() >= 2).then_some(())
    })
    .await;
    let nspawn = rustix::process::Pid::from_raw(running.pid.unwrap() as i32).unwrap();
    rustix::process::kill_process(nspawn, rustix::process::Signal::KILL).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves after SIGKILL")
        .unwrap();
    assert_eq!(
        exit,
        Exit {
            code: None,
            signal: Some(9)
        }
    );
    assert!(!d.is_alive(&running).await);
    assert_eq!(
        container_processes(&sandbox.root(), &marker),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn a_tarball_root_is_unpacked_once_and_removed_with_the_service() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let tarball = sandbox.path().join("root.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(sandbox.root())
        .arg("-czf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let mut spec = sandbox.spec(
        &unique("tarball"),
        &[
            "sh",
            "-c",
            "echo from-tarball; cat /etc/os-release; cat /kept 2>/dev/null || true",
        ],
    );
    spec.root = RootSource::Tarball(tarball.clone());
    spec.state_directory = sandbox.path().join("state");
    let unpacked = spec.state_directory.join("rootfs");
    let workload = WorkloadSpec::SystemContainer(spec.clone());
    d.check(&workload).unwrap();

    let running = start(&d, &cleanup, spec.clone()).await;
    assert_eq!(d.wait(&running).await.code, Some(0));
    assert!(unpacked.join("bin/busybox").is_file());
    let out = read(&sandbox.logs().join("stdout.log"));
    assert!(out.contains("from-tarball\nID=khutulun-test"), "{out}");

    // A second start uses the unpacked root as it is.
    std::fs::write(unpacked.join("kept"), "still here\n").unwrap();
    let running = start(&d, &cleanup, spec.clone()).await;
    assert_eq!(d.wait(&running).await.code, Some(0));
    let out = read(&sandbox.logs().join("stdout.log"));
    assert!(out.ends_with("still here\n"), "{out}");

    d.remove(&workload).await.unwrap();
    assert!(!unpacked.exists());
    assert!(tarball.is_file(), "the tarball itself stays");
    // Removing twice is fine.
    d.remove(&workload).await.unwrap();
}

#[tokio::test]
async fn a_missing_or_unusable_root_fails_check_and_starts_nothing() {
    let d = delegate();
    let sandbox = Sandbox::new();
    let machine = unique("bad-root");
    let check = |spec: &SystemContainerSpec| d.check(&WorkloadSpec::SystemContainer(spec.clone()));

    let missing = sandbox.path().join("no-such-root");
    let mut spec = sandbox.spec(&machine, &["sh"]);
    spec.root = RootSource::Directory(missing.clone());
    let err = check(&spec).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = d
        .start(&WorkloadSpec::SystemContainer(spec.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, DelegateError::Invalid(_)), "{err}");

    let bare = sandbox.path().join("bare");
    std::fs::create_dir_all(bare.join("bin")).unwrap();
    spec.root = RootSource::Directory(bare.clone());
    let err = check(&spec).unwrap_err();
    assert!(
        err.to_string().contains(&bare.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("os-release"), "{err}");

    let file = sandbox.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    spec.root = RootSource::Directory(file.clone());
    let err = check(&spec).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");

    let tarball = sandbox.path().join("missing.tar.gz");
    spec.root = RootSource::Tarball(tarball.clone());
    let err = check(&spec).unwrap_err();
    assert!(
        err.to_string().contains(&tarball.display().to_string()),
        "{err}"
    );
    let err = d
        .start(&WorkloadSpec::SystemContainer(spec.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    // A program the root does not have, and no init to boot.
    let mut spec = sandbox.spec(&machine, &["no-such-program"]);
    let err = check(&spec).unwrap_err();
    assert!(err.to_string().contains("no-such-program"), "{err}");
    spec.command.clear();
    let err = check(&spec).unwrap_err();
    assert!(err.to_string().contains("init"), "{err}");

    assert!(!sandbox.logs().exists(), "nothing started, no logs");
    assert!(!sandbox.path().join("state").exists());
    let started = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default())
                .contains(&machine)
        });
    assert!(!started, "no systemd-nspawn for {machine} runs");
}

#[tokio::test]
async fn a_fresh_delegate_knows_a_running_container() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let running = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("adopt"), &["sh", "-c", "sleep 1000"]),
    )
    .await;
    // As a restarted agent reads it back from the instance record.
    let record: Running = serde_json::from_str(&serde_json::to_string(&running).unwrap()).unwrap();
    let fresh = delegate();
    assert!(fresh.is_alive(&record).await);
    let mut reused = record.clone();
    reused.pid_start_time = reused.pid_start_time.map(|t| t + 1);
    assert!(!fresh.is_alive(&reused).await);
    let plan = fresh
        .exec_plan(
            &record,
            &["cat".into(), "/proc/sys/kernel/hostname".into()],
            false,
        )
        .unwrap();
    let out = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.environment.unwrap())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        record.handle["machine"].as_str().unwrap()
    );
    fresh.stop(&record, Duration::from_secs(10)).await.unwrap();
    assert!(!fresh.is_alive(&record).await);
    assert!(!d.is_alive(&running).await);
}

#[tokio::test]
async fn exec_plans_run_commands_inside_the_container() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let running = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("exec"), &["sh", "-c", "sleep 1000"]),
    )
    .await;
    let run = |running: &Running, command: &[&str]| {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let plan = d.exec_plan(running, &command, false).unwrap();
        let mut cmd = Command::new(&plan.argv[0]);
        cmd.args(&plan.argv[1..]);
        if let Some(env) = plan.environment {
            cmd.env_clear().envs(env);
        }
        cmd.output().unwrap()
    };

    let out = run(&running, &["cat", "/etc/os-release"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ID=khutulun-test\n");

    let out = run(&running, &["sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));

    // In the container's root and PID namespace, at its top directory.
    let out = run(&running, &["sh", "-c", "pwd; cd ..; ls /; echo $$"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"/"), "{text}");
    assert!(lines.contains(&"bin") && !lines.contains(&"home"), "{text}");
    let inner_pid: u32 = lines.last().unwrap().parse().unwrap();
    assert!(
        inner_pid < 100,
        "a pid of the container's namespace: {text}"
    );

    // Without a recorded leader, the plan finds it under nspawn.
    let mut bare = running.clone();
    bare.handle.remove("leader_pid");
    bare.handle.remove("leader_start_time");
    let out = run(&bare, &["cat", "/etc/os-release"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ID=khutulun-test\n");

    d.stop(&running, Duration::from_secs(10)).await.unwrap();
    let err = d.exec_plan(&running, &["true".into()], false).unwrap_err();
    assert!(err.to_string().contains("is not running"), "{err}");
}

#[tokio::test]
async fn without_a_command_the_root_boots_its_init() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let marker = unique("booted");
    std::fs::create_dir_all(sandbox.root().join("sbin")).unwrap();
    std::os::unix::fs::symlink("../bin/busybox", sandbox.root().join("sbin/init")).unwrap();
    std::fs::write(
        sandbox.root().join("etc/inittab"),
        format!("::sysinit:/bin/echo booted\n::respawn:/bin/sh -c 'sleep 1000; echo {marker}'\n"),
    )
    .unwrap();
    let running = start(&d, &cleanup, sandbox.spec(&unique("boot"), &[])).await;
    let waiter = spawn_wait(&d, &running);
    eventually("init's services", Duration::from_secs(10), || {
        (read(&sandbox.logs().join("stdout.log")).contains("booted")
            && container_processes(&sandbox.root(), &marker).len() >= 2)
            .then_some(())
    })
    .await;
    let leader = running.handle["leader_pid"].as_u64().unwrap();
    assert_eq!(
        read(Path::new(&format!("/proc/{leader}/comm"))).trim(),
        "init"
    );
    // busybox init ignores SIGRTMIN+3 (systemd's halt), so the stop ends in SIGKILL.
    d.stop(&running, Duration::from_millis(500)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves")
        .unwrap();
    assert_eq!(
        container_processes(&sandbox.root(), &marker),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn a_root_in_use_fails_through_wait_with_the_reason_in_the_log() {
    let d = delegate();
    let cleanup = Cleanup::default();
    let sandbox = Sandbox::new();
    let first = start(
        &d,
        &cleanup,
        sandbox.spec(&unique("holder"), &["sh", "-c", "sleep 1000"]),
    )
    .await;
    let mut spec = sandbox.spec(&unique("second"), &["sh", "-c", "sleep 1000"]);
    spec.log_directory = sandbox.path().join("second-logs");
    let began = Instant::now();
    let second = start(&d, &cleanup, spec).await;
    assert!(began.elapsed() < Duration::from_secs(10));
    assert!(!second.handle.contains_key("leader_pid"), "{second:?}");
    let exit = d.wait(&second).await;
    assert!(!exit.success(), "{exit:?}");
    let log = read(&sandbox.path().join("second-logs/stderr.log"));
    assert!(log.contains("busy"), "{log}");
    assert!(d.is_alive(&first).await);
    d.stop(&first, Duration::from_secs(10)).await.unwrap();
}
