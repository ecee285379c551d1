//! Many redeploys of one service at once, on one host: every one finishes (a new revision or
//! a clear refusal), the agent keeps answering `/v1/health` within a second throughout, and
//! afterwards exactly one copy of each instance runs. (Three at once used to deadlock the
//! agent: its runtime threads sat in a blocking flock.)

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// One health probe with a hard 1 s budget for connect, request and answer.
fn health_latency(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let budget = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, budget).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(budget))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /v1/health HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
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
    Ok(started.elapsed())
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

#[test]
fn twenty_concurrent_redeploys_finish_and_leave_one_copy_of_each_instance() {
    let agent = Agent::start_with(None, port_range(40));
    let dir = template_dir(&[("service.yaml", TEMPLATE)]);
    let template = dir.path().to_str().unwrap().to_owned();
    agent.ok(&["deploy", "r", &template, "--wait"]);

    let addr: SocketAddr = agent.api.parse().unwrap();
    let sampling = Arc::new(AtomicBool::new(true));
    let worst = Arc::new(Mutex::new((Duration::ZERO, Vec::<String>::new(), 0usize)));
    let sampler = {
        let (sampling, worst) = (sampling.clone(), worst.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let result = health_latency(addr);
                let mut worst = worst.lock().unwrap();
                worst.2 += 1;
                match result {
                    Ok(latency) => worst.0 = worst.0.max(latency),
                    Err(e) => worst.1.push(e),
                }
                drop(worst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

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
    let settled = eventually(Duration::from_secs(180), || {
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

    let (worst_latency, failures, probes) = worst.lock().unwrap().clone();
    println!("health: {probes} probes, worst {worst_latency:?}");
    assert!(
        failures.is_empty(),
        "health did not answer within 1 s {} of {probes} times: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
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
        assert_eq!(instance["state"], "running", "{instance}");
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
