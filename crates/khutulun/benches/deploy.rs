//! Deploy and delete cost of one agent against a floor, printed as plain-text tables.
//!
//! The bench starts its own agent (this build's release `khutulun agent`, host `bench`, no
//! token: the API only on `<data>/agent.sock`, temporary state and data directories) and,
//! for each workload kind and each N, measures best-of-R:
//!
//! - the **floor**: a bash script that starts the same N processes by hand (`setsid nohup
//!   ... >log 2>&1 &`, a log file each) and waits until all are ready, polling every 5 ms:
//!   `sleep` when its pid runs `sleep` (/proc/<pid>/comm), `http` when its port accepts a
//!   TCP connection (ports the bench picks outside the agent's range);
//! - **deploy**: wall time of `khutulun deploy <name> <dir> --wait` (the CLI, through the
//!   socket): until every instance runs (for `http`, accepts connections);
//! - **delete**: wall time of `khutulun delete <name> --wait`;
//! - the agent's CPU time (utime + stime of /proc/<pid>/stat, all its threads) during the
//!   deploy and during the delete, and its RSS (VmRSS) before the deploy, after it and after
//!   the delete.
//!
//! Workloads, N independent `Process` nodes of one generated service template:
//!
//! - `sleep`: `sleep 3600`, no endpoint;
//! - `http`: `sh -c 'exec <python3> -m http.server "$PORT" --bind 127.0.0.1'` with an
//!   endpoint `port: 0` (the agent reserves a port and passes it in `PORT`). The shell only
//!   execs python; the floor starts the very same command line. `<python3>` is the real
//!   interpreter (`sys.executable`), so that a pyenv shim's start-up is not measured.
//!
//! Then, for the idle agent (fresh, before the first deploy, and after all deletes), the
//! context switches of all its threads (voluntary + nonvoluntary, /proc/<pid>/task/*/status)
//! over a 10 s window and its number of threads: does the idle agent wake up?
//!
//! ```sh
//! cargo bench -p khutulun --bench deploy
//! KH_BENCH_N=1,10,100 KH_BENCH_RUNS=3 cargo bench -p khutulun --bench deploy
//! KH_BENCH_N=1000 cargo bench -p khutulun --bench deploy
//! ```
//!
//! `KH_BENCH_N`: the Ns (default `1,10,100,1000`). `KH_BENCH_RUNS`: runs per (kind, N),
//! the best of which is printed (default 3; N >= 1000 runs once). `KH_BENCH_KINDS`: `sleep`,
//! `http` or both (default). `KH_BENCH_IDLE_SECS`: the idle window (default 10; with
//! target/plugins/text-functions.wasm built, a third window has a service using a Wasm
//! function deployed). `KH_BENCH_HELLO=0` skips examples/hello-world (`deploy --wait`
//! against its backend and frontend started by hand, one after the other).
//! `KH_BENCH_MEMORY_ROUNDS`: rounds of deploying and deleting `KH_BENCH_MEMORY_N` sleep
//! nodes (defaults 3 and 1000; 0 rounds skips them), the agent's anonymous and file-backed
//! RSS before each round and [`SETTLED_AFTER`] after its delete: does the agent's memory
//! return to its level before a mass flow?
//! Progress goes to stderr, the tables to stdout at the end. Everything the bench starts
//! (agent, instances, floor processes, temporary directories) is removed at the end, also
//! when a step fails.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{
    attempt, clk_tck, cpu_ticks, kill_and_wait, list_env, marked_pids, ms, number_env, rss_mb,
    shell_quote, sleep_node, table, thread_switches, BenchAgent, TEMPLATE_HEAD,
};

/// The bench's name, the prefix of its progress messages.
const NAME: &str = "deploy";
/// Where the floor looks for free ports: not the agent's range, not the ephemeral range.
const FLOOR_PORTS: (u16, u16) = (24000, 26999);
/// Runs at and above this N are done once.
const SINGLE_RUN_FROM: usize = 1000;
/// How long after a big delete the agent's memory is read again: its blocking threads
/// have exited and their memory gone back (2 s idle, then a trim).
const SETTLED_AFTER: Duration = Duration::from_secs(5);
/// The environment variable that marks every process a floor script starts.
const FLOOR_MARK: &str = "KH_BENCH_FLOOR";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Sleep,
    Http,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sleep => "sleep",
            Kind::Http => "http",
        }
    }
}

