//! The cluster on real hosts: agents in network namespaces on one bridge, sharing one state
//! directory, joined by seed and by multicast, placing by policy, failing over, surviving a
//! partition, draining. Real binary, real CLI, real processes.

mod common;

use common::netns::{netns_available, NetAgent, NetLab};
use common::{eventually, http_get, template_dir, BIN};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const JOIN: Duration = Duration::from_secs(30);

/// A lab of three hosts with agents: h0 and h2 find each other by multicast, h1 joins h0 as
/// its seed. All share the cluster key and detect failures with the fast profile.
fn three_agents(lab: &NetLab, state: &Path) -> Vec<NetAgent> {
    let key = lab.dir().join("cluster.key");
    let out = std::process::Command::new(BIN)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&key, &out.stdout).unwrap();
    let key = key.to_str().unwrap().to_owned();
    let seed = format!("{}:8183", lab.host(0).address());
    let common_args = ["--key-file", &key, "--gossip-profile", "fast"];
    let with = |extra: &[&str]| -> Vec<String> {
        common_args
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let args = [
        with(&["--multicast", "--label", "zone=a"]),
        with(&["--seed", &seed, "--label", "disk=ssd"]),
        with(&["--multicast"]),
    ];
    let agents: Vec<NetAgent> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            lab.spawn_agent(i, state, &a)
        })
        .collect();
    for i in 0..3 {
        wait_for_states(lab, i, &[("h0", "alive"), ("h1", "alive"), ("h2", "alive")]);
    }
    agents
}

/// A lab of `n` hosts and the state directory they share; None (with a note) where network
/// namespaces cannot be made.
fn lab(n: usize) -> Option<(tempfile::TempDir, NetLab)> {
    if !netns_available() {
        eprintln!("skipping: network namespaces need root and a working `ip netns`");
        return None;
    }
    Some((tempfile::tempdir().unwrap(), NetLab::new(n)))
}

/// Host `name` as host `asked` lists it.
fn host_view(lab: &NetLab, asked: usize, name: &str) -> Value {
    let hosts = lab.json(asked, &["hosts"]);
    hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no host {name} in {hosts:#}"))
}

/// A new cluster key from `khutulun keygen`, in the lab's directory.
fn key_file(lab: &NetLab, name: &str) -> String {
    let path = lab.dir().join(name);
    let out = std::process::Command::new(BIN)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&path, &out.stdout).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Starts host `i`'s agent again, joining through the gossip of every other host.
fn restart_agent(lab: &NetLab, state: &Path, i: usize) -> NetAgent {
    let key = lab.dir().join("cluster.key").to_str().unwrap().to_owned();
    let seeds: Vec<String> = (0..lab.len())
        .filter(|j| *j != i)
        .map(|j| format!("{}:8183", lab.host(j).address()))
        .collect();
    let mut args = vec!["--key-file", key.as_str(), "--gossip-profile", "fast"];
    for seed in &seeds {
        args.extend(["--seed", seed.as_str()]);
    }
    lab.spawn_agent(i, state, &args)
}

/// Waits until host `asked` sees every given host in the given membership state.
fn wait_for_states(lab: &NetLab, asked: usize, want: &[(&str, &str)]) {
    let seen = eventually(JOIN, || {
        let hosts = lab.json(asked, &["hosts"]);
        let ok = want.iter().all(|(name, state)| {
            hosts
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["name"] == *name && h["state"] == *state)
        });
        ok.then_some(())
    });
    if seen.is_none() {
        lab.print_logs();
        panic!(
            "h{asked} does not see {want:?}: {:#}",
            lab.json(asked, &["hosts"])
        );
    }
}

fn instances(lab: &NetLab, asked: usize, service: &str) -> Vec<Value> {
    lab.json(asked, &["instances", service])
        .as_array()
        .unwrap()
        .clone()
}

