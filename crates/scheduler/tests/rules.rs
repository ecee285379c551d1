//! Each rule on small, hand-checked inputs.

mod common;

use std::collections::BTreeSet;

use common::*;
use khutulun_scheduler::{place, HostState, Request, Resources};

fn distinct_hosts(p: &khutulun_scheduler::Placement) -> usize {
    p.assignments
        .iter()
        .map(|a| a.host.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn spread_puts_instances_of_a_node_on_different_hosts_in_name_order() {
    let p = place(&request(node("web", 3), vec![]), &hosts(&["c", "a", "b"])).unwrap();
    assert_eq!(host_of(&p, "web-0"), "a");
    assert_eq!(host_of(&p, "web-1"), "b");
    assert_eq!(host_of(&p, "web-2"), "c");
    let ids: Vec<String> = p.assignments.iter().map(|a| a.id.to_string()).collect();
    assert_eq!(ids, ["web-0", "web-1", "web-2"]);
}

#[test]
fn spread_prefers_fewer_instances_then_lower_load_then_name() {
    let busy = HostState {
        instances: 3,
        ..host("a")
    };
    let loaded = sized("b", res(1000, GIB), res(500, 0));
    let light = sized("c", res(1000, GIB), res(100, 0));
    let p = place(&request(node("web", 1), vec![]), &[busy, loaded, light]).unwrap();
    assert_eq!(host_of(&p, "web-0"), "c");
}

#[test]
fn spread_prefers_fewer_of_the_same_node_over_fewer_in_total() {
    // b carries other work, but a already has web-0 (fixed).
    let a = host("a");
    let b = HostState {
        instances: 5,
        ..host("b")
    };
    let mut req = request(vec![inst("web", 1, Resources::ZERO)], vec![]);
    req.fixed = vec![(id("web", 0), "a".to_string())];
    let p = place(&req, &[a, b]).unwrap();
    assert_eq!(host_of(&p, "web-1"), "b");
}

#[test]
fn placement_by_label() {
    let hs = vec![
        labelled("a", &[("disk", "hdd")]),
        labelled("b", &[("disk", "ssd")]),
        labelled("c", &[("disk", "ssd"), ("zone", "eu")]),
    ];
    let req = request(
        node("db", 4),
        vec![placement("on-ssd", &["db"], &[], &[("disk", "ssd")])],
    );
    let p = place(&req, &hs).unwrap();
    for a in &p.assignments {
        assert!(a.host == "b" || a.host == "c", "{a:?}");
    }
    assert!(reasons_of(&p, "db-0")
        .contains(&"policy \"on-ssd\" (placement): label disk=ssd".to_string()));
}

#[test]
fn placement_by_host_names_and_intersection_of_policies() {
    let hs = vec![
        labelled("a", &[("zone", "eu")]),
        labelled("b", &[("zone", "us")]),
        labelled("c", &[("zone", "eu")]),
    ];
    let req = request(
        node("db", 2),
        vec![
            placement("named", &["db"], &["a", "b"], &[]),
            placement("in-eu", &["db"], &[], &[("zone", "eu")]),
        ],
    );
    let p = place(&req, &hs).unwrap();
    assert_eq!(host_of(&p, "db-0"), "a");
    assert_eq!(host_of(&p, "db-1"), "a");
}

#[test]
fn colocation_pairs_equal_indexes() {
    let mut instances = node("web", 3);
    instances.extend(node("cache", 2));
    let req = request(instances, vec![colocation("pair", &["web", "cache"])]);
    let p = place(&req, &hosts(&["a", "b", "c"])).unwrap();
    assert_eq!(host_of(&p, "web-0"), host_of(&p, "cache-0"));
    assert_eq!(host_of(&p, "web-1"), host_of(&p, "cache-1"));
    assert_eq!(distinct_hosts(&p), 3);
    assert!(
        reasons_of(&p, "web-1").contains(&"policy \"pair\" (colocation): with cache-1".to_string())
    );
}

#[test]
fn colocated_instances_obey_each_others_placement_and_sum_resources() {
    let hs = vec![
        sized("a", res(1000, GIB), Resources::ZERO),
        HostState {
            labels: labels(&[("disk", "ssd")]),
            ..sized("b", res(1000, GIB), Resources::ZERO)
        },
        HostState {
            labels: labels(&[("disk", "ssd")]),
            ..sized("c", res(4000, GIB), Resources::ZERO)
        },
    ];
    // Each alone fits b, together they do not.
    let req = request(
        vec![inst("web", 0, res(600, 0)), inst("cache", 0, res(600, 0))],
        vec![
            colocation("pair", &["web", "cache"]),
            placement("on-ssd", &["web"], &[], &[("disk", "ssd")]),
        ],
    );
    let p = place(&req, &hs).unwrap();
    assert_eq!(host_of(&p, "web-0"), "c");
    assert_eq!(host_of(&p, "cache-0"), "c");
    assert!(reasons_of(&p, "cache-0").contains(
        &"policy \"on-ssd\" (placement, through colocation): label disk=ssd".to_string()
    ));
}

#[test]
fn strict_separation_across_nodes() {
    let mut instances = node("web", 2);
    instances.extend(node("api", 2));
    let req = request(instances, vec![separation("apart", &["web", "api"], true)]);
    let p = place(&req, &hosts(&["a", "b", "c", "d"])).unwrap();
    assert_eq!(distinct_hosts(&p), 4);
    assert!(reasons_of(&p, "api-0").contains(
        &"policy \"apart\" (separation): no other instance of web or api here".to_string()
    ));
}

#[test]
fn strict_separation_is_not_beaten_by_spread() {
    // a is empty, b is busy; with web-0 on a, web-1 must still go to b.
    let b = HostState {
        instances: 100,
        ..host("b")
    };
    let req = request(node("web", 2), vec![separation("apart", &["web"], true)]);
    let p = place(&req, &[host("a"), b]).unwrap();
    assert_eq!(distinct_hosts(&p), 2);
}

#[test]
fn preferred_separation_bends_minimally_when_hosts_run_out() {
    let req = request(node("web", 5), vec![separation("apart", &["web"], false)]);
    let p = place(&req, &hosts(&["a", "b", "c"])).unwrap();
    let mut per_host = std::collections::BTreeMap::new();
    for a in &p.assignments {
        *per_host.entry(a.host.clone()).or_insert(0) += 1;
    }
    let mut counts: Vec<i32> = per_host.values().copied().collect();
    counts.sort();
    assert_eq!(counts, [1, 2, 2]);
    assert!(reasons_of(&p, "web-4")
        .iter()
        .any(|r| r
            .starts_with("policy \"apart\" (preferred separation): 1 other instance of web here")));
}

#[test]
fn preferred_separation_outweighs_spread() {
    // web-0 is fixed on a; a is otherwise much emptier, but b has no web.
    let a = host("a");
    let b = HostState {
        instances: 50,
        ..host("b")
    };
    let mut req = request(node("api", 0), vec![separation("apart", &["web"], false)]);
    req.instances = vec![inst("web", 1, Resources::ZERO)];
    req.fixed = vec![(id("web", 0), "a".to_string())];
    let p = place(&req, &[a, b]).unwrap();
    assert_eq!(host_of(&p, "web-1"), "b");
}

#[test]
fn capacity_is_respected_and_zero_requests_always_fit() {
    let hs = vec![
        sized("a", res(1000, GIB), res(900, 0)),
        sized("b", res(1000, GIB), res(0, 0)),
        // over-committed: only requests of zero go here
        sized("c", res(1000, GIB), res(2000, 2 * GIB)),
    ];
    let req = request(
        vec![
            inst("big", 0, res(800, 0)),
            inst("small", 0, res(150, 0)),
            inst("mem", 0, res(0, 512 * MIB)),
        ],
        vec![],
    );
    let p = place(&req, &hs).unwrap();
    assert_eq!(host_of(&p, "big-0"), "b");
    assert_eq!(host_of(&p, "small-0"), "b");
    assert_eq!(host_of(&p, "mem-0"), "a");
    assert_eq!(
        reasons_of(&p, "big-0").last().unwrap(),
        "fits: 200m CPU, 1.0 GiB free after"
    );

    let zero = place(&request(node("tiny", 1), vec![]), &hs[2..]).unwrap();
    assert_eq!(host_of(&zero, "tiny-0"), "c");
}

#[test]
fn fixed_instances_count_for_separation_and_pin_colocation() {
    let mut req = request(
        vec![
            inst("web", 1, Resources::ZERO),
            inst("cache", 0, Resources::ZERO),
            inst("cache", 1, Resources::ZERO),
        ],
        vec![
            separation("apart", &["web"], true),
            colocation("pair", &["web", "cache"]),
        ],
    );
    req.fixed = vec![(id("web", 0), "b".to_string())];
    let p = place(&req, &hosts(&["a", "b", "c"])).unwrap();
    assert_eq!(host_of(&p, "cache-0"), "b");
    assert_ne!(host_of(&p, "web-1"), "b");
    assert_eq!(host_of(&p, "web-1"), host_of(&p, "cache-1"));
    assert_eq!(
        reasons_of(&p, "cache-0"),
        [
            "policy \"pair\" (colocation): with web-0 (stays here)",
            "fits: 64000m CPU, 256.0 GiB free after"
        ]
    );
}

#[test]
fn fixed_instances_are_in_host_instances_and_not_counted_again() {
    // a holds fixed web-0 and b something else: one instance each, a tie broken by name.
    let one = |name| HostState {
        instances: 1,
        ..host(name)
    };
    let mut req = request(node("api", 1), vec![]);
    req.fixed = vec![(id("web", 0), "a".to_string())];
    let p = place(&req, &[one("a"), one("b")]).unwrap();
    assert_eq!(host_of(&p, "api-0"), "a");
}

#[test]
fn unknown_targets_are_ignored() {
    let req = request(
        node("web", 2),
        vec![
            separation("apart", &["web", "nothing"], true),
            colocation("pair", &["web", "nothing"]),
            placement("ssd", &["nothing"], &[], &[("disk", "ssd")]),
        ],
    );
    let p = place(&req, &hosts(&["a", "b"])).unwrap();
    assert_eq!(distinct_hosts(&p), 2);
}

#[test]
fn reasons_explain_spread() {
    let p = place(&request(node("web", 2), vec![]), &hosts(&["a", "b", "c"])).unwrap();
    assert_eq!(
        reasons_of(&p, "web-1"),
        [
            "spread: fewest instances (0 of web, 0 in total) among 3 eligible hosts",
            "fits: 64000m CPU, 256.0 GiB free after"
        ]
    );
}

fn mixed_request() -> (Request, Vec<HostState>) {
    let mut instances = Vec::new();
    for (n, count) in [("web", 6), ("cache", 4), ("db", 3), ("worker", 7)] {
        for i in 0..count {
            instances.push(inst(
                n,
                i,
                res(100 * (i as u64 % 3), 64 * MIB * (i as u64 % 2)),
            ));
        }
    }
    let policies = vec![
        colocation("pair", &["web", "cache"]),
        separation("web-apart", &["web"], false),
        separation("db-apart", &["db"], true),
        placement("db-ssd", &["db"], &[], &[("disk", "ssd")]),
    ];
    let hs = (0..6)
        .map(|i| HostState {
            labels: if i % 2 == 0 {
                labels(&[("disk", "ssd")])
            } else {
                labels(&[])
            },
            instances: i % 3,
            ..sized(&format!("h{i}"), res(2000, 2 * GIB), res(100 * i as u64, 0))
        })
        .collect();
    let mut req = request(instances, policies);
    req.fixed = vec![(id("worker", 9), "h1".to_string())];
    (req, hs)
}

#[test]
fn same_input_same_output() {
    let (req, hs) = mixed_request();
    assert_eq!(place(&req, &hs), place(&req, &hs));
}

#[test]
fn host_and_instance_order_do_not_matter() {
    let (req, hs) = mixed_request();
    let expected = place(&req, &hs).unwrap();
    for shift in 1..hs.len() {
        let mut rotated = hs.clone();
        rotated.rotate_left(shift);
        assert_eq!(place(&req, &rotated).unwrap(), expected);
    }
    let mut reversed = hs.clone();
    reversed.reverse();
    assert_eq!(place(&req, &reversed).unwrap(), expected);

    let mut shuffled = req.clone();
    shuffled.instances.reverse();
    let mut got = place(&shuffled, &hs).unwrap().assignments;
    got.reverse();
    assert_eq!(got, expected.assignments);
}
