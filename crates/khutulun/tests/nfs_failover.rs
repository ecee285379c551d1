//! The cluster on real NFS: three client hosts (each its own Linux kernel and NFS client, in
//! User-Mode Linux guests) share a state directory exported by Linux's own NFS server
//! (NFSv4.2, a 10 s server lease), and run the real agent. A host's agent and workloads
//! killed, a whole host crashed, a host cut off for longer and for shorter than the lease:
//! throughout, a sampler asks every host's processes (not the state) every 100 ms whether
//! an instance runs on two hosts at once, and the surviving agents' APIs must answer within
//! 1 s. Mounts the agent must refuse (default lookup cache, NFSv3) are refused with the fix.
//! Failover times are printed.

mod common;

use common::eventually;
use common::uml::{uml_unavailable_reason, LabConfig, UmlLab, MOUNT_POINT};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The agents' lease: no shorter than the server's 10 s.
const LEASE: u64 = 12;
const SKEW: u64 = 1;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    tag: { type: string, default: first }
  node_templates:
    one:
      type: Process
      properties:
        command: sleep
        arguments: [ "86401" ]
        environment: { TAG: { $get_input: tag } }
        restart: always
    two:
      type: Process
      properties:
        command: sleep
        arguments: [ "86402" ]
        environment: { TAG: { $get_input: tag } }
        restart: always
"#;

/// The processes the sampler looks for: one per instance.
const MARKERS: [(&str, &str); 2] = [("one", "(^|/)sleep 86401$"), ("two", "(^|/)sleep 86402$")];

fn lab_or_skip() -> Option<UmlLab> {
    if let Some(reason) = uml_unavailable_reason() {
        eprintln!("skipping: {reason}");
        return None;
    }
    Some(UmlLab::new(LabConfig::default()))
}