fn host_of(list: &[Value], node: &str, index: u64) -> String {
    list.iter()
        .find(|i| i["node"] == node && i["index"] == index)
        .unwrap_or_else(|| panic!("no {node}/{index} in {list:#?}"))["host"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn events(lab: &NetLab, asked: usize) -> Vec<Value> {
    lab.json(asked, &["events"]).as_array().unwrap().clone()
}

const SLEEPER: &str = r#"
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'echo "hello from $KHUTULUN_HOST"; exec sleep 1000' ]
        restart: always"#;

fn placed_template() -> String {
    format!(
        r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    spread: {SLEEPER}
    web: {SLEEPER}
    cache: {SLEEPER}
    db: {SLEEPER}
  policies:
    - three:
        type: Redundancy
        properties: {{ instances: 3 }}
        targets: [ spread ]
    - apart:
        type: Separation
        targets: [ spread ]
    - two:
        type: Redundancy
        properties: {{ instances: 2 }}
        targets: [ web, cache ]
    - pair:
        type: Colocation
        targets: [ web, cache ]
    - ssd:
        type: Placement
        properties: {{ labels: {{ disk: ssd }} }}
        targets: [ db ]
"#
    )
}

#[test]
fn three_hosts_join_place_by_policy_forward_logs_and_drain() {
    let Some((state, lab)) = lab(4) else {
        return;
    };
    let _agents = three_agents(&lab, state.path());

    // A host with another key cannot join: its packets are dropped and counted.
    let wrong_key = key_file(&lab, "wrong.key");
    let seed = format!("{}:8183", lab.host(0).address());
    let _intruder = lab.spawn_agent(
        3,
        state.path(),
        &[
            "--key-file",
            &wrong_key,
            "--seed",
            &seed,
            "--gossip-profile",
            "fast",
        ],
    );
    let dropped = eventually(JOIN, || {
        let gossip = lab.json(0, &["gossip"]);
        (gossip["dropped_bad_key"].as_u64() > Some(0)).then_some(gossip)
    });
    let gossip = dropped.expect("h0 drops the packets sealed with another key");
    assert_eq!(gossip["encrypted"], true);
    let members: Vec<&str> = gossip["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(!members.contains(&"h3"), "{gossip:#}");
    let h3 = host_view(&lab, 0, "h3");
    assert_eq!(h3["state"], "unreachable", "{h3:#}");

    // Labels are announced and listed.
    let h1 = host_view(&lab, 2, "h1");
    assert_eq!(h1["labels"]["disk"], "ssd", "{h1:#}");

    // Policies: redundancy 3 + separation, a colocated pair, a label placement.
    let dir = template_dir(&[("service.yaml", &placed_template())]);
    lab.ok(
        0,
        &["deploy", "placed", dir.path().to_str().unwrap(), "--wait"],
    );
    let list = instances(&lab, 1, "placed");
    let mut spread: Vec<String> = (0..3).map(|i| host_of(&list, "spread", i)).collect();
    spread.sort();
    assert_eq!(spread, ["h0", "h1", "h2"], "{list:#?}");
    for i in 0..2 {
        assert_eq!(
            host_of(&list, "web", i),
            host_of(&list, "cache", i),
            "web/{i} and cache/{i} are colocated: {list:#?}"
        );
    }
    assert_eq!(host_of(&list, "db", 0), "h1", "db goes where disk=ssd");
    assert!(list.iter().all(|i| i["state"] == "running"), "{list:#?}");

    // The placement is explained, naming the policies.
    let explained = lab.ok(2, &["service", "show", "placed", "--placement"]);
    assert!(explained.contains("\"apart\""), "{explained}");
    assert!(explained.contains("\"ssd\""), "{explained}");
    assert!(explained.contains("\"pair\""), "{explained}");

    // Logs of an instance on another host come through whichever agent is asked.
    let on_h2 = list
        .iter()
        .find(|i| i["host"] == "h2" && i["node"] == "spread")
        .unwrap();
    let instance = format!("spread/{}", on_h2["index"]);
    let logs = eventually(Duration::from_secs(10), || {
        let text = lab.ok(0, &["logs", "placed", &instance]);
        text.contains("hello from h2").then_some(text)
    });
    assert!(logs.is_some(), "logs of {instance} through h0");
    // So does exec: h0 relays the WebSocket to h2, which runs the command beside it.
    let out = lab.cli(
        0,
        &[
            "exec",
            "placed",
            &instance,
            "--",
            "sh",
            "-c",
            "echo ran on $KHUTULUN_HOST; exit 6",
        ],
    );
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran on h2\n");

    // A strict policy that cannot be met fails the deploy, names the policy, changes nothing.
    let four = placed_template().replace("instances: 3", "instances: 4");
    let dir4 = template_dir(&[("service.yaml", &four)]);
    let out = lab.cli(1, &["deploy", "crowded", dir4.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"apart\""), "{err}");
    let services = lab.json(0, &["services"]);
    assert!(
        !services
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "crowded"),
        "{services:#}"
    );

    // Drain: the spread instance on h2 cannot go anywhere (strict separation over three
    // hosts), everything else moves; the host takes nothing new until undrained.
    lab.ok(0, &["delete", "placed", "--wait"]);
    let movable = placed_template().replace(
        "    - apart:\n        type: Separation\n        targets: [ spread ]\n",
        "",
    );
    let dir = template_dir(&[("service.yaml", &movable)]);
    lab.ok(
        0,
        &["deploy", "movable", dir.path().to_str().unwrap(), "--wait"],
    );
    let before = instances(&lab, 0, "movable");
    assert!(before.iter().any(|i| i["host"] == "h2"), "{before:#?}");
    let drained = lab.json(1, &["host", "drain", "h2"]);
    assert_eq!(drained["problems"], serde_json::json!([]), "{drained:#}");
    let after = instances(&lab, 0, "movable");
    assert!(
        after
            .iter()
            .all(|i| i["host"] != "h2" && i["state"] == "running"),
        "{after:#?}"
    );
    for i in 0..2 {
        assert_eq!(host_of(&after, "web", i), host_of(&after, "cache", i));
    }
    let h2 = host_view(&lab, 0, "h2");
    assert_eq!(h2["draining"], true);
    assert_eq!(h2["instances"], 0);
    let moved = events(&lab, 0)
        .iter()
        .filter(|e| e["type"] == "instance_moved" && e["from_host"] == "h2")
        .count();
    assert_eq!(
        moved,
        before.iter().filter(|i| i["host"] == "h2").count(),
        "one instance_moved event per instance that was on h2"
    );
    lab.ok(0, &["host", "undrain", "h2"]);
    let hosts = lab.json(0, &["hosts"]);
    assert!(hosts
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["draining"] == false));

    // h1 answers listings from its index; what h0 changes is seen at once, also once h1's
    // entries have settled (StateIndex trusts an entry read 2 s after its files changed).
    let names = |asked: usize| -> Vec<String> {
        let services = lab.json(asked, &["services"]);
        let services = services.as_array().unwrap();
        services
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(1), ["movable"]);
    assert_eq!(instances(&lab, 1, "movable").len(), after.len());
    std::thread::sleep(khutulun_state::index::SETTLE + Duration::from_millis(500));
    assert_eq!(names(1), ["movable"]);
    assert_eq!(instances(&lab, 1, "movable").len(), after.len());
    lab.ok(0, &["delete", "movable", "--wait"]);
    assert_eq!(
        names(1),
        Vec::<String>::new(),
        "h1 still lists the service h0 deleted"
    );
    let gone = lab.cli(1, &["instances", "movable", "-o", "json"]);
    assert!(
        !gone.status.success(),
        "h1 still lists the deleted service's instances"
    );
}

const HELLO: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    backend:
      type: Process
      properties:
        command: python3
        arguments: [ backend.py ]
        restart: always
    frontend:
      type: Process
      properties:
        command: python3
        arguments: [ frontend.py ]
        restart: always
      capabilities:
        endpoint:
          properties: { port: 0 }
      requirements:
        - connection: backend
  policies:
    - apart:
        type: Separation
        targets: [ frontend, backend ]
  outputs:
    url:
      value:
        $concat:
          - "http://"
          - $get_attribute: [ frontend, address ]
          - ":"
          - $get_attribute: [ frontend, CAPABILITY, endpoint, port ]
          - "/"
"#;

fn hello_dir() -> tempfile::TempDir {
    let example = common::repo_root().join("examples/hello-world");
    let backend = std::fs::read_to_string(example.join("backend.py")).unwrap();
    let frontend = std::fs::read_to_string(example.join("frontend.py")).unwrap();
    template_dir(&[
        ("service.yaml", HELLO),
        ("backend.py", &backend),
        ("frontend.py", &frontend),
    ])
}

/// The frontend's answer: (the backend's pid, the backend address the frontend used).
fn ask_frontend(lab: &NetLab, asked: usize) -> Option<(u64, String)> {
    let outputs = lab.json(asked, &["outputs", "hello"]);
    let url = outputs["url"].as_str()?.to_owned();
    let (status, body) = http_get(&url, None)?;
    if status != 200 {
        return None;
    }
    let body: Value = serde_json::from_str(&body).ok()?;
    Some((body["backend"]["pid"].as_u64()?, url))
}

#[test]
fn a_killed_host_s_instances_run_elsewhere_and_dependants_follow() {
    let Some((state, lab)) = lab(3) else {
        return;
    };
    let _agents = three_agents(&lab, state.path());
    let dir = hello_dir();
    lab.ok(
        0,
        &["deploy", "hello", dir.path().to_str().unwrap(), "--wait"],
    );
    let list = instances(&lab, 0, "hello");
    let backend_host = host_of(&list, "backend", 0);
    let frontend_host = host_of(&list, "frontend", 0);
    assert_ne!(backend_host, frontend_host, "separated");
    let (old_pid, _) = ask_frontend(&lab, 0).expect("the frontend answers through the backend");

    // Kill the backend's host: its agent and every process in it.
    let dead: usize = backend_host[1..].parse().unwrap();
    let asked = (0..3).find(|i| *i != dead).unwrap();
    let killed_at = Instant::now();
    lab.kill_all_in(dead);

    let moved = eventually(Duration::from_secs(30), || {
        let list = instances(&lab, asked, "hello");
        let backend = list.iter().find(|i| i["node"] == "backend")?;
        (backend["host"] != backend_host.as_str() && backend["state"] == "running")
            .then(|| backend.clone())
    });
    let Some(backend) = moved else {
        lab.print_logs();
        panic!(
            "the backend was not moved off {backend_host}: {:#?}",
            instances(&lab, asked, "hello")
        );
    };
    eprintln!(
        "failover: backend running on {} {:.2}s after the kill",
        backend["host"],
        killed_at.elapsed().as_secs_f64()
    );
    assert_ne!(backend["host"], frontend_host.as_str(), "still separated");

    // The frontend was restarted with the backend's new address and reaches it.
    let answer = eventually(Duration::from_secs(20), || {
        ask_frontend(&lab, asked).filter(|(pid, _)| *pid != old_pid)
    });
    assert!(answer.is_some(), "the frontend reaches the moved backend");
    eprintln!(
        "failover: frontend answers through the new backend {:.2}s after the kill",
        killed_at.elapsed().as_secs_f64()
    );

    // The event log tells the story (the failover's last word may trail the restart).
    let log = eventually(Duration::from_secs(10), || {
        let log = events(&lab, asked);
        log.iter()
            .any(|e| e["type"] == "failover_finished")
            .then_some(log)
    })
    .expect("failover_finished in the event log");
    let has = |pred: &dyn Fn(&Value) -> bool| log.iter().any(pred);
    assert!(has(
        &|e| e["type"] == "host_dead" && e["name"] == backend_host.as_str()
    ));
    assert!(has(
        &|e| e["type"] == "failover_started" && e["name"] == backend_host.as_str()
    ));
    assert!(has(&|e| e["type"] == "instance_moved"
        && e["node"] == "backend"
        && e["from_host"] == backend_host.as_str()));
    assert!(has(
        &|e| e["type"] == "instance_reconnecting" && e["node"] == "frontend"
    ));
    assert!(has(&|e| e["type"] == "failover_finished" && e["moved"] == 1));

    // The dead host comes back: it rejoins and runs nothing of what moved.
    let _back = restart_agent(&lab, state.path(), dead);
    for i in 0..3 {
        wait_for_states(
            &lab,
            i,
            &[("h0", "alive"), ("h1", "alive"), ("h2", "alive")],
        );
    }

    // (An agent killed alone, its workloads alive, is
    // `an_agent_killed_alone_leaves_its_running_workloads_where_they_are`.)
    assert!(
        ask_frontend(&lab, asked).is_some(),
        "the service still answers"
    );
}

/// True while the process exists and is not a zombie.
fn process_runs(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
            state != Some('Z')
        })
        .unwrap_or(false)
}

