//! Benchmarks in the NFS lab (tests/common/uml.rs: Linux's NFS server and three client
//! hosts in User-Mode Linux guests, the agents' state directory on NFSv4.2), printed as
//! plain-text tables:
//!
//! 1. Failover time after a host crash, for each agent lease period P: a fresh lab per run,
//!    three agents (`--lease-period P --clock-skew 1 --gossip-profile fast`, nfsd's lease
//!    10 s), one `Process` instance; its host is crashed and a surviving host's `instances`
//!    is polled until the instance runs elsewhere.
//! 2. NFS operations (the per-op counters of the `/mnt/state` mount in each guest's
//!    /proc/self/mountstats) of a `deploy --wait`, of a `khutulun services`, and of an idle
//!    minute per host. With `KHUTULUN_BASELINE_BIN`, also for another (older) khutulun
//!    binary, side by side.
//!
//! ```sh
//! cargo bench -p khutulun --bench nfs_lab
//! KH_BENCH_LEASES=10,30 KH_BENCH_RUNS=3 cargo bench -p khutulun --bench nfs_lab
//! KH_BENCH_LEASES= KHUTULUN_BASELINE_BIN=/path/to/old/khutulun cargo bench -p khutulun --bench nfs_lab
//! ```
//!
//! `KH_BENCH_LEASES`: lease periods in seconds (default `10,30,90`; empty skips part 1).
//! `KH_BENCH_RUNS`: runs per lease period (default 1). Needs what the lab needs (root,
//! /dev/net/tun, `scripts/setup`'s packages); without it, prints why and does nothing.
//! Progress goes to stderr, the tables to stdout at the end.

#[path = "../tests/common/mod.rs"]
mod common;

use common::eventually;
use common::uml::{uml_unavailable_reason, LabConfig, UmlLab, MOUNT_POINT};
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// nfsd's lease (its minimum): no longer than any agent lease measured here.
const SERVER_LEASE_SECS: u32 = 10;
/// The agents' `--clock-skew` in the failover runs.
const SKEW: u64 = 1;
/// The agents' lease in the NFS-operations scenarios (the default).
const OPS_LEASE: u64 = 30;
const IDLE: Duration = Duration::from_secs(60);
const TOP_OPS: usize = 6;

const FAILOVER_TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    one:
      type: Process
      properties:
        command: sleep
        arguments: [ "86401" ]
        restart: always
"#;

const OPS_TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    one:
      type: Process
      properties:
        command: sleep
        arguments: [ "86401" ]
        restart: always
    two:
      type: Process
      properties:
        command: sleep
        arguments: [ "86402" ]
        restart: always
"#;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` (and nextest's --list) do
    // not: minutes of labs belong to `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("nfs_lab: a benchmark; run it with `cargo bench -p khutulun --bench nfs_lab`");
        return;
    }
    if let Some(reason) = uml_unavailable_reason() {
        eprintln!("nfs_lab bench: skipped: {reason}");
        return;
    }
    let leases: Vec<u64> = std::env::var("KH_BENCH_LEASES")
        .unwrap_or_else(|_| "10,30,90".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .expect("KH_BENCH_LEASES: seconds, comma-separated")
        })
        .collect();
    let runs: usize = std::env::var("KH_BENCH_RUNS")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("KH_BENCH_RUNS: a number"))
        .unwrap_or(1);
    let baseline = std::env::var_os("KHUTULUN_BASELINE_BIN")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if let Some(bin) = &baseline {
        assert!(
            bin.is_file(),
            "KHUTULUN_BASELINE_BIN: no file {}",
            bin.display()
        );
    }
    let started = Instant::now();

    let mut failover: Vec<(u64, Vec<Option<f64>>)> = Vec::new();
    for &lease in &leases {
        let times = (1..=runs)
            .map(|run| {
                let what = format!("failover, lease {lease} s, run {run}/{runs}");
                attempt(&what, || failover_run(lease)).ok()
            })
            .collect();
        failover.push((lease, times));
    }

    let mut columns: Vec<(&str, OpsResult)> = Vec::new();
    if let Some(bin) = baseline {
        let build = Build::Baseline(bin);
        columns.push(("baseline", attempt("NFS ops, baseline", || ops_run(&build))));
    }
    columns.push((
        "this build",
        attempt("NFS ops, this build", || ops_run(&Build::This)),
    ));

    if !failover.is_empty() {
        println!(
            "\nFailover after a host crash (3 hosts, nfsd lease {SERVER_LEASE_SECS} s, clock skew {SKEW} s, gossip fast)\n"
        );
        println!("{}", failover_table(&failover));
    }
    println!("\nNFS operations on {MOUNT_POINT} (per-op counters of /proc/self/mountstats; agents with --lease-period {OPS_LEASE})\n");
    println!("{}", ops_table(&columns));
    eprintln!(
        "nfs_lab bench: done in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
}