fn agent_args(lab: &UmlLab, guest: usize) -> Vec<String> {
    let mut args: Vec<String> = [
        "--lease-period",
        &LEASE.to_string(),
        "--clock-skew",
        &SKEW.to_string(),
        "--gossip-profile",
        "fast",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if guest != 1 {
        args.extend(["--seed".into(), format!("{}:8183", lab.guest_ip(1))]);
    }
    args
}

fn start_agent(lab: &UmlLab, guest: usize) -> u32 {
    let args = agent_args(lab, guest);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.spawn_agent(guest, &args)
}

fn json(lab: &UmlLab, via: usize, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = lab.cli(via, &all);
    assert!(
        out.status.success(),
        "khutulun {args:?} via {} failed: {}\n{}",
        lab.name(via),
        String::from_utf8_lossy(&out.stderr),
        lab.agent_log(via)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts the three agents and waits until each sees the others alive.
fn start_cluster(lab: &UmlLab) -> Vec<u32> {
    let pids: Vec<u32> = lab.clients().map(|guest| start_agent(lab, guest)).collect();
    for via in lab.clients() {
        let joined = eventually(Duration::from_secs(60), || {
            let hosts = json(lab, via, &["hosts"]);
            let alive = hosts
                .as_array()?
                .iter()
                .filter(|h| h["state"] == "alive")
                .count();
            (alive == 3).then_some(())
        });
        assert!(joined.is_some(), "{} never saw three hosts", lab.name(via));
    }
    pids
}

fn deploy(lab: &UmlLab, via: usize, tag: &str) {
    let dir = common::template_dir(&[("service.yaml", TEMPLATE)]);
    let out = lab.cli(
        via,
        &[
            "deploy",
            "svc",
            dir.path().to_str().unwrap(),
            "-i",
            &format!("tag={tag}"),
            "--wait",
            "--timeout",
            "120",
        ],
    );
    assert!(
        out.status.success(),
        "deploy via {}: {}\n{}",
        lab.name(via),
        String::from_utf8_lossy(&out.stderr),
        lab.agent_log(via)
    );
}

fn instance(lab: &UmlLab, via: usize, node: &str) -> Value {
    json(lab, via, &["instances", "svc"])
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["node"] == node)
        .cloned()
        .unwrap_or_else(|| panic!("no instance of {node}"))
}

fn guest_named(lab: &UmlLab, name: &str) -> usize {
    lab.clients()
        .find(|g| lab.name(*g) == name)
        .unwrap_or_else(|| panic!("no guest {name}"))
}

/// Waits until `node` runs on a host other than `from`; returns that host and how long it
/// took from `since`.
fn wait_moved(
    lab: &UmlLab,
    via: usize,
    node: &str,
    from: &str,
    since: Instant,
    limit: Duration,
) -> (String, Duration) {
    let moved = eventually(limit, || {
        let i = instance(lab, via, node);
        (i["host"] != from && i["state"] == "running")
            .then(|| i["host"].as_str().unwrap().to_owned())
    });
    match moved {
        Some(host) => (host, since.elapsed()),
        None => {
            lab.print_consoles();
            for g in lab.clients() {
                if lab.is_up(g) {
                    eprintln!("--- agent log of {}:\n{}", lab.name(g), lab.agent_log(g));
                }
            }
            panic!(
                "{node} did not move off {from} within {limit:?}: {}",
                instance(lab, via, node)
            )
        }
    }
}

/// The 100 ms sampler: per instance, on how many hosts its process runs (asking each
/// host's processes); and whether the APIs of the hosts in `watched` answer within 1 s.
struct Sampler {
    running: Arc<AtomicBool>,
    watched: Arc<Mutex<Vec<usize>>>,
    report: Arc<Mutex<Report>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default, Debug, Clone)]
struct Report {
    samples: usize,
    twice: Vec<String>,
    slow_api: Vec<String>,
    worst_api: Duration,
    elapsed: Duration,
}

impl Sampler {
    fn start(lab: &Arc<UmlLab>) -> Sampler {
        // The sampler must see what it looks for: each instance on exactly one host.
        for (node, marker) in MARKERS {
            let on: Vec<&str> = lab
                .clients()
                .filter(|g| !lab.pids_matching(*g, marker).is_empty())
                .map(|g| lab.name(g))
                .collect();
            assert_eq!(on.len(), 1, "the sampler finds {node} on {on:?}");
        }
        let running = Arc::new(AtomicBool::new(true));
        let watched = Arc::new(Mutex::new(lab.clients().collect::<Vec<_>>()));
        let report = Arc::new(Mutex::new(Report::default()));
        let thread = {
            let (lab, running, watched, report) = (
                lab.clone(),
                running.clone(),
                watched.clone(),
                report.clone(),
            );
            std::thread::spawn(move || {
                let since = Instant::now();
                while running.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    // Per guest, one round trip for every marker (a guest that does not
                    // answer, crashed, runs nothing), and the watched APIs' health: all at
                    // once, so that a sample takes as long as its slowest answer.
                    let patterns: Vec<&str> = MARKERS.iter().map(|(_, m)| *m).collect();
                    let hosts = watched.lock().unwrap().clone();
                    let (found, health) = std::thread::scope(|scope| {
                        let pids: Vec<_> = lab
                            .clients()
                            .filter(|g| lab.is_up(*g))
                            .map(|g| {
                                let (lab, patterns) = (&lab, &patterns);
                                scope.spawn(move || {
                                    lab.sample_pids(g, patterns).ok().map(|p| (g, p))
                                })
                            })
                            .collect();
                        let health: Vec<_> = hosts
                            .iter()
                            .map(|g| {
                                let addr: SocketAddr =
                                    format!("{}:8181", lab.guest_ip(*g)).parse().unwrap();
                                (*g, scope.spawn(move || health_within_a_second(addr)))
                            })
                            .collect();
                        let found: Vec<(usize, Vec<Vec<u32>>)> =
                            pids.into_iter().filter_map(|h| h.join().unwrap()).collect();
                        let health: Vec<(usize, Result<Duration, String>)> = health
                            .into_iter()
                            .map(|(g, h)| (g, h.join().unwrap()))
                            .collect();
                        (found, health)
                    });
                    for (i, (node, _)) in MARKERS.iter().enumerate() {
                        let on: Vec<&str> = found
                            .iter()
                            .filter(|(_, pids)| !pids[i].is_empty())
                            .map(|(g, _)| lab.name(*g))
                            .collect();
                        if on.len() > 1 {
                            report.lock().unwrap().twice.push(format!(
                                "{node} on {on:?} ({:.1} s into the sampling)",
                                since.elapsed().as_secs_f64()
                            ));
                        }
                    }
                    for (g, result) in health {
                        match result {
                            Ok(latency) => {
                                let mut r = report.lock().unwrap();
                                r.worst_api = r.worst_api.max(latency);
                            }
                            Err(e) => report.lock().unwrap().slow_api.push(format!(
                                "{}: {e} ({:.1} s into the sampling)",
                                lab.name(g),
                                since.elapsed().as_secs_f64()
                            )),
                        }
                    }
                    {
                        let mut r = report.lock().unwrap();
                        r.samples += 1;
                        r.elapsed = since.elapsed();
                    }
                    let spent = started.elapsed();
                    std::thread::sleep(Duration::from_millis(100).saturating_sub(spent));
                }
            })
        };
        Sampler {
            running,
            watched,
            report,
            thread: Some(thread),
        }
    }

    /// The hosts whose APIs must answer (the others are crashed, cut off or restarting).
    fn watch_only(&self, hosts: &[usize]) {
        *self.watched.lock().unwrap() = hosts.to_vec();
    }

    fn finish(mut self) -> Report {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let report = self.report.lock().unwrap().clone();
        println!(
            "sampler: {} samples ({:.0} ms apart on average), worst API answer {:?}",
            report.samples,
            report.elapsed.as_millis() as f64 / report.samples.max(1) as f64,
            report.worst_api
        );
        assert!(
            report.twice.is_empty(),
            "an instance ran on two hosts at once: {:?}",
            report.twice
        );
        assert!(
            report.slow_api.is_empty(),
            "surviving APIs did not answer within 1 s: {:?}",
            report.slow_api
        );
        report
    }
}

