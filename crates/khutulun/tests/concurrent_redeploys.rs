//! Many redeploys of one service at once, on one host: every one finishes (a new revision or
//! a clear refusal), the agent keeps answering `/v1/health` within a second throughout, and
//! afterwards exactly one copy of each instance runs. (Three at once used to deadlock the
//! agent: its runtime threads sat in a blocking flock.) The same with the state directory's
//! filesystem frozen for 30 s in the middle (a FUSE passthrough that stops answering, as a
//! stalled NFS server does): the agent self-fences (its lease lapses), says so, and comes
//! back.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    tag:
      type: string
      default: first
  node_templates:
    backend:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
        environment: { TAG: { $get_input: tag } }
        restart: always
      capabilities:
        endpoint: { properties: { port: 0 } }
    worker:
      type: Process
      properties:
        command: sleep
        arguments: [ "3600" ]
        environment: { TAG: { $get_input: tag } }
        restart: always
      requirements:
        - connection: backend
"#;

/// A GET with a time limit for the whole exchange; the raw answer.
fn get_within(url: &str, limit: Duration) -> Result<String, String> {
    let (mut stream, host, path) = connect(url, limit).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("no answer: {e}"))?;
    Ok(answer)
}

/// One health probe with a hard 1 s budget for connect, request and answer.
fn health_latency(url: &str) -> Result<(Duration, String), String> {
    let started = Instant::now();
    let budget = Duration::from_secs(1);
    let (mut stream, host, path) =
        connect(&format!("{url}/v1/health"), budget).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("no answer: {e}"))?;
    if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "answered {}",
            answer.lines().next().unwrap_or_default()
        ));
    }
    let latency = started.elapsed();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let state = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((latency, state))
}

/// Pids of processes whose environment says they are `node`-`index` of `service` under the
/// agent's data directory: copies of one instance, however they came to run.
fn copies(data_dir: &Path, service: &str, node: &str, index: u32) -> Vec<u32> {
    let wanted = format!(
        "KHUTULUN_INSTANCE_DIR={}",
        data_dir
            .join("instances/default")
            .join(service)
            .join(format!("{node}-{index}"))
            .display()
    );
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
            && process_alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// A process as `ps` would show it: pid, state, what it waits in, command line.
fn describe_process(pid: u32) -> String {
    let read = |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
    let stat = String::from_utf8_lossy(&read("stat")).into_owned();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned();
    let wchan = String::from_utf8_lossy(&read("wchan")).into_owned();
    let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
    format!("{pid} {state} {wchan} {cmdline}")
}

/// Thaws a frozen mount when dropped.
struct Thaw<'a>(Option<&'a freezefs::FrozenMount>);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        if let Some(mount) = self.0.take() {
            mount.thaw();
        }
    }
}

/// What the health sampler saw: the worst latency, the failures, how many probes, and the
/// states health reported.
#[derive(Default, Clone)]
struct Health {
    worst: Duration,
    failures: Vec<String>,
    probes: usize,
    states: Vec<String>,
}

fn sample_health(
    url: String,
    sampling: Arc<AtomicBool>,
) -> (Arc<Mutex<Health>>, std::thread::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Health::default()));
    let handle = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let result = health_latency(&url);
                let mut seen = seen.lock().unwrap();
                seen.probes += 1;
                match result {
                    Ok((latency, state)) => {
                        seen.worst = seen.worst.max(latency);
                        if seen.states.last() != Some(&state) {
                            seen.states.push(state);
                        }
                    }
                    Err(e) => seen.failures.push(e),
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    (seen, handle)
}

#[test]
fn twenty_concurrent_redeploys_finish_and_leave_one_copy_of_each_instance() {
    let agent = Agent::start_with(None, port_range(40));
    redeploy_twenty_times(&agent, None);
}

#[test]
fn twenty_concurrent_redeploys_survive_a_state_frozen_for_30_seconds() {
    let source = tempfile::tempdir().unwrap();
    let Some(mount) = freezefs::FrozenMount::new(source.path()) else {
        return;
    };
    let state = mount.path().join("state");
    // Self-fencing after 7.5 s without a renewal; the freeze lasts four times that.
    let mut agent = Agent::start_on_state(&state, &["--lease-period", "10"]);
    redeploy_twenty_times(&agent, Some(&mount));
    let types: Vec<String> = agent
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in [
        "state_stalled",
        "host_self_fenced",
        "state_recovered",
        "host_lease_recovered",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} in {types:?}"
        );
    }
    // The agent keeps files open on the mount: stop it (and what it runs) before the mount
    // goes.
    let _ = agent.cli(&["delete", "r", "--wait", "--timeout", "60"]);
    agent.stop();
}

