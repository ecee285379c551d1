//! Read-path cost of one agent's API under concurrent clients, printed as a plain-text table.
//!
//! The bench starts its own agent (this build's release `khutulun agent`, host `bench`, no
//! token: the API only on `<data>/agent.sock`, temporary state and data directories),
//! deploys S services of I instances each (one generated template per service: I
//! independent `Process` nodes running `sleep 3600`, with `khutulun deploy <name> <dir>
//! --wait`, one after the other) and checks with `khutulun services -o json` that all S run
//! all their I instances. Then, for each endpoint in turn:
//!
//! - `GET /v1/health`: the peer, what the server costs without reading any state;
//! - `GET /v1/namespaces/default/services`: the S services;
//! - `GET /v1/namespaces/default/services/<one>`: one service with its I instances;
//! - `GET /v1/namespaces/default/services/<one>/instances`: its I instances;
//! - `GET /v1/namespaces/default/instances`: all S × I instances;
//!
//! C clients, each on a thread of its own with its own keep-alive HTTP/1.1 connection to the
//! socket (a small hand-written client: `Content-Length` and chunked bodies), send one
//! request after the other for a 1 s warm-up and then for D s. A request counts when it ends
//! inside the D s window; it fails unless its status is 200 and its body is not empty (the
//! client then reconnects). Printed per endpoint: the body's size, requests per second (all
//! clients together) and its ratio to `/v1/health`'s, the p50, p99 and max latency, the
//! agent's CPU time (utime + stime of /proc/<pid>/stat, all its threads, in clock ticks)
//! over the window divided by the requests of the window, and the failures (warm-up
//! included). Also the agent's RSS (VmRSS) before the deploys, after them and at the end.
//!
//! The clients run on the same machine as the agent and share its cores: on a small machine
//! the figures are the agent's and the clients' cost together; compare the endpoints with
//! each other and with `/v1/health` rather than reading the absolute numbers.
//!
//! ```sh
//! cargo bench -p khutulun --bench reads
//! KH_BENCH_SERVICES=1000 KH_BENCH_INSTANCES=1 KH_BENCH_CLIENTS=8 cargo bench -p khutulun --bench reads
//! ```
//!
//! `KH_BENCH_SERVICES`: S (default 100). `KH_BENCH_INSTANCES`: I (default 10).
//! `KH_BENCH_CLIENTS`: C (default 4). `KH_BENCH_SECS`: D (default 5). Progress goes to
//! stderr, the table to stdout at the end. Everything the bench starts (agent, instances,
//! temporary directories) is removed at the end, also when a step fails.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{
    clk_tck, cpu_ticks, number_env, rss_mb, sleep_node, table, BenchAgent, TEMPLATE_HEAD,
};

/// The bench's name, the prefix of its progress messages.
const NAME: &str = "reads";
/// Requests before the measured window.
const WARM_UP: Duration = Duration::from_secs(1);
/// How long one request may take before the client gives up on it (a failure).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The measurements of one endpoint.
struct Measure {
    path: String,
    body_bytes: usize,
    window: Duration,
    /// Latencies of the requests that ended inside the window, in ns, sorted.
    latencies: Vec<u64>,
    /// Failed requests, warm-up included.
    failures: usize,
    first_failure: Option<String>,
    /// The agent's CPU over the window, in clock ticks.
    cpu_ticks: u64,
}

