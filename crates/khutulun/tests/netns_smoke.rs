//! The network-namespace lab itself: hosts that reach each other, agents in them sharing
//! one state directory, partition and heal, and nothing left behind.

mod common;

use common::netns::{lab_leftovers, netns_available, NetLab};
use common::{eventually, http_get};
use std::time::Duration;

#[test]
fn two_hosts_in_namespaces_share_state_partition_heal_and_clean_up() {
    if !netns_available() {
        eprintln!("skipping: network namespaces need root and a working `ip netns`");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let lab = NetLab::new(2);
    let id = lab.id();
    {
        let _agents: Vec<_> = (0..2)
            .map(|i| lab.spawn_agent(i, state.path(), &[]))
            .collect();

        // Both APIs answer from the root namespace, at their own addresses.
        for host in lab.hosts() {
            let health = http_get(&format!("{}/v1/health", host.url()), Some(lab.token()));
            assert_eq!(health.map(|(s, _)| s), Some(200), "{}", host.name());
        }

        // The shared state lists both hosts, whichever agent is asked.
        let hosts = lab.json(0, &["hosts"]);
        let mut names: Vec<&str> = hosts
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["h0", "h1"], "{hosts:#}");

        // Host 0's namespace reaches host 1: a socket opened inside it, and the CLI run
        // inside it.
        let from_h0 = lab.host(0).in_netns(|| {
            http_get(
                &format!("{}/v1/health", lab.host(1).url()),
                Some(lab.token()),
            )
        });
        assert_eq!(from_h0.map(|(s, _)| s), Some(200));
        let out = lab.cli_from(0, 1, &["hosts", "-o", "json"]);
        assert!(
            out.status.success(),
            "CLI inside h0 against h1: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // A partition cuts host 1 off without killing anything; heal brings it back.
        let agent_pids = lab.pids_in(1);
        lab.partition(1);
        assert!(!lab.reachable(1), "h1 is reachable while partitioned");
        assert!(!lab.reachable_from(0, 1), "h0 reaches h1 while partitioned");
        assert!(lab.reachable(0), "h0 should stay reachable");
        assert_eq!(lab.pids_in(1), agent_pids, "partition must not kill");
        lab.heal(1);
        eventually(Duration::from_secs(10), || lab.reachable(1).then_some(()))
            .expect("h1 reachable again after heal");
        assert!(lab.reachable_from(0, 1));
        let health = http_get(
            &format!("{}/v1/health", lab.host(1).url()),
            Some(lab.token()),
        );
        assert_eq!(health.map(|(s, _)| s), Some(200));

        // kill_all_in leaves the namespace empty.
        lab.kill_all_in(1);
        assert!(lab.pids_in(1).is_empty());
        assert!(!lab.pids_in(0).is_empty(), "h0's agent still runs");
    }

    assert!(!lab_leftovers(id).is_empty());
    drop(lab);
    assert_eq!(
        lab_leftovers(id),
        Vec::<String>::new(),
        "lab {id} left names"
    );
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let listed = format!(
        "{}{}",
        String::from_utf8_lossy(&netns.stdout),
        String::from_utf8_lossy(&links.stdout)
    );
    for prefix in [format!("kh{id}h"), format!("kh{id}sw"), format!("kh{id}up")] {
        assert!(
            !listed
                .split(|c: char| c.is_whitespace() || c == ':' || c == '@')
                .any(|word| word.starts_with(&prefix)),
            "{prefix}* still exists:\n{listed}"
        );
    }
}
