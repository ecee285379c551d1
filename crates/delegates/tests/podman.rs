//! The podman delegate against the real podman (rootful). The tests build their own tiny
//! image from busybox-static (no registry), use unique names so they run in parallel, and
//! remove what they created even when they fail.

use khutulun_delegates::podman::PodmanDelegate;
use khutulun_delegates::{
    ContainerSpec, Delegate, Exit, ImageSource, Mount, Network, PodSpec, PortMapping, Running,
    WorkloadSpec, INSTANCE_LABEL,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const TEST_IMAGE: &str = "localhost/khutulun-test-busybox:1";

fn delegate() -> PodmanDelegate {
    PodmanDelegate::detect().expect("podman is usable here")
}

/// Runs podman with the delegate's global flags.
fn podman(args: &[&str]) -> Output {
    let d = delegate();
    Command::new(d.program())
        .args(d.global_flags())
        .args(args)
        .output()
        .expect("podman runs")
}

fn podman_stdout(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `localhost/khutulun-test-busybox:1` from the static busybox once: a root with
/// bin/busybox and its applets as links, imported as an image. Parallel test processes
/// take turns through a lock file.
fn test_image() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("khutulun-test-busybox-image.lock"))
            .unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        if podman(&["image", "exists", TEST_IMAGE]).status.success() {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            .expect("busybox is not installed; scripts/setup installs busybox-static");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "httpd", "echo", "cat", "sleep", "wget", "nc", "ls", "env", "touch", "kill",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tar = dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success(), "tar failed");
        podman_stdout(&["import", tar.to_str().unwrap(), TEST_IMAGE]);
    });
    TEST_IMAGE
}

/// A name no other test (or test process) uses.
fn unique(what: &str) -> String {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "kt-{what}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Removes the test's containers, pods and images however the test ends.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    pods: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pod in &self.pods {
            podman(&["pod", "rm", "-f", "-t", "0", "--ignore", pod]);
        }
        for container in &self.containers {
            podman(&["rm", "-f", "-t", "0", "--ignore", container]);
        }
        for image in &self.images {
            podman(&["rmi", "-f", "--ignore", image]);
        }
    }
}

fn container(name: &str, command: &[&str], logs: &Path) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: test_image().into(),
        image_source: ImageSource::Local,
        entrypoint: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        environment: BTreeMap::from([("GREETING".into(), "hello".into())]),
        network: Network::Bridge,
        ports: Vec::new(),
        mounts: Vec::new(),
        labels: BTreeMap::from([(INSTANCE_LABEL.into(), format!("test/{name}"))]),
        log_directory: logs.to_owned(),
        pod: None,
    }
}

/// Waits on a background task, as the agent's supervisor does.
fn spawn_wait(d: &Arc<PodmanDelegate>, running: &Running) -> tokio::task::JoinHandle<Exit> {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The body of `GET /` on 127.0.0.1:`port`, if something answers.
fn http_get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}

fn web_root(dir: &Path) -> PathBuf {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from khutulun\n").unwrap();
    www
}

