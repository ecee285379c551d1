//! The docker delegate against a real (private) dockerd: see `docker_support` for the
//! engine the tests share.

mod docker_support;

use docker_support::{engine, Engine, IMAGE};
use futures_util::StreamExt;
use khutulun_delegates::docker::DockerDelegate;
use khutulun_delegates::{
    ContainerSpec, Delegate, Exit, ImageSource, Mount, Network, PodSpec, PortMapping, Running,
    WorkloadSpec, INSTANCE_LABEL,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A container name no other test (or test process) uses.
fn unique(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "khutulun-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the container whatever the test's outcome.
struct Cleanup {
    engine: &'static Engine,
    name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.engine.docker(&["rm", "-f", "-v", &self.name]);
    }
}

struct Setup {
    engine: &'static Engine,
    delegate: DockerDelegate,
    dir: tempfile::TempDir,
    name: String,
    _cleanup: Cleanup,
}

impl Setup {
    async fn new(what: &str) -> Setup {
        let engine = engine();
        let delegate = DockerDelegate::connect(Some(&engine.socket)).await.unwrap();
        let name = unique(what);
        Setup {
            engine,
            delegate,
            dir: tempfile::tempdir().unwrap(),
            _cleanup: Cleanup {
                engine,
                name: name.clone(),
            },
            name,
        }
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn spec(&self, command: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: self.name.clone(),
            image: IMAGE.into(),
            image_source: ImageSource::Local,
            entrypoint: None,
            command: command.iter().map(|s| s.to_string()).collect(),
            environment: BTreeMap::from([("GREETING".into(), "hi".into())]),
            network: Network::Bridge,
            ports: vec![],
            mounts: vec![],
            labels: BTreeMap::from([(INSTANCE_LABEL.into(), format!("test/{}/n/0", self.name))]),
            log_directory: self.logs(),
            pod: None,
        }
    }

    fn read_log(&self, stream: &str) -> String {
        std::fs::read_to_string(self.logs().join(format!("{stream}.log"))).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A raw HTTP/1.0 GET; retries until the server answers or `limit` passes.
fn http_get(port: u16, path: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream
                .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer)?;
            Ok(answer)
        })();
        match attempt {
            Ok(answer) if !answer.is_empty() => return answer,
            other if Instant::now() > deadline => panic!("GET :{port}{path}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Runs an exec plan's argv as the agent would (without a terminal).
fn run_plan(
    delegate: &DockerDelegate,
    running: &Running,
    command: &[&str],
) -> (i32, String, String) {
    let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    let plan = delegate.exec_plan(running, &command, false).unwrap();
    let out = Command::new(&plan.argv[0])
        .args(&plan.argv[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn exit(code: Option<i32>, signal: Option<i32>) -> Exit {
    Exit { code, signal }
}

#[tokio::test]
async fn httpd_serves_a_read_only_bind_mount_on_a_published_port() {
    let t = Setup::new("httpd").await;
    let www = t.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from a bind mount\n").unwrap();
    let port = free_port();
    let mut spec = t.spec(&["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]);
    spec.ports = vec![PortMapping {
        endpoint: "http".into(),
        host_port: port,
        container_port: 8080,
    }];
    spec.mounts = vec![Mount {
        source: www.clone(),
        target: "/www".into(),
        read_only: true,
    }];
    let spec = WorkloadSpec::Container(spec);
    t.delegate.check(&spec).unwrap();
    let running = t.delegate.start(&spec).await.unwrap();

    let pid = running.pid.expect("the container's pid");
    assert!(running.pid_start_time.is_some());
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .contains("httpd"));
    assert_eq!(running.handle["container_name"], t.name.as_str());
    let id = running.handle["container_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert!(t.delegate.is_alive(&running).await);

    let waiter = {
        let (delegate, running) = (t.delegate.clone(), running.clone());
        tokio::spawn(async move { delegate.wait(&running).await })
    };
    let answer =
        tokio::task::spawn_blocking(move || http_get(port, "/index.html", Duration::from_secs(15)))
            .await
            .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
    assert!(answer.ends_with("hello from a bind mount\n"), "{answer}");

    // The bind mount is read-only; the labels and the pinned ulimits are on the container.
    let (code, _, stderr) = run_plan(&t.delegate, &running, &["sh", "-c", "echo x > /www/new"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!www.join("new").exists());
    let out = t.engine.docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"io.khutulun.instance\"}} {{json .HostConfig.Ulimits}}",
        &id,
    ]);
    let inspected = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        inspected.starts_with(&format!("test/{}/n/0 ", t.name)),
        "{inspected}"
    );
    eprintln!("ulimits of the container: {inspected}");

    // httpd -v logs each request on stderr; the copy reaches stderr.log while it runs.
    eventually("the request in stderr.log", Duration::from_secs(10), || {
        t.read_log("stderr").contains("response:200")
    })
    .await;

    let begun = Instant::now();
    t.delegate
        .stop(&running, Duration::from_secs(2))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves after stop")
        .unwrap();
    // busybox httpd exits on SIGTERM by its default disposition... except as PID 1, where
    // the kernel ignores signals it has no handler for: then stop's SIGKILL ends it.
    assert!(
        ended == exit(None, Some(15)) || ended == exit(None, Some(9)),
        "{ended:?} after {:?}",
        begun.elapsed()
    );
    assert!(!t.delegate.is_alive(&running).await);
    // Stopping a stopped container is fine.
    t.delegate
        .stop(&running, Duration::from_secs(1))
        .await
        .unwrap();
    t.delegate.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn output_goes_to_the_log_files_and_the_exit_code_is_reported() {
    let t = Setup::new("output").await;
    let spec = WorkloadSpec::Container(t.spec(&[
        "sh",
        "-c",
        "echo $GREETING; echo oops >&2; echo line two; exit 3",
    ]));
    let running = t.delegate.start(&spec).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(20), t.delegate.wait(&running))
        .await
        .unwrap();
    assert_eq!(ended, exit(Some(3), None));
    assert_eq!(t.read_log("stdout"), "hi\nline two\n");
    assert_eq!(t.read_log("stderr"), "oops\n");

    // An agent restart: a new delegate waits again; nothing is copied twice.
    let again = DockerDelegate::connect(Some(&t.engine.socket))
        .await
        .unwrap();
    assert!(!again.is_alive(&running).await);
    assert_eq!(again.wait(&running).await, exit(Some(3), None));
    assert_eq!(t.read_log("stdout"), "hi\nline two\n");
    assert_eq!(t.read_log("stderr"), "oops\n");

    again.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn a_kill_from_outside_resolves_wait_with_the_signal() {
    let t = Setup::new("kill").await;
    let spec = WorkloadSpec::Container(t.spec(&["sleep", "600"]));
    let running = t.delegate.start(&spec).await.unwrap();
    let waiter = {
        let (delegate, running) = (t.delegate.clone(), running.clone());
        tokio::spawn(async move { delegate.wait(&running).await })
    };
    // Let the waiter subscribe (not required: the engine replays its buffered events).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = t.engine.docker(&["kill", &t.name]);
    assert!(out.status.success(), "{out:?}");
    let ended = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("wait resolves on the die event")
        .unwrap();
    assert_eq!(ended, exit(None, Some(9)));
    assert!(!t.delegate.is_alive(&running).await);
    // A wait that starts after the death (a restarted agent) still tells the signal: the
    // engine replays the buffered kill and die events.
    let again = DockerDelegate::connect(Some(&t.engine.socket))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), again.wait(&running))
        .await
        .unwrap();
    assert_eq!(ended, exit(None, Some(9)));
    t.delegate.remove(&spec).await.unwrap();
}

#[tokio::test]
async fn host_network_containers_listen_on_the_host() {
    let t = Setup::new("hostnet").await;
    let www = t.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "on the host network\n").unwrap();
    let port = free_port();
    let mut spec = t.spec(&["httpd", "-f", "-p", &port.to_string(), "-h", "/www"]);
    spec.network = Network::Host;
    spec.mounts = vec![Mount {
        source: www,
        target: "/www".into(),
        read_only: true,
    }];
    let spec = WorkloadSpec::Container(spec);
    let running = t.delegate.start(&spec).await.unwrap();
    let answer =
        tokio::task::spawn_blocking(move || http_get(port, "/index.html", Duration::from_secs(15)))
            .await
            .unwrap();
    assert!(answer.ends_with("on the host network\n"), "{answer}");
    assert!(t.delegate.is_alive(&running).await);
    t.delegate.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn stop_kills_after_the_grace_when_the_container_ignores_sigterm() {
    let t = Setup::new("stop").await;
    // PID 1 of a container ignores SIGTERM (no handler), so only the SIGKILL ends it.
    let spec = WorkloadSpec::Container(t.spec(&["sleep", "600"]));
    let running = t.delegate.start(&spec).await.unwrap();
    let waiter = {
        let (delegate, running) = (t.delegate.clone(), running.clone());
        tokio::spawn(async move { delegate.wait(&running).await })
    };
    let begun = Instant::now();
    t.delegate
        .stop(&running, Duration::from_secs(1))
        .await
        .unwrap();
    let took = begun.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let ended = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended, exit(None, Some(9)));
    t.delegate.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn a_restarted_agent_finds_the_container_and_copies_no_line_twice() {
    let t = Setup::new("restart").await;
    let spec = WorkloadSpec::Container(t.spec(&["sh", "-c", "echo started; exec sleep 600"]));
    let running = t.delegate.start(&spec).await.unwrap();
    // The first agent copies the output, then dies (its wait is dropped).
    let first = {
        let (delegate, running) = (t.delegate.clone(), running.clone());
        tokio::spawn(async move { delegate.wait(&running).await })
    };
    eventually(
        "the first line in stdout.log",
        Duration::from_secs(10),
        || t.read_log("stdout") == "started\n",
    )
    .await;
    first.abort();
    let _ = first.await;

    // The running record is all a restarted agent has.
    let record = serde_json::to_string(&running).unwrap();
    let running: Running = serde_json::from_str(&record).unwrap();
    let again = DockerDelegate::connect(Some(&t.engine.socket))
        .await
        .unwrap();
    assert!(again.is_alive(&running).await);
    let waiter = {
        let (delegate, running) = (again.clone(), running.clone());
        tokio::spawn(async move { delegate.wait(&running).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = t.engine.docker(&["kill", "--signal", "KILL", &t.name]);
    assert!(out.status.success(), "{out:?}");
    let ended = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended, exit(None, Some(9)));
    assert_eq!(t.read_log("stdout"), "started\n");

    again.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
    assert!(!again.is_alive(&running).await);
}

#[tokio::test]
async fn a_missing_image_is_loaded_from_its_archive() {
    let t = Setup::new("archive").await;
    let tag = format!("khutulun-test-archive-{}:1", std::process::id());
    let out = t.engine.docker(&["tag", IMAGE, &tag]);
    assert!(out.status.success(), "{out:?}");
    // Save it through the API (docker save), then forget the tag.
    let archive = t.dir.path().join("image.tar");
    {
        let mut file = std::fs::File::create(&archive).unwrap();
        let mut chunks = t.delegate.engine().export_image(&tag);
        while let Some(chunk) = chunks.next().await {
            file.write_all(&chunk.unwrap()).unwrap();
        }
    }
    let out = t.engine.docker(&["rmi", &tag]);
    assert!(out.status.success(), "{out:?}");

    let mut spec = t.spec(&["sh", "-c", "echo from the archive"]);
    spec.image = tag.clone();
    spec.image_source = ImageSource::Archive(archive.clone());
    let spec = WorkloadSpec::Container(spec);
    let running = t.delegate.start(&spec).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(20), t.delegate.wait(&running))
        .await
        .unwrap();
    assert_eq!(ended, exit(Some(0), None));
    assert_eq!(t.read_log("stdout"), "from the archive\n");
    assert!(t
        .engine
        .docker(&["image", "inspect", &tag])
        .status
        .success());
    t.delegate.remove(&spec).await.unwrap();
    let _ = t.engine.docker(&["rmi", &tag]);

    // An archive without the image asked for: the error names both, nothing is created.
    let mut other = t.spec(&["true"]);
    other.name = unique("archive-other");
    other.image = format!("khutulun-test-not-in-archive-{}:1", std::process::id());
    other.image_source = ImageSource::Archive(archive.clone());
    let _cleanup = Cleanup {
        engine: t.engine,
        name: other.name.clone(),
    };
    let err = t
        .delegate
        .start(&WorkloadSpec::Container(other.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&archive.display().to_string()), "{err}");
    assert!(err.contains("does not hold image"), "{err}");
    assert!(t.engine.containers_named(&other.name).is_empty());
    let _ = t.engine.docker(&["rmi", &tag]);
}

#[tokio::test]
async fn a_missing_image_is_a_clear_error_and_creates_nothing() {
    let t = Setup::new("noimage").await;
    let mut spec = t.spec(&["true"]);
    spec.image = "khutulun-test-missing:1".into();
    let err = t
        .delegate
        .start(&WorkloadSpec::Container(spec))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "image khutulun-test-missing:1 is not in the Docker engine's local store (no registry is contacted): load it with `docker load` or ship it as an image artifact"
    );
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error_and_leaves_no_container() {
    let t = Setup::new("port").await;
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut spec = t.spec(&["httpd", "-f", "-p", "80"]);
    spec.ports = vec![PortMapping {
        endpoint: "http".into(),
        host_port: port,
        container_port: 80,
    }];
    let err = t
        .delegate
        .start(&WorkloadSpec::Container(spec))
        .await
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(
        err.starts_with(&format!("docker could not start container {}: ", t.name)),
        "{err}"
    );
    assert!(err.contains("address already in use"), "{err}");
    assert!(err.contains(&format!("{port} (endpoint http)")), "{err}");
    assert!(t.engine.containers_named(&t.name).is_empty());
    drop(taken);
}

#[tokio::test]
async fn a_leftover_container_of_the_same_name_is_replaced() {
    let t = Setup::new("leftover").await;
    let out = t
        .engine
        .docker(&["create", "--name", &t.name, IMAGE, "sleep", "1"]);
    assert!(out.status.success(), "{out:?}");
    let old = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let spec = WorkloadSpec::Container(t.spec(&["sleep", "600"]));
    let running = t.delegate.start(&spec).await.unwrap();
    assert_ne!(running.handle["container_id"], old.as_str());
    assert!(t.delegate.is_alive(&running).await);
    t.delegate.remove(&spec).await.unwrap();
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn pods_are_refused() {
    let t = Setup::new("pod").await;
    let pod = WorkloadSpec::Pod(PodSpec {
        name: t.name.clone(),
        ports: vec![],
        labels: BTreeMap::new(),
        containers: vec![t.spec(&["true"])],
        log_directory: t.logs(),
    });
    let err = t.delegate.check(&pod).unwrap_err().to_string();
    assert!(err.contains("Docker has no pods"), "{err}");
    let err = t.delegate.start(&pod).await.unwrap_err().to_string();
    assert!(err.contains("Docker has no pods"), "{err}");
    let mut member = t.spec(&["true"]);
    member.pod = Some("web".into());
    let err = t
        .delegate
        .start(&WorkloadSpec::Container(member))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Docker has no pods"), "{err}");
    assert!(t.engine.containers_named(&t.name).is_empty());
}

#[tokio::test]
async fn exec_plans_run_commands_and_report_exit_codes() {
    let t = Setup::new("exec").await;
    let spec = WorkloadSpec::Container(t.spec(&["sleep", "600"]));
    let running = t.delegate.start(&spec).await.unwrap();
    let plan = t
        .delegate
        .exec_plan(&running, &["sh".to_string()], true)
        .unwrap();
    let id = running.handle["container_id"].as_str().unwrap();
    assert_eq!(
        plan.argv,
        [
            "docker",
            "-H",
            &format!("unix://{}", t.engine.socket.display()),
            "exec",
            "-i",
            "-t",
            id,
            "sh"
        ]
    );
    let (code, stdout, _) = run_plan(&t.delegate, &running, &["sh", "-c", "echo $GREETING there"]);
    assert_eq!((code, stdout.as_str()), (0, "hi there\n"));
    let (code, _, _) = run_plan(&t.delegate, &running, &["sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    // The pinned ulimits hold inside (this sandbox's hard nofile limit, not the daemon's
    // default of 1048576).
    let (code, stdout, _) = run_plan(&t.delegate, &running, &["sh", "-c", "ulimit -n"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        expected_nofile(),
        "nofile inside the container"
    );
    t.delegate.remove(&spec).await.unwrap();
}

/// This process's hard nofile limit when the delegate pins it (no CAP_SYS_RESOURCE), else
/// the test engine's default.
fn expected_nofile() -> String {
    let out = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap();
    if cap_eff & (1 << 24) != 0 || hard == "unlimited" {
        "1048576".into()
    } else {
        hard
    }
}

#[tokio::test]
async fn connecting_to_no_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let err = DockerDelegate::connect(Some(&socket))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "no Docker engine answers at {}: start dockerd, or pick podman with a Delegation policy",
            socket.display()
        )),
        "{err}"
    );
    // A socket nobody listens on.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(_listener);
    let err = DockerDelegate::connect(Some(&socket))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no Docker engine answers at"), "{err}");
}