impl Measure {
    fn requests_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    /// The latency at `percent` (nearest rank), in ms.
    fn percentile_ms(&self, percent: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = (percent / 100.0 * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        Some(self.latencies[index] as f64 / 1e6)
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not: minutes of
    // deploys belong to `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("reads: a benchmark; run it with `cargo bench -p khutulun --bench reads`");
        return;
    }
    let services: usize = number_env("KH_BENCH_SERVICES", 100);
    let instances: usize = number_env("KH_BENCH_INSTANCES", 10);
    let clients: usize = number_env("KH_BENCH_CLIENTS", 4);
    let secs: u64 = number_env("KH_BENCH_SECS", 5);
    assert!(services >= 1, "KH_BENCH_SERVICES: at least 1");
    assert!(instances >= 1, "KH_BENCH_INSTANCES: at least 1");
    assert!(clients >= 1, "KH_BENCH_CLIENTS: at least 1");
    assert!(secs >= 1, "KH_BENCH_SECS: at least 1");
    let window = Duration::from_secs(secs);
    let started = Instant::now();

    let agent = BenchAgent::start(NAME);
    let pid = agent.pid();
    let clk_tck = clk_tck();
    eprintln!(
        "{NAME} bench: agent pid {pid} ready ({}), ticks {clk_tck} per s",
        agent.url
    );
    let rss_before = rss_mb(pid);

    let names = deploy_services(&agent, services, instances);
    check_services(&agent, &names, instances);
    let rss_deployed = rss_mb(pid);

    let one = &names[0];
    let paths = [
        "/v1/health".to_owned(),
        "/v1/namespaces/default/services".to_owned(),
        format!("/v1/namespaces/default/services/{one}"),
        format!("/v1/namespaces/default/services/{one}/instances"),
        "/v1/namespaces/default/instances".to_owned(),
    ];
    let mut measures = Vec::new();
    for path in &paths {
        eprintln!(
            "{NAME} bench: GET {path}: {clients} clients, {} s warm-up + {secs} s",
            WARM_UP.as_secs()
        );
        let measure = measure(&agent, path, clients, window);
        eprintln!(
            "{NAME} bench:   {:.0} req/s, p99 {:.2} ms, {} failures",
            measure.requests_per_s(),
            measure.percentile_ms(99.0).unwrap_or(f64::NAN),
            measure.failures
        );
        measures.push(measure);
    }
    agent.check_alive();
    let rss_end = rss_mb(pid);

    println!(
        "\nReads: {services} services x {instances} instances, {clients} clients (keep-alive, one \
         thread each), {secs} s after a {} s warm-up (agent CPU counted in clock ticks of {:.0} ms)\n",
        WARM_UP.as_secs(),
        1000.0 / clk_tck
    );
    println!("{}", reads_table(&measures, clk_tck));
    for m in &measures {
        if let Some(first) = &m.first_failure {
            println!(
                "FAILED GET {}: {} failures, the first: {first}",
                m.path, m.failures
            );
        }
    }
    println!(
        "\nAgent RSS: {rss_before:.1} MB before the deploys, {rss_deployed:.1} MB after them, \
         {rss_end:.1} MB at the end"
    );

    delete_services(&agent, &names);
    let leftovers = agent.leftover_cgroups();
    drop(agent);
    if !leftovers.is_empty() {
        println!(
            "\nInstance cgroups left after all deletes: {}",
            leftovers.join(", ")
        );
    }
    eprintln!(
        "{NAME} bench: done in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
}

// ---- the services ----

/// Deploys `services` services of `instances` sleeping processes each, one after the
/// other: their names.
fn deploy_services(agent: &BenchAgent, services: usize, instances: usize) -> Vec<String> {
    let width = services.to_string().len();
    let timeout = 120 + instances;
    let started = Instant::now();
    let mut names = Vec::new();
    for i in 0..services {
        let name = format!("svc-{i:0width$}");
        let dir = template(agent.root.path(), &name, instances);
        agent.deploy_wait(&name, &dir, timeout);
        names.push(name);
        if (i + 1) % 10 == 0 || i + 1 == services {
            eprintln!(
                "{NAME} bench: deployed {}/{services} services of {instances} instances ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    names
}

/// Writes the template of one service of n `sleep 3600` processes into a directory of its own.
fn template(root: &Path, name: &str, n: usize) -> PathBuf {
    let dir = root.join("templates").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = String::from(TEMPLATE_HEAD);
    for i in 0..n {
        yaml.push_str(&sleep_node(i));
    }
    std::fs::write(dir.join("service.yaml"), yaml).unwrap();
    dir
}

/// `khutulun services -o json` lists exactly `names`, each with all its instances running.
fn check_services(agent: &BenchAgent, names: &[String], instances: usize) {
    let text = agent.cli_ok(&["services", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&text).expect("services as JSON");
    let listed = listed.as_array().expect("a list of services");
    assert_eq!(
        listed.len(),
        names.len(),
        "{} services listed, {} deployed",
        listed.len(),
        names.len()
    );
    for service in listed {
        let name = service["name"].as_str().unwrap_or_default();
        assert!(
            names.iter().any(|n| n == name),
            "an unknown service: {service}"
        );
        assert!(
            service["instances"].as_u64() == Some(instances as u64)
                && service["running"].as_u64() == Some(instances as u64),
            "{name}: not {instances} instances, all running: {service}"
        );
    }
    eprintln!(
        "{NAME} bench: {} services, each with {instances} instances running",
        names.len()
    );
}

/// Deletes the services (`delete --wait`), one after the other.
fn delete_services(agent: &BenchAgent, names: &[String]) {
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        agent.cli_ok(&["delete", name, "--wait", "--timeout", "300"]);
        if (i + 1) % 10 == 0 || i + 1 == names.len() {
            eprintln!(
                "{NAME} bench: deleted {}/{} services ({:.1} s)",
                i + 1,
                names.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

// ---- the load ----

/// What one client thread saw.
#[derive(Default)]
struct ClientRun {
    latencies: Vec<u64>,
    failures: usize,
    first_failure: Option<String>,
}

/// `clients` threads GET `path` for the warm-up and then `window`; the agent's CPU over
/// the window.
fn measure(agent: &BenchAgent, path: &str, clients: usize, window: Duration) -> Measure {
    let socket = agent.socket();
    // One request first: the body's size, and the endpoint answers at all.
    let body_bytes = Client::connect(&socket)
        .and_then(|mut client| client.get(&request(path)))
        .unwrap_or_else(|e| panic!("GET {path}: {e}\nagent log (end):\n{}", agent.log_tail()));

    let pid = agent.pid();
    // Connecting takes microseconds: every client is ready well before `begin`.
    let begin = Instant::now() + Duration::from_millis(100);
    let window_start = begin + WARM_UP;
    let end = window_start + window;
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let socket = socket.clone();
            let request = request(path);
            std::thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || client_loop(&socket, &request, begin, window_start, end))
                .expect("a client thread")
        })
        .collect();
    sleep_until(window_start);
    let cpu_start = cpu_ticks(pid);
    sleep_until(end);
    let cpu_end = cpu_ticks(pid);

    let mut measure = Measure {
        path: path.to_owned(),
        body_bytes,
        window,
        latencies: Vec::new(),
        failures: 0,
        first_failure: None,
        cpu_ticks: cpu_end - cpu_start,
    };
    for thread in threads {
        let run = thread.join().expect("a client thread panicked");
        measure.latencies.extend(run.latencies);
        measure.failures += run.failures;
        if measure.first_failure.is_none() {
            measure.first_failure = run.first_failure;
        }
    }
    measure.latencies.sort_unstable();
    measure
}

/// One client: requests one after the other from `begin`; those that end inside
/// [`window_start`, `end`] count. Stops at the first request that would start after `end`.
fn client_loop(
    socket: &Path,
    request: &[u8],
    begin: Instant,
    window_start: Instant,
    end: Instant,
) -> ClientRun {
    let mut run = ClientRun {
        // 20k requests per second is more than one client sees here.
        latencies: Vec::with_capacity(20_000 * (end - window_start).as_secs() as usize),
        ..ClientRun::default()
    };
    let mut client = Client::connect(socket).ok();
    sleep_until(begin);
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        let Some(c) = client.as_mut() else {
            match Client::connect(socket) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    run.fail(e);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            continue;
        };
        match c.get(request) {
            Ok(_) => {
                let done = Instant::now();
                if done >= window_start && done <= end {
                    run.latencies.push((done - t).as_nanos() as u64);
                }
                if c.closed {
                    client = None;
                }
            }
            Err(e) => {
                run.fail(e);
                client = None;
            }
        }
    }
    run
}

impl ClientRun {
    fn fail(&mut self, e: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(e);
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// The bytes of `GET <path>` on a keep-alive connection.
fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// A minimal HTTP/1.1 client on one keep-alive Unix-socket connection.
struct Client {
    stream: BufReader<UnixStream>,
    line: Vec<u8>,
    body: Vec<u8>,
    /// The server said it closes the connection (or the body ran until it did).
    closed: bool,
}

impl Client {
    fn connect(socket: &Path) -> Result<Client, String> {
        let stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream: BufReader::with_capacity(64 * 1024, stream),
            line: Vec::with_capacity(256),
            body: Vec::new(),
            closed: false,
        })
    }

    /// Sends `request` and reads the whole response: the body's size, or why it failed
    /// (not 200, an empty body, an I/O or protocol error).
    fn get(&mut self, request: &[u8]) -> Result<usize, String> {
        self.stream
            .get_mut()
            .write_all(request)
            .map_err(|e| format!("write: {e}"))?;

        self.read_line()?;
        let status_line = String::from_utf8_lossy(&self.line).trim_end().to_owned();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            self.read_line()?;
            let line = std::str::from_utf8(&self.line)
                .map_err(|_| "a header that is not UTF-8".to_owned())?
                .trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!("a malformed header: {line:?}"));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse()
                        .map_err(|_| format!("Content-Length: {value:?}"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                self.closed = value
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case("close"));
            }
        }

        self.body.clear();
        if chunked {
            self.read_chunks()?;
        } else if let Some(length) = length {
            self.body.resize(length, 0);
            self.stream
                .read_exact(&mut self.body)
                .map_err(|e| format!("body: {e}"))?;
        } else {
            // Neither: the body runs until the server closes the connection.
            self.stream
                .read_to_end(&mut self.body)
                .map_err(|e| format!("body: {e}"))?;
            self.closed = true;
        }

        if status != 200 {
            let snippet: String = String::from_utf8_lossy(&self.body)
                .chars()
                .take(200)
                .collect();
            return Err(format!("status {status}: {snippet}"));
        }
        if self.body.is_empty() {
            return Err("an empty body".into());
        }
        Ok(self.body.len())
    }

    /// A chunked body, into `body` (chunk extensions and trailers ignored).
    fn read_chunks(&mut self) -> Result<(), String> {
        loop {
            self.read_line()?;
            let line = String::from_utf8_lossy(&self.line);
            let size = line.trim_end().split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| format!("a chunk size: {:?}", line.trim_end()))?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    self.read_line()?;
                    if self.line == b"\r\n" || self.line == b"\n" {
                        return Ok(());
                    }
                }
            }
            let at = self.body.len();
            self.body.resize(at + size, 0);
            self.stream
                .read_exact(&mut self.body[at..])
                .map_err(|e| format!("chunk: {e}"))?;
            self.read_line()?;
            if self.line != b"\r\n" && self.line != b"\n" {
                return Err("no CRLF after a chunk".into());
            }
        }
    }