/// Runs `f`; a panic (a lab that did not boot, an agent that did not answer...) is reported
/// on stderr and becomes an error, so the other measurements still run. The lab is dropped
/// (guests killed, network removed) while the panic unwinds.
fn attempt<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    eprintln!("nfs_lab bench: {what}");
    let started = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    });
    match &result {
        Ok(_) => eprintln!(
            "nfs_lab bench: {what}: done in {:.0} s",
            started.elapsed().as_secs_f64()
        ),
        // The panic's whole message is above (the panic hook printed it).
        Err(e) => eprintln!(
            "nfs_lab bench: {what}: FAILED: {}",
            e.lines().next().unwrap_or_default()
        ),
    }
    result
}

// ---- clusters ----

/// The khutulun whose agents and CLI a scenario runs.
#[derive(Clone)]
enum Build {
    /// This build: the harness's `spawn_agent` and `cli`.
    This,
    /// Another binary (an older build): agents started and the CLI run here, the same way.
    Baseline(PathBuf),
}

impl Build {
    /// Lease options: older builds do not know them.
    fn lease_args(&self, lease: u64, skew: Option<u64>) -> Vec<String> {
        match self {
            Build::This => {
                let mut args = vec!["--lease-period".to_string(), lease.to_string()];
                if let Some(skew) = skew {
                    args.extend(["--clock-skew".to_string(), skew.to_string()]);
                }
                args
            }
            Build::Baseline(_) => Vec::new(),
        }
    }
}

/// A fresh lab with an agent on each of its three clients, all seeing each other alive.
/// Dropping it removes the lab (the agents and their workloads die with the guests).
struct Cluster {
    lab: UmlLab,
    build: Build,
    /// The baseline binary where guests see it (their /tmp is their own).
    guest_bin: Option<String>,
}

impl Cluster {
    fn start(build: &Build, agent_args: &[String]) -> Cluster {
        let lab = UmlLab::new(LabConfig {
            clients: 3,
            server_lease_secs: SERVER_LEASE_SECS,
            ..LabConfig::default()
        });
        let guest_bin = match build {
            Build::This => None,
            Build::Baseline(bin) => {
                let copy = lab.dir().join("khutulun-baseline");
                std::fs::copy(bin, &copy).expect("copy the baseline binary into the lab");
                Some(copy.display().to_string())
            }
        };
        let cluster = Cluster {
            lab,
            build: build.clone(),
            guest_bin,
        };
        for guest in cluster.lab.clients() {
            let mut args = agent_args.to_vec();
            args.extend(["--gossip-profile".into(), "fast".into()]);
            if guest != 1 {
                args.extend(["--seed".into(), format!("{}:8183", cluster.lab.guest_ip(1))]);
            }
            cluster.start_agent(guest, &args);
        }
        for via in cluster.lab.clients() {
            let joined = eventually(Duration::from_secs(60), || {
                let hosts = cluster.json(via, &["hosts"])?;
                let alive = hosts
                    .as_array()?
                    .iter()
                    .filter(|h| h["state"] == "alive")
                    .count();
                (alive == 3).then_some(())
            });
            assert!(
                joined.is_some(),
                "{} never saw three hosts",
                cluster.lab.name(via)
            );
        }
        cluster
    }

    /// `spawn_agent` for this build; for a baseline, with its binary.
    fn start_agent(&self, guest: usize, args: &[String]) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match &self.guest_bin {
            Some(bin) => self.lab.spawn_agent_with(bin, guest, &args),
            None => self.lab.spawn_agent(guest, &args),
        };
    }

    /// `lab.cli` for this build; for a baseline, with its binary.
    fn cli(&self, via: usize, args: &[&str]) -> Output {
        match &self.build {
            Build::Baseline(bin) => {
                self.lab
                    .cli_with(bin.to_str().expect("a UTF-8 path"), via, args)
            }
            _ => self.lab.cli(via, args),
        }
    }

    /// `-o json` output, or None when the command fails (e.g. while a host is failing over).
    fn json(&self, via: usize, args: &[&str]) -> Option<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.cli(via, &all);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    fn deploy(&self, via: usize, service: &str, template: &str) {
        let dir = common::template_dir(&[("service.yaml", template)]);
        let out = self.cli(
            via,
            &[
                "deploy",
                service,
                dir.path().to_str().unwrap(),
                "--wait",
                "--timeout",
                "120",
            ],
        );
        assert!(
            out.status.success(),
            "deploy {service} via {}: {}\n{}",
            self.lab.name(via),
            String::from_utf8_lossy(&out.stderr),
            self.lab.agent_log(via)
        );
    }

    /// (host, state) of a service's instance of `node`, as `via` sees it.
    fn placement(&self, via: usize, service: &str, node: &str) -> Option<(String, String)> {
        let instances = self.json(via, &["instances", service])?;
        let instance = instances.as_array()?.iter().find(|i| i["node"] == node)?;
        Some((
            instance["host"].as_str()?.to_owned(),
            instance["state"].as_str()?.to_owned(),
        ))
    }

    fn guest_named(&self, name: &str) -> usize {
        self.lab
            .clients()
            .find(|g| self.lab.name(*g) == name)
            .unwrap_or_else(|| panic!("no guest {name}"))
    }
}