fn listed(args: &[&str]) -> Vec<String> {
    podman_stdout(args)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_published_port_from_a_read_only_mount_and_logs_its_output() {
    let d = Arc::new(delegate());
    let dir = tempfile::tempdir().unwrap();
    let name = unique("web");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let logs = dir.path().join("logs");
    let port = free_port();
    let mut spec = container(
        &name,
        &[
            "sh",
            "-c",
            "echo out $GREETING; echo err >&2; exec httpd -f -p 8080 -h /www",
        ],
        &logs,
    );
    spec.ports.push(PortMapping {
        endpoint: "http".into(),
        host_port: port,
        container_port: 8080,
    });
    spec.mounts.push(Mount {
        source: web_root(dir.path()),
        target: "/www".into(),
        read_only: true,
    });
    let spec = WorkloadSpec::Container(spec);
    d.check(&spec).unwrap();
    let running = d.start(&spec).await.unwrap();
    assert!(running.pid.is_some() && running.pid_start_time.is_some());
    assert_eq!(running.handle["container_name"], name.as_str());
    let waiter = spawn_wait(&d, &running);

    let body = eventually("the page", Duration::from_secs(20), || http_get(port)).await;
    assert_eq!(body, "hello from khutulun\n");
    let labelled = listed(&[
        "ps",
        "--filter",
        &format!("label={INSTANCE_LABEL}=test/{name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(labelled, vec![name.clone()]);
    let id = running.handle["container_id"].as_str().unwrap();
    assert_eq!(
        podman_stdout(&["inspect", "--format", "{{.Id}} {{.State.Pid}}", &name]).trim(),
        format!("{id} {}", running.pid.unwrap())
    );
    eventually("stdout.log", Duration::from_secs(10), || {
        (read(&logs.join("stdout.log")) == "out hello\n").then_some(())
    })
    .await;
    eventually("stderr.log", Duration::from_secs(10), || {
        (read(&logs.join("stderr.log")) == "err\n").then_some(())
    })
    .await;
    // The mount is read-only.
    let plan = d
        .exec_plan(&running, &["touch".into(), "/www/new".into()], false)
        .unwrap();
    let out = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .output()
        .unwrap();
    assert!(!out.status.success(), "wrote into a read-only mount");

    d.stop(&running, Duration::from_secs(1)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("wait resolves after stop")
        .unwrap();
    // httpd is PID 1 and ignores SIGTERM: killed after the grace time.
    assert_eq!(
        exit,
        Exit {
            code: None,
            signal: Some(9)
        }
    );
    assert!(!d.is_alive(&running).await);
    d.remove(&spec).await.unwrap();
    // Nothing was copied twice.
    assert_eq!(read(&logs.join("stdout.log")), "out hello\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_sees_a_kill_from_outside_a_stop_and_an_exit() {
    let d = Arc::new(delegate());
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup::default();

    // Killed from outside.
    let killed = unique("killed");
    cleanup.containers.push(killed.clone());
    let spec = WorkloadSpec::Container(container(&killed, &["sleep", "1000"], dir.path()));
    let running = d.start(&spec).await.unwrap();
    let waiter = spawn_wait(&d, &running);
    tokio::time::sleep(Duration::from_millis(300)).await;
    podman_stdout(&["kill", &killed]);
    let exit = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("wait resolves after podman kill")
        .unwrap();
    assert_eq!(
        exit,
        Exit {
            code: None,
            signal: Some(9)
        }
    );
    d.remove(&spec).await.unwrap();

    // Stopped: the program handles SIGTERM and says goodbye, which still reaches its log.
    let stopped = unique("stopped");
    cleanup.containers.push(stopped.clone());
    let logs = dir.path().join("stopped");
    let spec = WorkloadSpec::Container(container(
        &stopped,
        &[
            "sh",
            "-c",
            "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 1; done",
        ],
        &logs,
    ));
    let running = d.start(&spec).await.unwrap();
    let waiter = spawn_wait(&d, &running);
    eventually("ready", Duration::from_secs(10), || {
        (read(&logs.join("stdout.log")) == "ready\n").then_some(())
    })
    .await;
    d.stop(&running, Duration::from_secs(10)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("wait resolves after stop")
        .unwrap();
    assert_eq!(
        exit,
        Exit {
            code: Some(7),
            signal: None
        }
    );
    assert_eq!(read(&logs.join("stdout.log")), "ready\nbye\n");
    // Stopping again is fine.
    d.stop(&running, Duration::from_secs(1)).await.unwrap();
    d.remove(&spec).await.unwrap();

    // Ends by itself, possibly before anyone waits.
    let quick = unique("quick");
    cleanup.containers.push(quick.clone());
    let logs = dir.path().join("quick");
    let spec =
        WorkloadSpec::Container(container(&quick, &["sh", "-c", "echo done; exit 3"], &logs));
    let running = d.start(&spec).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), d.wait(&running))
        .await
        .expect("wait resolves for an ended container");
    assert_eq!(
        exit,
        Exit {
            code: Some(3),
            signal: None
        }
    );
    assert_eq!(read(&logs.join("stdout.log")), "done\n");
    d.remove(&spec).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_delegate_knows_a_running_container_but_not_a_removed_or_replaced_one() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("adopt");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let logs = dir.path().join("logs");
    let spec = WorkloadSpec::Container(container(
        &name,
        &["sh", "-c", "echo one; exec sleep 1000"],
        &logs,
    ));
    let first = delegate();
    let running = first.start(&spec).await.unwrap();
    // The first agent copies the output, then goes away in the middle of waiting.
    let _ = tokio::time::timeout(Duration::from_secs(1), first.wait(&running)).await;
    assert_eq!(read(&logs.join("stdout.log")), "one\n");
    drop(first);

    // As after an agent restart: a new delegate and the recorded Running.
    let fresh = delegate();
    assert!(fresh.is_alive(&running).await);
    // Waiting again copies nothing twice.
    let _ = tokio::time::timeout(Duration::from_millis(500), fresh.wait(&running)).await;
    assert_eq!(read(&logs.join("stdout.log")), "one\n");
    // A container that took the name over is not the recorded one.
    let replacement = fresh.start(&spec).await.unwrap();
    assert_ne!(
        replacement.handle["container_id"],
        running.handle["container_id"]
    );
    assert!(!fresh.is_alive(&running).await);
    assert!(fresh.is_alive(&replacement).await);
    fresh.remove(&spec).await.unwrap();
    assert!(!fresh.is_alive(&replacement).await);
    // A record of a container that no longer exists: wait reports an unknown end.
    let exit = tokio::time::timeout(Duration::from_secs(10), fresh.wait(&replacement))
        .await
        .unwrap();
    assert_eq!(
        exit,
        Exit {
            code: None,
            signal: None
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_leaves_nothing() {
    let d = delegate();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("gone");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let logs = dir.path().join("logs");
    let spec = WorkloadSpec::Container(container(&name, &["sleep", "1000"], &logs));
    let running = d.start(&spec).await.unwrap();
    // Let wait create its bookkeeping, then leave it as the supervisor would.
    let _ = tokio::time::timeout(Duration::from_millis(500), d.wait(&running)).await;
    assert!(logs.join(format!(".podman-log-position-{name}")).exists());
    d.remove(&spec).await.unwrap();
    let filter = format!("name=^{name}$");
    assert!(listed(&["ps", "-a", "-q", "--filter", &filter]).is_empty());
    assert!(!logs.join(format!(".podman-log-position-{name}")).exists());
    // Removing what is gone is fine.
    d.remove(&spec).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_loaded_from_its_archive() {
    let d = Arc::new(delegate());
    let dir = tempfile::tempdir().unwrap();
    let image = format!("localhost/{}:1", unique("archived"));
    let name = unique("archive");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    cleanup.images.push(image.clone());
    podman_stdout(&["tag", test_image(), &image]);
    let archive = dir.path().join("image.tar");
    podman_stdout(&["save", "-o", archive.to_str().unwrap(), &image]);
    podman_stdout(&["rmi", &image]);
    assert!(!podman(&["image", "exists", &image]).status.success());

    let logs = dir.path().join("logs");
    let mut spec = container(&name, &["sh", "-c", "echo loaded; exit 0"], &logs);
    spec.image = image.clone();
    spec.image_source = ImageSource::Archive(archive.clone());
    let running = d
        .start(&WorkloadSpec::Container(spec.clone()))
        .await
        .unwrap();
    assert!(podman(&["image", "exists", &image]).status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), d.wait(&running))
        .await
        .unwrap();
    assert!(exit.success(), "{exit}");
    assert_eq!(read(&logs.join("stdout.log")), "loaded\n");
    d.remove(&WorkloadSpec::Container(spec.clone()))
        .await
        .unwrap();

    // An archive that does not hold the image says so and creates nothing.
    let mut wrong = spec;
    wrong.image = format!("localhost/{}:1", unique("absent"));
    let err = d
        .start(&WorkloadSpec::Container(wrong.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not contain image") && err.contains(&wrong.image),
        "{err}"
    );
    assert!(err.contains(&image), "names what the archive holds: {err}");
    let filter = format!("name=^{name}$");
    assert!(listed(&["ps", "-a", "-q", "--filter", &filter]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_or_a_taken_port_fails_and_leaves_nothing() {
    let d = delegate();
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup::default();

    let name = unique("noimage");
    cleanup.containers.push(name.clone());
    let mut spec = container(&name, &["sleep", "1000"], dir.path());
    spec.image = "localhost/khutulun-no-such-image:1".into();
    let err = d
        .start(&WorkloadSpec::Container(spec))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("localhost/khutulun-no-such-image:1")
            && err.contains("not in podman's local store"),
        "{err}"
    );
    let filter = format!("name=^{name}$");
    assert!(listed(&["ps", "-a", "-q", "--filter", &filter]).is_empty());

    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let name = unique("taken");
    cleanup.containers.push(name.clone());
    let mut spec = container(&name, &["sleep", "1000"], dir.path());
    spec.ports.push(PortMapping {
        endpoint: "http".into(),
        host_port: port,
        container_port: 8080,
    });
    let err = d
        .start(&WorkloadSpec::Container(spec))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("podman could not start container {name}"))
            && err.contains("address already in use"),
        "{err}"
    );
    let filter = format!("name=^{name}$");
    assert!(listed(&["ps", "-a", "-q", "--filter", &filter]).is_empty());
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_containers_share_its_network() {
    let d = Arc::new(delegate());
    let dir = tempfile::tempdir().unwrap();
    let pod = unique("pod");
    let web = format!("{pod}-web");
    let client = format!("{pod}-client");
    let mut cleanup = Cleanup::default();
    cleanup.pods.push(pod.clone());
    cleanup.containers.extend([web.clone(), client.clone()]);
    let port = free_port();

    let mut server = container(
        &web,
        &["httpd", "-f", "-p", "8080", "-h", "/www"],
        &dir.path().join("web"),
    );
    server.mounts.push(Mount {
        source: web_root(dir.path()),
        target: "/www".into(),
        read_only: true,
    });
    let client_logs = dir.path().join("client");
    let fetcher = container(
        &client,
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && break; sleep 1; done; exec sleep 1000",
        ],
        &client_logs,
    );
    let spec = WorkloadSpec::Pod(PodSpec {
        name: pod.clone(),
        ports: vec![PortMapping {
            endpoint: "http".into(),
            host_port: port,
            container_port: 8080,
        }],
        labels: BTreeMap::from([(INSTANCE_LABEL.into(), format!("test/{pod}"))]),
        containers: vec![server, fetcher],
        log_directory: dir.path().join("pod"),
    });
    d.check(&spec).unwrap();
    let running = d.start(&spec).await.unwrap();
    assert_eq!(running.handle["container_name"], web.as_str());
    assert!(running.handle.contains_key("pod_id"));
    assert_eq!(running.handle["container_ids"].as_array().unwrap().len(), 2);
    let waiter = spawn_wait(&d, &running);
    assert!(d.is_alive(&running).await);

    eventually("the client's fetch", Duration::from_secs(20), || {
        (read(&client_logs.join("stdout.log")) == "hello from khutulun\n").then_some(())
    })
    .await;
    let body = eventually("the pod's port", Duration::from_secs(10), || http_get(port)).await;
    assert_eq!(body, "hello from khutulun\n");
    let labelled = listed(&[
        "pod",
        "ps",
        "--filter",
        &format!("label={INSTANCE_LABEL}=test/{pod}"),
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(labelled, vec![pod.clone()]);

    // exec goes to the first container.
    let plan = d
        .exec_plan(
            &running,
            &["sh".into(), "-c".into(), "ls /www".into()],
            false,
        )
        .unwrap();
    let out = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "index.html\n");

    // One container dying ends the pod's wait, and the pod is no longer alive.
    podman_stdout(&["kill", &client]);
    let exit = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("wait resolves when a container of the pod dies")
        .unwrap();
    assert_eq!(exit.signal, Some(9), "{exit}");
    assert!(!d.is_alive(&running).await);
    let exit = tokio::time::timeout(Duration::from_secs(10), d.wait(&running))
        .await
        .expect("wait resolves at once for a pod with a dead container");
    assert_eq!(exit.signal, Some(9), "{exit}");

    d.stop(&running, Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        podman_stdout(&["inspect", "--format", "{{.State.Running}}", &web]).trim(),
        "false"
    );
    d.remove(&spec).await.unwrap();
    let filter = format!("name=^{pod}$");
    assert!(listed(&["pod", "ps", "-q", "--filter", &filter]).is_empty());
    for name in [&web, &client] {
        let filter = format!("name=^{name}$");
        assert!(listed(&["ps", "-a", "-q", "--filter", &filter]).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plans_run_commands_in_the_container() {
    let d = delegate();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("exec");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let spec = WorkloadSpec::Container(container(&name, &["sleep", "1000"], dir.path()));
    let running = d.start(&spec).await.unwrap();
    let command: Vec<String> = ["sh", "-c", "echo $GREETING; echo oops >&2; exit 3"]
        .map(String::from)
        .to_vec();
    let plan = d.exec_plan(&running, &command, false).unwrap();
    assert!(plan.argv.iter().any(|a| a == "exec"));
    let out = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    d.remove(&spec).await.unwrap();
}