/// Deploys `name`: three sleepers, one on each host (strict separation); returns the one
/// on h2.
fn deploy_one_per_host(lab: &NetLab, name: &str) -> Value {
    let template = format!(
        r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    spread: {SLEEPER}
  policies:
    - three:
        type: Redundancy
        properties: {{ instances: 3 }}
        targets: [ spread ]
    - apart:
        type: Separation
        targets: [ spread ]
"#
    );
    let dir = template_dir(&[("service.yaml", &template)]);
    lab.ok(0, &["deploy", name, dir.path().to_str().unwrap(), "--wait"]);
    instances(lab, 0, name)
        .into_iter()
        .find(|i| i["host"] == "h2")
        .expect("an instance on h2")
}

#[test]
fn a_partitioned_host_keeps_its_instances_and_a_dead_one_gets_back_what_could_not_move() {
    let Some((state, lab)) = lab(3) else {
        return;
    };
    let _agents = three_agents(&lab, state.path());
    let on_h2 = deploy_one_per_host(&lab, "triple");
    let pid = on_h2["pid"].as_u64().unwrap();

    lab.partition(2);
    wait_for_states(&lab, 0, &[("h2", "dead")]);
    let skipped = eventually(Duration::from_secs(10), || {
        events(&lab, 0)
            .into_iter()
            .find(|e| e["type"] == "failover_skipped" && e["name"] == "h2")
    });
    assert!(
        skipped.is_some(),
        "the others saw h2's lock held and moved nothing"
    );

    // Nothing ran twice: the instance of h2 is still h2's, with the same process.
    let during = instances(&lab, 0, "triple");
    assert_eq!(during.len(), 3);
    assert_eq!(
        during
            .iter()
            .find(|i| i["index"] == on_h2["index"])
            .unwrap()["host"],
        "h2"
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "h2's process runs"
    );
    assert!(!events(&lab, 0)
        .iter()
        .any(|e| e["type"] == "instance_moved"));

    // Heal: every agent sees every host alive again; the instances are untouched.
    lab.heal(2);
    for i in 0..3 {
        wait_for_states(
            &lab,
            i,
            &[("h0", "alive"), ("h1", "alive"), ("h2", "alive")],
        );
    }
    let after = instances(&lab, 1, "triple");
    let same = after.iter().find(|i| i["index"] == on_h2["index"]).unwrap();
    assert_eq!(same["host"], "h2");
    assert_eq!(same["pid"].as_u64(), Some(pid));
    assert!(!events(&lab, 1)
        .iter()
        .any(|e| e["type"] == "instance_moved"));

    // Now h2 dies for real. Strict separation leaves its instance nowhere to go: it waits,
    // pending, on h2, and the failover says why.
    lab.kill_all_in(2);
    let finished = eventually(JOIN, || {
        events(&lab, 0)
            .into_iter()
            .find(|e| e["type"] == "failover_finished" && e["name"] == "h2")
    });
    let finished = finished.expect("a failover of h2");
    assert_eq!(finished["moved"], 0);
    assert!(
        finished["problems"].to_string().contains("apart"),
        "{finished:#}"
    );
    let list = instances(&lab, 0, "triple");
    let waiting = list.iter().find(|i| i["index"] == on_h2["index"]).unwrap();
    assert_eq!(waiting["host"], "h2");
    assert_eq!(waiting["state"], "pending", "{waiting:#}");

    // When h2 comes back, its agent starts it.
    let _back = restart_agent(&lab, state.path(), 2);
    let running = eventually(JOIN, || {
        let list = instances(&lab, 0, "triple");
        let i = list.iter().find(|i| i["index"] == on_h2["index"])?.clone();
        (i["state"] == "running" && i["host"] == "h2").then_some(i)
    });
    assert!(running.is_some(), "h2 runs its instance again");
}