// ---- 1. failover ----

/// One crash in a fresh lab: seconds from the crash until a surviving host's `instances`
/// shows the instance running on another host.
fn failover_run(lease: u64) -> f64 {
    let build = Build::This;
    let cluster = Cluster::start(&build, &build.lease_args(lease, Some(SKEW)));
    cluster.deploy(1, "failover", FAILOVER_TEMPLATE);
    let (from, state) = cluster
        .placement(1, "failover", "one")
        .expect("the deployed instance");
    assert_eq!(state, "running", "after deploy --wait");
    let victim = cluster.guest_named(&from);
    let survivor = cluster.lab.clients().find(|g| *g != victim).unwrap();
    eprintln!("nfs_lab bench: crashing {from} (lease {lease} s)");
    let crashed = Instant::now();
    cluster.lab.crash(victim);
    let limit = Duration::from_secs(lease + SKEW + 90);
    let moved = eventually(limit, || {
        let (host, state) = cluster.placement(survivor, "failover", "one")?;
        (host != from && state == "running").then_some(host)
    });
    let took = crashed.elapsed().as_secs_f64();
    match moved {
        Some(to) => {
            eprintln!(
                "nfs_lab bench: lease {lease} s: running on {to} {took:.1} s after the crash"
            );
            took
        }
        None => panic!(
            "the instance did not leave {from} within {limit:?}; {} says {:?}; its log:\n{}",
            cluster.lab.name(survivor),
            cluster.placement(survivor, "failover", "one"),
            cluster.lab.agent_log(survivor)
        ),
    }
}