/// One run of one (kind, N).
#[derive(Clone, Debug)]
struct Sample {
    floor_ms: f64,
    deploy_ms: f64,
    delete_ms: f64,
    cpu_deploy_ms: f64,
    cpu_delete_ms: f64,
    rss_before_mb: f64,
    rss_deployed_mb: f64,
    rss_deleted_mb: f64,
    /// RSS once the flow's threads are gone ([`SETTLED_AFTER`] after the delete; runs at
    /// and above [`SINGLE_RUN_FROM`] only).
    rss_settled_mb: Option<f64>,
}

/// All runs of one (kind, N).
struct Row {
    kind: Kind,
    n: usize,
    samples: Vec<Sample>,
    failures: Vec<String>,
}

/// An idle window of the agent.
struct Idle {
    label: &'static str,
    window: Duration,
    switches: u64,
    threads_before: usize,
    threads_after: usize,
    /// Switches per thread name over the window (threads alive at both ends).
    by_name: BTreeMap<String, (usize, u64)>,
    /// The most switches one thread made over the window: "no thread wakes more than
    /// once a second" holds when this is at most the window's seconds.
    busiest_thread: u64,
    /// The agent's resident memory at the end of the window: anonymous (its heap, stacks)
    /// and file-backed (the binary's pages it has touched), MB.
    rss_anon_mb: f64,
    rss_file_mb: f64,
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not: minutes of
    // deploys belong to `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("deploy: a benchmark; run it with `cargo bench -p khutulun --bench deploy`");
        return;
    }
    let ns: Vec<usize> = list_env("KH_BENCH_N", "1,10,100,1000")
        .iter()
        .map(|s| s.parse().expect("KH_BENCH_N: numbers, comma-separated"))
        .collect();
    let runs = number_env("KH_BENCH_RUNS", 3usize).max(1);
    let kinds: Vec<Kind> = list_env("KH_BENCH_KINDS", "sleep,http")
        .iter()
        .map(|s| match s.as_str() {
            "sleep" => Kind::Sleep,
            "http" => Kind::Http,
            other => panic!("KH_BENCH_KINDS: sleep or http, not {other}"),
        })
        .collect();
    let idle_secs: u64 = number_env("KH_BENCH_IDLE_SECS", 10);
    let idle = Duration::from_secs(idle_secs);
    let started = Instant::now();

    let python = kinds.contains(&Kind::Http).then(real_python);
    let bench = Bench::start(python);
    eprintln!(
        "deploy bench: agent pid {} ready ({}), ticks {} per s",
        bench.agent.pid(),
        bench.agent.url,
        bench.clk_tck
    );

    let mut idles = Vec::new();
    if !idle.is_zero() {
        eprintln!("deploy bench: fresh agent idle for {idle_secs} s");
        idles.push(bench.idle_window("fresh, before any deploy", idle));
    }

    let mut rows = Vec::new();
    for &kind in &kinds {
        for &n in &ns {
            let runs = if n >= SINGLE_RUN_FROM { 1 } else { runs };
            let mut row = Row {
                kind,
                n,
                samples: Vec::new(),
                failures: Vec::new(),
            };
            for run in 1..=runs {
                let what = format!("{} N={n} run {run}/{runs}", kind.name());
                match attempt(NAME, &what, || bench.run(kind, n, run)) {
                    Ok(sample) => row.samples.push(sample),
                    Err(e) => {
                        row.failures.push(format!("run {run}: {e}"));
                        bench.recover();
                    }
                }
            }
            rows.push(row);
        }
    }

    let memory_rounds: usize = number_env("KH_BENCH_MEMORY_ROUNDS", 3);
    let memory_n: usize = number_env("KH_BENCH_MEMORY_N", 1000);
    let mut rounds = Vec::new();
    for round in 1..=memory_rounds {
        let what = format!("memory round {round}/{memory_rounds} (N={memory_n})");
        match attempt(NAME, &what, || bench.memory_round(memory_n, round)) {
            Ok(round) => rounds.push(round),
            Err(_) => bench.recover(),
        }
    }

    if !idle.is_zero() {
        eprintln!("deploy bench: agent idle for {idle_secs} s after all deletes");
        idles.push(bench.idle_window("after all deletes", idle));
        match attempt(NAME, "idle with a plugin loaded", || {
            bench.idle_with_plugin(idle)
        }) {
            Ok(Some(window)) => idles.push(window),
            Ok(None) => eprintln!(
                "deploy bench: no idle window with a plugin: target/plugins/text-functions.wasm is missing (scripts/build-plugins makes it)"
            ),
            Err(_) => bench.recover(),
        }
    }
    let mut hello = Vec::new();
    if std::env::var("KH_BENCH_HELLO").map_or(true, |v| v != "0") {
        for run in 1..=runs {
            match attempt(NAME, &format!("hello-world run {run}/{runs}"), || {
                bench.hello_world(run)
            }) {
                Ok(sample) => hello.push(sample),
                Err(_) => bench.recover(),
            }
        }
    }
    let leftovers = bench.agent.leftover_cgroups();
    let clk_tck = bench.clk_tck;
    drop(bench);

    println!(
        "\nDeploy and delete, per node (best of the runs; RSS of the last run; N >= {SINGLE_RUN_FROM} runs once; agent CPU counted in clock ticks of {:.0} ms)\n",
        1000.0 / clk_tck
    );
    println!("{}", summary_table(&rows));
    println!("\nEvery run (ms, totals for the N nodes)\n");
    println!("{}", runs_table(&rows));
    for row in &rows {
        for failure in &row.failures {
            println!("FAILED {} N={}: {failure}", row.kind.name(), row.n);
        }
    }
    if !hello.is_empty() {
        let best = |f: fn(&(f64, f64)) -> f64| hello.iter().map(f).fold(f64::MAX, f64::min);
        let (floor, deploy) = (best(|s| s.0), best(|s| s.1));
        println!(
            "\nexamples/hello-world: `deploy --wait` against its two processes started by hand, \
             the frontend after the backend listens (best of {} runs)\n",
            hello.len()
        );
        println!(
            "{}",
            table(
                &["floor ms", "deploy --wait ms", "deploy/floor"],
                &[vec![
                    format!("{floor:.1}"),
                    format!("{deploy:.1}"),
                    format!("{:.2}", deploy / floor)
                ]]
            )
        );
    }
    if !rounds.is_empty() {
        println!(
            "\nMemory over rounds of deploying and deleting {memory_n} sleep nodes (RSS MB; \
             after: {} s after the delete)\n",
            SETTLED_AFTER.as_secs()
        );
        println!("{}", memory_table(&rounds));
    }
    if !idles.is_empty() {
        println!("\nIdle agent: context switches of all its threads\n");
        println!("{}", idle_table(&idles));
        for idle in &idles {
            println!(
                "\nBy thread name, {} (threads alive at both ends)\n",
                idle.label
            );
            println!("{}", idle_threads_table(idle));
        }
    }
    if !leftovers.is_empty() {
        println!(
            "\nInstance cgroups left after all deletes: {}",
            leftovers.join(", ")
        );
    }
    eprintln!(
        "deploy bench: done in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
}