    /// One line (with its line end) into `line`; an error at the end of the stream.
    fn read_line(&mut self) -> Result<(), String> {
        self.line.clear();
        match self.stream.read_until(b'\n', &mut self.line) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }
}

// ---- the table ----

/// A ratio with two significant digits below 1 (`0.0017`, not `0.00`).
fn ratio(r: f64) -> String {
    let decimals = if r >= 0.1 || r <= 0.0 {
        2
    } else {
        (1.0 - r.log10().floor()) as usize
    };
    format!("{r:.decimals$}")
}

fn reads_table(measures: &[Measure], clk_tck: f64) -> String {
    let health = measures
        .iter()
        .find(|m| m.path == "/v1/health")
        .map(Measure::requests_per_s)
        .filter(|r| *r > 0.0);
    let lines = measures
        .iter()
        .map(|m| {
            let requests = m.latencies.len();
            let rate = m.requests_per_s();
            let latency = |p: f64| m.percentile_ms(p).map_or("-".into(), |v| format!("{v:.2}"));
            let max = m
                .latencies
                .last()
                .map_or("-".into(), |v| format!("{:.2}", *v as f64 / 1e6));
            let cpu = if requests == 0 {
                "-".into()
            } else {
                let cpu_ms = m.cpu_ticks as f64 * 1000.0 / clk_tck;
                format!("{:.0}", cpu_ms * 1000.0 / requests as f64)
            };
            vec![
                format!("GET {}", m.path),
                m.body_bytes.to_string(),
                format!("{rate:.0}"),
                health.map_or("-".into(), |h| ratio(rate / h)),
                latency(50.0),
                latency(99.0),
                max,
                cpu,
                m.failures.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &[
            "endpoint",
            "body bytes",
            "req/s",
            "vs health",
            "p50 ms",
            "p99 ms",
            "max ms",
            "agent CPU us/req",
            "failures",
        ],
        &lines,
    )
}