/// The scenario: a deployed service, then twenty redeploys at once (with the state frozen
/// for 30 s just after they start, when `freeze` is given).
fn redeploy_twenty_times(agent: &Agent, freeze: Option<&freezefs::FrozenMount>) {
    let dir = template_dir(&[("service.yaml", TEMPLATE)]);
    let template = dir.path().to_str().unwrap().to_owned();
    agent.ok(&["deploy", "r", &template, "--wait"]);

    let sampling = Arc::new(AtomicBool::new(true));
    let (health, sampler) = sample_health(agent.url.clone(), sampling.clone());

    let started = Instant::now();
    let deploys: Vec<_> = (1..=20)
        .map(|i| {
            let mut command = std::process::Command::new(BIN);
            command
                .args(["--agent", &agent.url, "deploy", "r", &template])
                .args(["-i", &format!("tag=t{i}"), "-o", "json"])
                .env_remove("KHUTULUN_TOKEN")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    if let Some(mount) = freeze {
        std::thread::sleep(Duration::from_millis(300));
        mount.freeze();
        // Thawed again however this ends: a panic must not leave the agent (and its
        // dropping test harness) hanging on a frozen state.
        let thaw = Thaw(Some(mount));
        let frozen = Instant::now();
        // While frozen: reads of the state answer 503 within their deadline, and the
        // workloads are stopped (self-fencing) within half the lease and its stop budget.
        let asked = Instant::now();
        let answer = get_within(
            &format!("{}/v1/namespaces/default/services", agent.url),
            Duration::from_secs(30),
        );
        let took = asked.elapsed();
        let answer = answer.unwrap_or_else(|e| {
            panic!("services did not answer while the state is frozen ({e} after {took:?}); agent log:\n{}", agent.log())
        });
        println!("services answered in {took:?} while frozen");
        assert!(
            answer.starts_with("HTTP/1.1 503") || answer.starts_with("HTTP/1.0 503"),
            "{answer}"
        );
        assert!(answer.contains("state_stalled"), "{answer}");
        let fenced = eventually(Duration::from_secs(25), || {
            ["backend", "worker"]
                .iter()
                .all(|node| copies(&agent.data_dir(), "r", node, 0).is_empty())
                .then_some(())
        });
        if fenced.is_none() {
            let left: Vec<String> = ["backend", "worker"]
                .iter()
                .flat_map(|node| copies(&agent.data_dir(), "r", node, 0))
                .map(describe_process)
                .collect();
            panic!(
                "the workloads still run on a fenced host: {left:#?}; agent log:\n{}",
                agent.log()
            );
        }
        println!(
            "fenced {:.1}s after the freeze",
            frozen.elapsed().as_secs_f64()
        );
        let left = Duration::from_secs(30).saturating_sub(frozen.elapsed());
        std::thread::sleep(left);
        drop(thaw);
    }
    let mut accepted = Vec::new();
    for (i, child) in deploys.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            accepted.push((view["revision"].as_u64().unwrap(), format!("t{}", i + 1)));
        } else {
            // A refusal must say why.
            assert!(
                !stderr.trim().is_empty(),
                "deploy {i} failed silently ({})",
                out.status
            );
        }
    }
    assert!(
        !accepted.is_empty(),
        "no redeploy was accepted; agent log:\n{}",
        agent.log()
    );
    // Each accepted redeploy got a revision of its own.
    let mut revisions: Vec<u64> = accepted.iter().map(|(r, _)| *r).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), accepted.len(), "{accepted:?}");

    // The service settles on its newest revision, deployed.
    let settled = eventually(Duration::from_secs(240), || {
        let view = agent.json(&["services"]);
        let service = view.as_array()?.iter().find(|s| s["name"] == "r")?.clone();
        (service["status"] != "deploying").then_some(service)
    })
    .unwrap_or_else(|| panic!("the service never settled; log:\n{}", agent.log()));
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    println!(
        "20 redeploys: {} accepted, settled after {:.1}s",
        accepted.len(),
        started.elapsed().as_secs_f64()
    );

    let health = health.lock().unwrap().clone();
    println!(
        "health: {} probes, worst {:?}, states {:?}",
        health.probes, health.worst, health.states
    );
    assert!(
        health.failures.is_empty(),
        "health did not answer within 1 s {} of {} times: {:?}",
        health.failures.len(),
        health.probes,
        &health.failures[..health.failures.len().min(5)]
    );
    if freeze.is_some() {
        assert!(
            health
                .states
                .iter()
                .any(|s| s == "stalled" || s == "fenced"),
            "health never said the state stalled: {:?}",
            health.states
        );
    }
    assert_eq!(settled["status"], "deployed", "{settled}");
    let (newest, newest_tag) = accepted.iter().max().cloned().unwrap();
    assert_eq!(
        settled["revision"].as_u64(),
        Some(newest),
        "the newest accepted revision is the current one"
    );

    // Exactly one copy of each instance runs, with the newest revision's input.
    let instances = agent.instances("r");
    assert_eq!(instances.len(), 2, "{instances:?}");
    for instance in &instances {
        assert_eq!(instance["state"], "running", "{instance}\n{}", agent.log());
        let node = instance["node"].as_str().unwrap();
        let found = copies(&agent.data_dir(), "r", node, 0);
        assert_eq!(
            found.len(),
            1,
            "{node}: {} copies run ({found:?}); agent log:\n{}",
            found.len(),
            agent.log()
        );
        let environ = std::fs::read(format!("/proc/{}/environ", found[0])).unwrap();
        let tag = environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(b"TAG="))
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(
            tag.as_deref(),
            Some(newest_tag.as_str()),
            "{node} does not run revision {newest}; events:\n{}",
            agent
                .events()
                .iter()
                .filter(|e| e["node"] == node
                    || e["type"].as_str().unwrap_or("").starts_with("service"))
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