fn failover_table(results: &[(u64, Vec<Option<f64>>)]) -> String {
    let rows = results
        .iter()
        .map(|(lease, times)| {
            let fenced_after = lease + SKEW;
            let runs = times
                .iter()
                .map(|t| t.map_or("failed".into(), |t| format!("{t:.1}")))
                .collect::<Vec<_>>()
                .join(" / ");
            let median = median(times.iter().flatten().copied().collect());
            vec![
                lease.to_string(),
                fenced_after.to_string(),
                runs,
                median.map_or("-".into(), |m| format!("{m:.1}")),
                median.map_or("-".into(), |m| format!("{:+.1}", m - fenced_after as f64)),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &[
            "lease P (s)",
            "P + skew (s)",
            "failover (s), each run",
            "median (s)",
            "median - (P + skew) (s)",
        ],
        &rows,
    )
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

// ---- 2. NFS operations ----

/// A client's NFS counters on the state mount: operations by name, and RPCs sent on its
/// transport(s) (`xprt:` sends; those also carry the NFS client's own lease renewals,
/// which the per-op counters do not show).
#[derive(Default, Clone)]
struct OpCounts {
    ops: BTreeMap<String, u64>,
    rpcs: u64,
}

impl OpCounts {
    fn total(&self) -> u64 {
        self.ops.values().sum()
    }

    fn since(&self, before: &OpCounts) -> OpCounts {
        OpCounts {
            ops: self
                .ops
                .iter()
                .map(|(op, n)| {
                    let was = before.ops.get(op).copied().unwrap_or(0);
                    (op.clone(), n.saturating_sub(was))
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            rpcs: self.rpcs.saturating_sub(before.rpcs),
        }
    }

    fn add(&mut self, other: &OpCounts) {
        for (op, n) in &other.ops {
            *self.ops.entry(op.clone()).or_default() += n;
        }
        self.rpcs += other.rpcs;
    }

    /// "GETATTR 12, OPEN 8, ...": the most frequent first.
    fn top(&self, count: usize) -> String {
        let mut ops: Vec<(&String, &u64)> = self.ops.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        ops.iter()
            .take(count)
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The counters of the NFS mount on `mountpoint` in a /proc/self/mountstats text: after
/// `per-op statistics`, each `OP: count transmissions ...` line; and the `xprt:` lines'
/// sends (`xprt: tcp port bind_count connect_count connect_time idle_time sends ...`).
fn parse_mountstats(text: &str, mountpoint: &str) -> OpCounts {
    let mut counts = OpCounts::default();
    let mut in_mount = false;
    let mut in_ops = false;
    for line in text.lines() {
        let line_trimmed = line.trim();
        if line.starts_with("device ") {
            in_mount = line.contains(&format!(" mounted on {mountpoint} with fstype nfs"));
            in_ops = false;
        } else if !in_mount {
            continue;
        } else if line_trimmed == "per-op statistics" {
            in_ops = true;
        } else if let Some(xprt) = line_trimmed.strip_prefix("xprt:") {
            let fields: Vec<&str> = xprt.split_whitespace().collect();
            if fields.first() == Some(&"tcp") {
                counts.rpcs += fields.get(6).and_then(|s| s.parse().ok()).unwrap_or(0);
            }
        } else if in_ops {
            if let Some((op, numbers)) = line_trimmed.split_once(':') {
                if let Some(Ok(n)) = numbers.split_whitespace().next().map(str::parse::<u64>) {
                    counts.ops.insert(op.to_owned(), n);
                }
            }
        }
    }
    counts
}

fn op_counts(lab: &UmlLab, guest: usize) -> OpCounts {
    let counts = parse_mountstats(&lab.ok(guest, "cat /proc/self/mountstats"), MOUNT_POINT);
    assert!(
        !counts.ops.is_empty(),
        "no per-op statistics for {MOUNT_POINT} in {}'s /proc/self/mountstats",
        lab.name(guest)
    );
    counts
}

/// The NFS operations of `action`, counted on `guests` (summed).
fn ops_of(lab: &UmlLab, guests: &[usize], action: impl FnOnce()) -> OpCounts {
    let before: Vec<OpCounts> = guests.iter().map(|g| op_counts(lab, *g)).collect();
    action();
    let mut sum = OpCounts::default();
    for (g, was) in guests.iter().zip(&before) {
        sum.add(&op_counts(lab, *g).since(was));
    }
    sum
}

/// One build's NFS-operations rows (scenario, counts), or why they failed.
type OpsResult = Result<Vec<(String, OpCounts)>, String>;

/// The NFS-operations scenarios in one lab: (scenario, counts) rows.
fn ops_run(build: &Build) -> Vec<(String, OpCounts)> {
    let cluster = Cluster::start(build, &build.lease_args(OPS_LEASE, None));
    let lab = &cluster.lab;
    let all: Vec<usize> = lab.clients().collect();
    let mut rows = Vec::new();

    eprintln!("nfs_lab bench: deploy --wait of 2 Process nodes");
    let deploy = ops_of(lab, &all, || cluster.deploy(1, "svc", OPS_TEMPLATE));
    rows.push((
        "deploy --wait, 2 Process nodes (via c1; c1+c2+c3)".into(),
        deploy,
    ));

    let services = ops_of(lab, &[1], || {
        let out = cluster.cli(1, &["services"]);
        assert!(
            out.status.success(),
            "khutulun services: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    rows.push(("khutulun services (via c1; c1)".into(), services));

    // Let the deploy's after-effects settle, then an idle minute on every host.
    std::thread::sleep(Duration::from_secs(5));
    eprintln!("nfs_lab bench: {} s idle", IDLE.as_secs());
    let before: Vec<OpCounts> = all.iter().map(|g| op_counts(lab, *g)).collect();
    std::thread::sleep(IDLE);
    for (g, was) in all.iter().zip(&before) {
        let idle = op_counts(lab, *g).since(was);
        rows.push((
            format!("idle {} s, 1 service ({})", IDLE.as_secs(), lab.name(*g)),
            idle,
        ));
    }
    rows
}

fn ops_table(columns: &[(&str, OpsResult)]) -> String {
    let mut headers = vec!["scenario".to_string()];
    for (name, _) in columns {
        headers.extend([
            format!("{name}: ops"),
            format!("{name}: RPCs"),
            format!("{name}: top {TOP_OPS} ops"),
        ]);
    }
    // Scenarios in the order of the first column that has them.
    let mut scenarios: Vec<String> = Vec::new();
    for (_, rows) in columns {
        for (scenario, _) in rows.iter().flatten() {
            if !scenarios.contains(scenario) {
                scenarios.push(scenario.clone());
            }
        }
    }
    if scenarios.is_empty() {
        scenarios.push("(every run failed: see stderr)".into());
    }
    let rows: Vec<Vec<String>> = scenarios
        .iter()
        .map(|scenario| {
            let mut row = vec![scenario.clone()];
            for (_, rows) in columns {
                match rows
                    .as_ref()
                    .ok()
                    .and_then(|rows| rows.iter().find(|(s, _)| s == scenario))
                {
                    Some((_, counts)) => row.extend([
                        counts.total().to_string(),
                        counts.rpcs.to_string(),
                        counts.top(TOP_OPS),
                    ]),
                    None => row.extend(["failed".into(), "-".into(), "-".into()]),
                }
            }
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows)
}

// ---- tables ----

/// Columns padded to their widest cell, separated by two spaces, under a rule.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![
        line(headers.to_vec()),
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    ];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}