#[test]
fn an_agent_killed_alone_leaves_its_running_workloads_where_they_are() {
    let Some((state, lab)) = lab(3) else {
        return;
    };
    let mut agents = three_agents(&lab, state.path());
    let on_h2 = deploy_one_per_host(&lab, "alone");
    let pid = on_h2["pid"].as_u64().unwrap();

    // Only h2's agent dies; its workload runs on and holds h2's workloads lock (inherited
    // from the agent), so the others see h2 dead but move nothing: moving would run the
    // instance twice.
    agents[2].kill();
    wait_for_states(&lab, 0, &[("h2", "dead")]);
    let waiting = eventually(Duration::from_secs(15), || {
        events(&lab, 0).into_iter().find(|e| {
            e["type"] == "failover_waiting"
                && e["name"] == "h2"
                && e["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("workloads still run")
        })
    });
    assert!(
        waiting.is_some(),
        "no failover_waiting saying h2's workloads run"
    );
    // h0's `hosts` says it once h0 itself looks again (the event above may be h1's, and
    // h0's first look may have come while the dying agent still held its lock).
    let mut note = serde_json::Value::Null;
    let said = eventually(Duration::from_secs(15), || {
        note = host_view(&lab, 0, "h2")["note"].clone();
        note.as_str()
            .unwrap_or("")
            .contains("workloads still run")
            .then_some(())
    });
    assert!(
        said.is_some(),
        "hosts does not say why h2's instance stays: {note}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(process_runs(pid), "h2's workload was stopped");
    let during = instances(&lab, 0, "alone");
    let same = during
        .iter()
        .find(|i| i["index"] == on_h2["index"])
        .unwrap();
    assert_eq!(same["host"], "h2", "{same}");
    assert!(!events(&lab, 0)
        .iter()
        .any(|e| e["type"] == "instance_moved"));

    // Its agent comes back and adopts the same process.
    let _back = restart_agent(&lab, state.path(), 2);
    let adopted = eventually(JOIN, || {
        events(&lab, 0)
            .into_iter()
            .find(|e| e["type"] == "instance_adopted" && e["pid"].as_u64() == Some(pid))
    });
    assert!(adopted.is_some(), "h2's agent did not adopt pid {pid}");
    assert!(!events(&lab, 0)
        .iter()
        .any(|e| e["type"] == "instance_moved"));
}