fn health_within_a_second(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let budget = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, budget).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(
            budget
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(10)),
        ))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /v1/health HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("no answer: {e}"))?;
    let latency = started.elapsed();
    if latency > budget {
        return Err(format!("answered after {latency:?}"));
    }
    (answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
        .then_some(latency)
        .ok_or_else(|| answer.lines().next().unwrap_or_default().to_owned())
}

fn events_of(lab: &UmlLab, via: usize, kind: &str) -> Vec<Value> {
    json(lab, via, &["events"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

/// A cluster with the service deployed and the sampler running, the host of instance "one"
/// picked for what the scenario does to it (the sampler watches the other hosts' APIs).
struct Running {
    lab: Arc<UmlLab>,
    sampler: Sampler,
    agents: Vec<u32>,
    host_name: String,
    host: usize,
    others: Vec<usize>,
}

fn running_cluster(lab: UmlLab) -> Running {
    let lab = Arc::new(lab);
    let agents = start_cluster(&lab);
    deploy(&lab, 1, "first");
    let sampler = Sampler::start(&lab);
    let host_name = instance(&lab, 1, "one")["host"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = guest_named(&lab, &host_name);
    let others: Vec<usize> = lab.clients().filter(|g| *g != host).collect();
    sampler.watch_only(&others);
    Running {
        lab,
        sampler,
        agents,
        host_name,
        host,
        others,
    }
}

#[test]
fn mounts_the_agent_cannot_rely_on_are_refused_with_the_fix() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let c = 1;
    for (options, mountpoint, expected) in [
        ("vers=4.2", "/mnt/default", "lookupcache=positive"),
        (
            "vers=3,lookupcache=positive,nolock",
            "/mnt/v3",
            "NFS version 3",
        ),
    ] {
        lab.mount(c, options, mountpoint);
        let out = lab.exec_timeout(
            c,
            &format!(
                "KHUTULUN_TOKEN=t {} agent --state-dir {mountpoint} --data-dir /tmp/refused --host c1 --api {}:8181 2>&1; echo \"exit=$?\"",
                common::BIN,
                lab.guest_ip(c)
            ),
            Duration::from_secs(60),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{options}: {text}");
        assert!(
            !text.contains("exit=0"),
            "the agent ran on {options}: {text}"
        );
        assert!(text.contains(expected), "{options}: {text}");
        assert!(text.contains("Running on NFS"), "{options}: {text}");
    }
    // The documented mount works.
    start_agent(&lab, c);
    let health = json(&lab, c, &["hosts"]);
    assert_eq!(health[0]["state"], "alive", "{health}");
    let out = lab.exec(c, &format!("grep ' {MOUNT_POINT} ' /proc/mounts"));
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_killed_agent_moves_at_once_and_a_short_cut_moves_nothing() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let Running {
        lab,
        sampler,
        agents,
        host_name: victim_name,
        host: victim,
        others,
    } = running_cluster(lab);

    // The agent and the workloads of one host killed, its kernel alive: its lock is freed
    // at once and its lease is fresh, so it is fenced without waiting for the lease.
    let killed = Instant::now();
    lab.ok(
        victim,
        &format!(
            "kill -9 {}; pkill -9 -f 'sleep 8640[12]$'; true",
            agents[victim - 1]
        ),
    );
    let (to, took) = wait_moved(
        &lab,
        others[0],
        "one",
        &victim_name,
        killed,
        Duration::from_secs(30),
    );
    println!("agent killed on {victim_name}: one running on {to} after {took:?}");
    assert!(took < Duration::from_secs(5), "moved after {took:?}");
    let started = &events_of(&lab, others[0], "failover_started");
    assert!(
        started
            .iter()
            .any(|e| e["reason"].as_str().unwrap_or("").contains("process ended")),
        "{started:?}"
    );

    // Its agent comes back; nothing runs twice, the host is alive again.
    start_agent(&lab, victim);
    sampler.watch_only(&lab.clients().collect::<Vec<_>>());
    let back = eventually(Duration::from_secs(60), || {
        let hosts = json(&lab, others[0], &["hosts"]);
        hosts
            .as_array()?
            .iter()
            .all(|h| h["state"] == "alive")
            .then_some(())
    });
    assert!(back.is_some(), "{victim_name} did not come back");

    // A cut shorter than the lease: nothing moves, nothing restarts.
    let before: Vec<(Value, Value)> = ["one", "two"]
        .iter()
        .map(|n| {
            let i = instance(&lab, others[0], n);
            (i["host"].clone(), i["pid"].clone())
        })
        .collect();
    let cut_name = before[0].0.as_str().unwrap().to_owned();
    let cut = guest_named(&lab, &cut_name);
    let count = |kind: &str| events_of(&lab, others[0], kind).len();
    let (moved_before, fenced_before) = (count("instance_moved"), count("host_self_fenced"));
    sampler.watch_only(&lab.clients().filter(|g| *g != cut).collect::<Vec<_>>());
    lab.partition(cut);
    std::thread::sleep(Duration::from_secs(3));
    lab.heal(cut);
    // Let gossip and NFS settle, then compare.
    std::thread::sleep(Duration::from_secs(LEASE + SKEW + 3));
    sampler.watch_only(&lab.clients().collect::<Vec<_>>());
    for (n, (host, pid)) in ["one", "two"].iter().zip(&before) {
        let i = instance(&lab, others[0], n);
        assert_eq!(&i["host"], host, "{n} moved after a short cut: {i}");
        assert_eq!(&i["pid"], pid, "{n} restarted after a short cut: {i}");
    }
    assert_eq!(
        count("instance_moved"),
        moved_before,
        "something moved after a short cut"
    );
    assert_eq!(
        count("host_self_fenced"),
        fenced_before,
        "a host fenced itself after a short cut"
    );

    // Listings come from each agent's index, checked against the files through NFS: a
    // delete through one host is seen at once through another, whose entries had settled.
    let names = |via: usize| -> Vec<Value> {
        let services = json(&lab, via, &["services"]);
        services
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].clone())
            .collect()
    };
    assert_eq!(names(others[1]), ["svc"]);
    let out = lab.cli(others[0], &["delete", "svc", "--wait", "--timeout", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(others[1]),
        Vec::<Value>::new(),
        "{} still lists the service deleted through {}",
        lab.name(others[1]),
        lab.name(others[0])
    );
    sampler.finish();
}

#[test]
fn a_crashed_host_moves_after_its_lease() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let Running {
        lab,
        sampler,
        host_name: victim_name,
        host: victim,
        others,
        ..
    } = running_cluster(lab);

    // The whole host dies: the NFS server keeps its locks for its lease, nobody renews its
    // lease; the others wait it out (saying so), then fence it.
    let crashed = Instant::now();
    lab.crash(victim);
    let waiting = eventually(Duration::from_secs(10), || {
        json(&lab, others[0], &["hosts"])
            .as_array()?
            .iter()
            .find(|h| h["name"] == victim_name.as_str() && h["state"] == "dead")
            .and_then(|h| h["note"].as_str().map(str::to_owned))
    });
    println!("hosts says of {victim_name}: {waiting:?}");
    assert!(
        waiting
            .as_deref()
            .is_some_and(|n| n.contains("wait for fencing")),
        "hosts did not say the dead host's instances wait for fencing: {waiting:?}"
    );
    let (to, took) = wait_moved(
        &lab,
        others[0],
        "one",
        &victim_name,
        crashed,
        Duration::from_secs(60),
    );
    println!("host {victim_name} crashed: one running on {to} after {took:?} (lease {LEASE} s + skew {SKEW} s)");
    assert!(
        took < Duration::from_secs(LEASE + 5),
        "moved after {took:?}"
    );
    assert!(
        !events_of(&lab, others[0], "failover_waiting").is_empty(),
        "no failover_waiting event"
    );
    sampler.finish();
}

#[test]
fn a_long_cut_fences_the_host_which_rejoins_without_running_anything_twice() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let Running {
        lab,
        sampler,
        host_name: cut_name,
        host: cut,
        others,
        ..
    } = running_cluster(lab);

    let cut_at = Instant::now();
    lab.partition(cut);
    let (to, took) = wait_moved(
        &lab,
        others[0],
        "one",
        &cut_name,
        cut_at,
        Duration::from_secs(60),
    );
    println!("{cut_name} cut off: one running on {to} after {took:?}");
    // It stopped its own copy before anyone else could start one (the sampler checks).
    assert!(
        took >= Duration::from_secs(LEASE),
        "moved before the lease expired: {took:?}"
    );

    // A redeploy through another host during the cut.
    deploy(&lab, others[0], "second");
    let during = instance(&lab, others[0], "one");
    assert_ne!(during["host"], cut_name.as_str());

    // Heal: the cut-off agent learns it was fenced, takes a new epoch, stops nothing twice.
    std::thread::sleep(Duration::from_secs(5));
    lab.heal(cut);
    let rejoined = eventually(Duration::from_secs(90), || {
        events_of(&lab, others[0], "host_rejoined")
            .into_iter()
            .find(|e| e["name"] == cut_name.as_str())
    });
    assert!(
        rejoined.is_some(),
        "{cut_name} did not rejoin:\n{}",
        lab.agent_log(cut)
    );
    sampler.watch_only(&lab.clients().collect::<Vec<_>>());
    // Written by the cut-off host once its state answers again; its lock on the event log
    // may be granted after the rejoin's (the NFS client retries a denied lock with backoff).
    let self_fenced = eventually(Duration::from_secs(60), || {
        events_of(&lab, others[0], "host_self_fenced")
            .into_iter()
            .find(|e| e["name"] == cut_name.as_str())
    });
    assert!(
        self_fenced.is_some(),
        "{cut_name} did not say it fenced itself: {self_fenced:?}\n--- its agent log:\n{}\n--- events:\n{:#}",
        lab.agent_log(cut),
        json(&lab, others[0], &["events"])
    );
    // Settle, then: each instance runs once, where the state says.
    std::thread::sleep(Duration::from_secs(5));
    let report = sampler.finish();
    println!("long cut: {} samples", report.samples);
    for (node, marker) in MARKERS {
        let on: Vec<&str> = lab
            .clients()
            .filter(|g| !lab.pids_matching(*g, marker).is_empty())
            .map(|g| lab.name(g))
            .collect();
        let record = instance(&lab, others[0], node);
        if on.len() != 1 || record["host"] != on[0] {
            for g in lab.clients() {
                eprintln!("--- agent log of {}:\n{}", lab.name(g), lab.agent_log(g));
            }
            eprintln!("--- events:\n{:#}", json(&lab, others[0], &["events"]));
        }
        assert_eq!(
            on.len(),
            1,
            "{node} runs on {on:?}; the state says {record}"
        );
        assert_eq!(record["host"], on[0], "{record}");
        assert_eq!(record["state"], "running", "{record}");
    }
}