/// The interpreter `python3` stands for (not a pyenv shim, a bash script whose start-up
/// would dominate).
fn real_python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH (the http workload needs it)");
    assert!(out.status.success(), "python3 -c failed");
    let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        Path::new(&path).is_file(),
        "python3's sys.executable {path:?} is no file"
    );
    path
}

// ---- the agent and the floor ----

/// The bench's agent ([`BenchAgent`]: dropping it deletes the services left, stops the
/// agent, kills what an instance left running and removes the temporary directory) and the
/// floor's interpreter. Dropping it also kills whatever a floor script left running.
struct Bench {
    agent: BenchAgent,
    python: Option<String>,
    clk_tck: f64,
}

impl Bench {
    fn start(python: Option<String>) -> Bench {
        Bench {
            agent: BenchAgent::start(NAME),
            python,
            clk_tck: clk_tck(),
        }
    }

    fn root(&self) -> &Path {
        self.agent.root.path()
    }

    /// examples/hello-world: (floor ms, deploy --wait ms). The floor starts the backend
    /// with `python3` as the agent does, waits until it listens, then the frontend with the
    /// backend's address, and waits until it listens.
    fn hello_world(&self, run: usize) -> (f64, f64) {
        let example = common::repo_root().join("examples/hello-world");
        let dir = self.root().join(format!("floor/hello-r{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ports = free_ports(2);
        let script = "set -u\ncd \"$1\"\n\
            listening() { until : 2>/dev/null <>\"/dev/tcp/127.0.0.1/$1\"; do \
            (( SECONDS < 60 )) || { echo \"port $1 never answered\" >&2; exit 1; }; sleep 0.005; done; }\n\
            PORT=$3 GREETING=hello setsid nohup python3 backend.py >\"$2/backend.log\" 2>&1 </dev/null &\n\
            echo $! >>\"$2/pids\"\nlistening \"$3\"\n\
            PORT=$4 BACKEND_HOST=127.0.0.1 BACKEND_PORT=$3 setsid nohup python3 frontend.py \
            >\"$2/frontend.log\" 2>&1 </dev/null &\n\
            echo $! >>\"$2/pids\"\nlistening \"$4\"\n";
        let mut floor = Command::new("bash");
        floor
            .args(["-c", script, "floor"])
            .arg(&example)
            .arg(&dir)
            .arg(ports[0].to_string())
            .arg(ports[1].to_string());
        let (floor_ms, out, _) = self.run_floor(floor, &dir);
        assert!(
            out.status.success(),
            "the hello-world floor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));

        let name = format!("hello-r{run}");
        let t = Instant::now();
        self.agent
            .cli_ok(&["deploy", &name, example.to_str().unwrap(), "--wait"]);
        let deploy_ms = ms(t.elapsed());
        self.check_running(&name, 2);
        self.agent.cli_ok(&["delete", &name, "--wait"]);
        eprintln!("deploy bench:   floor {floor_ms:.0} ms, deploy {deploy_ms:.0} ms");
        (floor_ms, deploy_ms)
    }

    /// The idle window with the plugin host made: a service whose property a Wasm
    /// function computes is deployed, then the agent is left alone. `None` without the
    /// plugin file.
    fn idle_with_plugin(&self, window: Duration) -> Option<Idle> {
        let plugin = common::repo_root().join("target/plugins/text-functions.wasm");
        if !plugin.is_file() {
            return None;
        }
        let dir = self.root().join("templates/plugin");
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        std::fs::copy(&plugin, dir.join("plugins/text-functions.wasm")).unwrap();
        std::fs::write(
            dir.join("service.yaml"),
            "tosca_definitions_version: tosca_2_0\n\
             imports:\n  - profile: io.khutulun:0.1\n\
             functions:\n  upper:\n    signatures:\n      - arguments: [ { type: string } ]\n        \
             result: { type: string }\n        implementation:\n          primary:\n            \
             file: plugins/text-functions.wasm\n            type: WasmPlugin\n\
             service_template:\n  node_templates:\n    app:\n      type: Process\n      \
             properties:\n        command: sleep\n        arguments: [ \"3600\" ]\n        \
             environment:\n          GREETING: { $upper: [ hello ] }\n",
        )
        .unwrap();
        self.agent
            .cli_ok(&["deploy", "plugin", dir.to_str().unwrap(), "--wait"]);
        eprintln!(
            "deploy bench: agent idle for {} s with a plugin loaded",
            window.as_secs()
        );
        let idle = self.idle_window("a plugin loaded (its service running)", window);
        self.agent.cli_ok(&["delete", "plugin", "--wait"]);
        Some(idle)
    }

    /// One memory round: deploy n sleep nodes, delete them, and the agent's RSS before and
    /// once its flow's threads are gone.
    fn memory_round(&self, n: usize, round: usize) -> MemoryRound {
        self.agent.check_alive();
        let pid = self.agent.pid();
        let name = format!("memory-{n}-r{round}");
        let dir = self.template(Kind::Sleep, n, &name);
        let timeout = (120 + n).to_string();
        let before = Rss::of(pid);
        self.agent.deploy_wait(&name, &dir, 120 + n);
        self.check_running(&name, n);
        let deployed = Rss::of(pid);
        self.agent
            .cli_ok(&["delete", &name, "--wait", "--timeout", &timeout]);
        self.check_gone(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::thread::sleep(SETTLED_AFTER);
        let after = Rss::of(pid);
        eprintln!(
            "deploy bench:   RSS {:.1} MB before, {:.1} deployed, {:.1} after",
            before.total(),
            deployed.total(),
            after.total()
        );
        MemoryRound {
            round,
            before,
            deployed,
            after,
        }
    }

    /// One run of (kind, n): floor, deploy, delete.
    fn run(&self, kind: Kind, n: usize, run: usize) -> Sample {
        self.agent.check_alive();
        let floor_ms = self.floor(kind, n, run);
        // Let the killed floor processes go before the agent is measured.
        std::thread::sleep(Duration::from_millis(300));

        let name = format!("{}-{n}-r{run}", kind.name());
        let dir = self.template(kind, n, &name);
        let timeout = (120 + n).to_string();
        let pid = self.agent.pid();

        let rss_before_mb = rss_mb(pid);
        let cpu = cpu_ticks(pid);
        let t = Instant::now();
        self.agent.deploy_wait(&name, &dir, 120 + n);
        let deploy_ms = ms(t.elapsed());
        let cpu_deploy_ms = self.ticks_ms(cpu_ticks(pid) - cpu);
        let rss_deployed_mb = rss_mb(pid);
        eprintln!(
            "deploy bench:   floor {floor_ms:.0} ms, deploy {deploy_ms:.0} ms (agent CPU {cpu_deploy_ms:.0} ms)"
        );
        self.check_running(&name, n);

        let cpu = cpu_ticks(pid);
        let t = Instant::now();
        self.agent
            .cli_ok(&["delete", &name, "--wait", "--timeout", &timeout]);
        let delete_ms = ms(t.elapsed());
        let cpu_delete_ms = self.ticks_ms(cpu_ticks(pid) - cpu);
        let rss_deleted_mb = rss_mb(pid);
        eprintln!("deploy bench:   delete {delete_ms:.0} ms (agent CPU {cpu_delete_ms:.0} ms)");
        self.check_gone(&name);
        let _ = std::fs::remove_dir_all(&dir);
        let rss_settled_mb = if n >= SINGLE_RUN_FROM {
            std::thread::sleep(SETTLED_AFTER);
            Some(rss_mb(pid))
        } else {
            std::thread::sleep(Duration::from_millis(300));
            None
        };

        Sample {
            floor_ms,
            deploy_ms,
            delete_ms,
            cpu_deploy_ms,
            cpu_delete_ms,
            rss_before_mb,
            rss_deployed_mb,
            rss_deleted_mb,
            rss_settled_mb,
        }
    }

    fn ticks_ms(&self, ticks: u64) -> f64 {
        ticks as f64 * 1000.0 / self.clk_tck
    }

    /// The command line of an http workload: a shell that execs python with the port.
    fn http_command(&self) -> String {
        let python = self
            .python
            .as_deref()
            .expect("python for the http workload");
        format!(
            "exec {} -m http.server \"$PORT\" --bind 127.0.0.1",
            shell_quote(python)
        )
    }

    /// Writes the service template of n nodes of `kind` into a directory of its own.
    fn template(&self, kind: Kind, n: usize, name: &str) -> PathBuf {
        let dir = self.root().join("templates").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut yaml = String::from(TEMPLATE_HEAD);
        for i in 0..n {
            match kind {
                Kind::Sleep => {
                    yaml.push_str(&sleep_node(i));
                    Ok(())
                }
                Kind::Http => write!(
                    yaml,
                    "    n{i}:\n      type: Process\n      properties:\n        \
                     command: sh\n        arguments: [ \"-c\", {} ]\n      \
                     capabilities:\n        endpoint:\n          properties:\n            \
                     port: 0\n",
                    // A JSON string is a YAML flow scalar.
                    serde_json::to_string(&self.http_command()).unwrap()
                ),
            }
            .unwrap();
        }
        std::fs::write(dir.join("service.yaml"), yaml).unwrap();
        dir
    }

    /// Every instance of the service runs, with a live pid (not timed).
    fn check_running(&self, name: &str, n: usize) {
        let text = self.agent.cli_ok(&["instances", name, "-o", "json"]);
        let instances: serde_json::Value = serde_json::from_str(&text).unwrap();
        let instances = instances.as_array().expect("a list of instances");
        assert_eq!(instances.len(), n, "{name}: {} instances", instances.len());
        for instance in instances {
            let pid = instance["pid"].as_u64().unwrap_or(0) as u32;
            assert!(
                instance["state"] == "running" && pid != 0 && common::process_alive(pid),
                "{name}: instance not running after deploy --wait: {instance}"
            );
        }
    }

    /// Nothing of the service runs any more (not timed).
    fn check_gone(&self, name: &str) {
        let marker = self
            .agent
            .data_dir()
            .join("instances")
            .join("default")
            .join(name);
        let left = marked_pids("KHUTULUN_INSTANCE_DIR=", &marker);
        assert!(
            left.is_empty(),
            "{name}: processes left after delete --wait: {left:?}"
        );
    }

    /// The floor: a bash script starts the n processes by hand and waits until all are
    /// ready. Its wall time in ms; the processes are killed afterwards (not timed).
    fn floor(&self, kind: Kind, n: usize, run: usize) -> f64 {
        let dir = self
            .root()
            .join("floor")
            .join(format!("{}-{n}-r{run}", kind.name()));
        std::fs::create_dir_all(dir.join("log")).unwrap();
        // Give up (and fail the run) when the processes are not ready by then.
        let deadline_secs = 60 + n / 2;
        let mut script = String::from("set -u\ncd \"$1\"\npids=()\n");
        match kind {
            Kind::Sleep => {
                writeln!(
                    script,
                    "for ((i = 0; i < {n}; i++)); do\n  \
                     setsid nohup sleep 3600 >\"log/$i.log\" 2>&1 </dev/null &\n  \
                     pids+=($!)\ndone\n\
                     printf '%s\\n' \"${{pids[@]}}\" >pids\n\
                     for p in \"${{pids[@]}}\"; do\n  \
                     until read -r c 2>/dev/null <\"/proc/$p/comm\" && [ \"$c\" = sleep ]; do\n    \
                     (( SECONDS < {deadline_secs} )) || {{ echo \"pid $p never ran sleep\" >&2; exit 1; }}\n    \
                     sleep 0.005\n  done\ndone"
                )
                .unwrap();
            }
            Kind::Http => {
                let ports = free_ports(n);
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                writeln!(
                    script,
                    "ports=({})\ncommand={}\n\
                     for i in \"${{!ports[@]}}\"; do\n  \
                     PORT=${{ports[$i]}} setsid nohup sh -c \"$command\" >\"log/$i.log\" 2>&1 </dev/null &\n  \
                     pids+=($!)\ndone\n\
                     printf '%s\\n' \"${{pids[@]}}\" >pids\n\
                     for port in \"${{ports[@]}}\"; do\n  \
                     until : 2>/dev/null <>\"/dev/tcp/127.0.0.1/$port\"; do\n    \
                     (( SECONDS < {deadline_secs} )) || {{ echo \"port $port never answered\" >&2; exit 1; }}\n    \
                     sleep 0.005\n  done\ndone",
                    ports.join(" "),
                    shell_quote(&self.http_command())
                )
                .unwrap();
            }
        }
        let path = dir.join("floor.sh");
        std::fs::write(&path, script).unwrap();

        let mut floor = Command::new("bash");
        floor.arg(&path).arg(&dir);
        let (elapsed, out, pids) = self.run_floor(floor, &dir);
        assert!(
            out.status.success(),
            "the floor script failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(pids.len(), n, "the floor started {} processes", pids.len());
        let _ = std::fs::remove_dir_all(&dir);
        elapsed
    }

    /// Runs a floor script (its processes marked for cleanup), timed; then ends the
    /// processes whose pids it wrote to `<dir>/pids`. (ms, its output, those pids.)
    fn run_floor(&self, mut script: Command, dir: &Path) -> (f64, Output, Vec<u32>) {
        let t = Instant::now();
        let out = script
            .env(FLOOR_MARK, self.root())
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        let elapsed = ms(t.elapsed());
        let pids: Vec<u32> = std::fs::read_to_string(dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        kill_and_wait(NAME, &pids);
        (elapsed, out, pids)
    }

    /// After a failed run: no floor process left, no service left.
    fn recover(&self) {
        kill_and_wait(NAME, &marked_pids(&format!("{FLOOR_MARK}="), self.root()));
        if self.agent.is_alive() {
            self.agent.delete_all();
        }
    }

    /// Context switches of all the agent's threads over `window`, nothing else happening.
    fn idle_window(&self, label: &'static str, window: Duration) -> Idle {
        let pid = self.agent.pid();
        let before = thread_switches(pid);
        std::thread::sleep(window);
        let after = thread_switches(pid);
        self.agent.check_alive();
        let mut switches = 0;
        let mut busiest_thread = 0;
        let mut by_name: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        for (tid, (name, count)) in &after {
            if let Some((_, was)) = before.get(tid) {
                let delta = count.saturating_sub(*was);
                switches += delta;
                busiest_thread = busiest_thread.max(delta);
                let entry = by_name.entry(name.clone()).or_default();
                entry.0 += 1;
                entry.1 += delta;
            }
        }
        Idle {
            label,
            window,
            switches,
            threads_before: before.len(),
            threads_after: after.len(),
            by_name,
            busiest_thread,
            rss_anon_mb: status_mb(pid, "RssAnon:"),
            rss_file_mb: status_mb(pid, "RssFile:"),
        }
    }
}

/// The agent's resident memory: anonymous (its heap and stacks) and file-backed (pages of
/// its binary it has touched, shared with the page cache).
#[derive(Clone, Copy, Debug)]
struct Rss {
    anon_mb: f64,
    file_mb: f64,
}

impl Rss {
    fn of(pid: u32) -> Rss {
        Rss {
            anon_mb: status_mb(pid, "RssAnon:"),
            file_mb: status_mb(pid, "RssFile:"),
        }
    }

    fn total(&self) -> f64 {
        self.anon_mb + self.file_mb
    }
}

struct MemoryRound {
    round: usize,
    before: Rss,
    deployed: Rss,
    after: Rss,
}

fn memory_table(rounds: &[MemoryRound]) -> String {
    let rows: Vec<Vec<String>> = rounds
        .iter()
        .map(|r| {
            vec![
                r.round.to_string(),
                format!("{:.1}", r.before.anon_mb),
                format!("{:.1}", r.before.file_mb),
                format!("{:.1}", r.deployed.total()),
                format!("{:.1}", r.after.anon_mb),
                format!("{:.1}", r.after.file_mb),
                format!(
                    "{:+.1}%",
                    (r.after.total() / r.before.total() - 1.0) * 100.0
                ),
            ]
        })
        .collect();
    table(
        &[
            "round",
            "anon before",
            "file before",
            "total deployed",
            "anon after",
            "file after",
            "total after / before",
        ],
        &rows,
    )
}

/// A memory field of /proc/<pid>/status, in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

impl Drop for Bench {
    fn drop(&mut self) {
        // The agent and its instances go with `agent`, right after this.
        let left = marked_pids(&format!("{FLOOR_MARK}="), self.root());
        if !left.is_empty() {
            eprintln!(
                "{NAME} bench: cleanup: killing {} leftover floor processes",
                left.len()
            );
            kill_and_wait(NAME, &left);
        }
    }
}

/// n ports of the floor's range that nothing listens on.
fn free_ports(n: usize) -> Vec<u16> {
    let ports: Vec<u16> = (FLOOR_PORTS.0..=FLOOR_PORTS.1)
        .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .take(n)
        .collect();
    assert_eq!(ports.len(), n, "not {n} free ports in {FLOOR_PORTS:?}");
    ports
}

// ---- tables ----

fn best(samples: &[Sample], metric: impl Fn(&Sample) -> f64) -> Option<f64> {
    samples.iter().map(metric).min_by(f64::total_cmp)
}

fn summary_table(rows: &[Row]) -> String {
    let lines = rows
        .iter()
        .map(|row| {
            let n = row.n as f64;
            let per_node = |metric: fn(&Sample) -> f64| {
                best(&row.samples, metric).map_or("-".into(), |v| format!("{:.2}", v / n))
            };
            let ratio = match (
                best(&row.samples, |s| s.deploy_ms),
                best(&row.samples, |s| s.floor_ms),
            ) {
                (Some(deploy), Some(floor)) if floor > 0.0 => format!("{:.1}", deploy / floor),
                _ => "-".into(),
            };
            let rss = |metric: fn(&Sample) -> f64| {
                row.samples
                    .last()
                    .map_or("-".into(), |s| format!("{:.1}", metric(s)))
            };
            let runs = if row.failures.is_empty() {
                row.samples.len().to_string()
            } else {
                format!("{} ({} failed)", row.samples.len(), row.failures.len())
            };
            vec![
                row.kind.name().to_string(),
                row.n.to_string(),
                runs,
                per_node(|s| s.floor_ms),
                per_node(|s| s.deploy_ms),
                ratio,
                per_node(|s| s.delete_ms),
                per_node(|s| s.cpu_deploy_ms),
                per_node(|s| s.cpu_delete_ms),
                rss(|s| s.rss_before_mb),
                rss(|s| s.rss_deployed_mb),
                rss(|s| s.rss_deleted_mb),
                row.samples
                    .last()
                    .and_then(|s| s.rss_settled_mb)
                    .map_or("-".into(), |mb| format!("{mb:.1}")),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &[
            "kind",
            "N",
            "runs",
            "floor ms/node",
            "deploy ms/node",
            "deploy/floor",
            "delete ms/node",
            "agent CPU ms/node (deploy)",
            "agent CPU ms/node (delete)",
            "RSS MB before",
            "RSS MB deployed",
            "RSS MB deleted",
            "RSS MB 5 s later",
        ],
        &lines,
    )
}

fn runs_table(rows: &[Row]) -> String {
    let mut lines = Vec::new();
    for row in rows {
        for (i, s) in row.samples.iter().enumerate() {
            lines.push(vec![
                row.kind.name().to_string(),
                row.n.to_string(),
                (i + 1).to_string(),
                format!("{:.0}", s.floor_ms),
                format!("{:.0}", s.deploy_ms),
                format!("{:.0}", s.delete_ms),
                format!("{:.0}", s.cpu_deploy_ms),
                format!("{:.0}", s.cpu_delete_ms),
            ]);
        }
    }
    table(
        &[
            "kind",
            "N",
            "run",
            "floor ms",
            "deploy ms",
            "delete ms",
            "agent CPU ms (deploy)",
            "agent CPU ms (delete)",
        ],
        &lines,
    )
}

fn idle_table(idles: &[Idle]) -> String {
    let lines = idles
        .iter()
        .map(|idle| {
            let secs = idle.window.as_secs_f64();
            vec![
                idle.label.to_string(),
                format!("{secs:.0}"),
                idle.switches.to_string(),
                format!("{:.1}", idle.switches as f64 / secs),
                format!("{:.1}", idle.busiest_thread as f64 / secs),
                idle.threads_before.to_string(),
                idle.threads_after.to_string(),
                format!("{:.1}", idle.rss_anon_mb),
                format!("{:.1}", idle.rss_file_mb),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &[
            "agent",
            "window s",
            "context switches",
            "per s",
            "busiest thread per s",
            "threads at start",
            "threads at end",
            "RSS anon MB at end",
            "RSS file MB at end",
        ],
        &lines,
    )
}

fn idle_threads_table(idle: &Idle) -> String {
    let mut names: Vec<(&String, &(usize, u64))> = idle.by_name.iter().collect();
    names.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
    let lines = names
        .into_iter()
        .map(|(name, (threads, switches))| {
            vec![name.clone(), threads.to_string(), switches.to_string()]
        })
        .collect::<Vec<_>>();
    table(&["thread name", "threads", "context switches"], &lines)
}
