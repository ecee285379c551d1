//! Errors name the policy and the instance and say what to do.

mod common;

use common::*;
use khutulun_scheduler::{place, HostState, PlacementError, Request, Resources};

fn fail(req: &Request, hs: &[HostState]) -> PlacementError {
    place(req, hs).expect_err("placement should fail")
}

#[test]
fn no_hosts() {
    let e = fail(&request(node("web", 1), vec![]), &[]);
    assert_eq!(e.message, "no live host to place on");
    assert_eq!(e.to_string(), e.message);
    assert_eq!((e.policy, e.instance), (None, None));
}

#[test]
fn malformed_input() {
    let e = fail(&request(node("web", 1), vec![]), &hosts(&["a", "a"]));
    assert!(e.message.contains("host a is listed twice"), "{e}");

    let mut twice = node("web", 2);
    twice.push(inst("web", 1, Resources::ZERO));
    let e = fail(&request(twice, vec![]), &hosts(&["a"]));
    assert_eq!(e.instance, Some(id("web", 1)));
    assert!(e.message.contains("web-1 is requested twice"), "{e}");

    let mut both = request(node("web", 1), vec![]);
    both.fixed = vec![(id("web", 0), "a".into())];
    let e = fail(&both, &hosts(&["a"]));
    assert!(
        e.message.contains("web-0 is both fixed and to be placed"),
        "{e}"
    );
}

#[test]
fn placement_that_allows_no_live_host() {
    let req = request(
        node("db", 1),
        vec![placement("on-ssd", &["db"], &[], &[("disk", "ssd")])],
    );
    let e = fail(&req, &hosts(&["a", "b", "c"]));
    assert_eq!(e.policy.as_deref(), Some("on-ssd"));
    assert_eq!(e.instance, Some(id("db", 0)));
    assert_eq!(
        e.message,
        "cannot place db-0: policy \"on-ssd\" (placement) allows no live host: none has label disk=ssd (live hosts: a, b, c) — label a host or relax the policy"
    );

    let req = request(
        node("db", 1),
        vec![placement("pinned", &["db"], &["x", "y"], &[])],
    );
    let e = fail(&req, &hosts(&["a"]));
    assert!(
        e.message
            .contains("allows no live host: none is x or y (live hosts: a)"),
        "{e}"
    );
}

#[test]
fn placement_policies_that_exclude_each_other() {
    let hs = vec![
        labelled("a", &[("zone", "eu")]),
        labelled("b", &[("disk", "ssd")]),
    ];
    let req = request(
        node("db", 1),
        vec![
            placement("in-eu", &["db"], &[], &[("zone", "eu")]),
            placement("on-ssd", &["db"], &[], &[("disk", "ssd")]),
        ],
    );
    let e = fail(&req, &hs);
    assert_eq!(e.policy.as_deref(), Some("in-eu, on-ssd"));
    assert_eq!(
        e.message,
        "cannot place db-0: policy \"on-ssd\" (placement) allows none of the hosts that policy \"in-eu\" also allows (a): none has label disk=ssd — relax one of the policies"
    );
}

#[test]
fn strict_separation_without_enough_hosts() {
    let req = request(
        node("web", 3),
        vec![separation("web-apart", &["web"], true)],
    );
    let e = fail(&req, &hosts(&["a", "b"]));
    assert_eq!(e.policy.as_deref(), Some("web-apart"));
    assert_eq!(e.instance, Some(id("web", 2)));
    assert_eq!(
        e.message,
        "cannot place web-2: policy \"web-apart\" (strict separation) needs a host without another instance of web; the 2 eligible hosts (a, b) already have one — add hosts or relax the policy"
    );
}

#[test]
fn capacity_names_no_policy_and_lists_the_roomiest_hosts() {
    let hs: Vec<HostState> = (0..7)
        .map(|i| sized(&format!("h{i}"), res(1000, 2 * GIB), res(500 + 50 * i, GIB)))
        .collect();
    let req = request(vec![inst("db", 0, res(2000, 4 * GIB))], vec![]);
    let e = fail(&req, &hs);
    assert_eq!(e.policy, None);
    assert_eq!(e.instance, Some(id("db", 0)));
    assert_eq!(
        e.message,
        "cannot place db-0: needs 2000m CPU and 4.0 GiB memory; no eligible host has that free (h0: 500m/1.0 GiB free, h1: 450m/1.0 GiB free, h2: 400m/1.0 GiB free, h3: 350m/1.0 GiB free, h4: 300m/1.0 GiB free and 2 more) — add capacity or lower the request"
    );
}

#[test]
fn capacity_of_colocated_instances_is_summed() {
    let hs = vec![sized("a", res(1000, GIB), Resources::ZERO)];
    let req = request(
        vec![inst("web", 0, res(600, 0)), inst("cache", 0, res(600, 0))],
        vec![colocation("pair", &["web", "cache"])],
    );
    let e = fail(&req, &hs);
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with web-0): together they need 1200m CPU; no eligible host has that free (a: 1000m/1.0 GiB free) — add capacity or lower the request"
    );
}

#[test]
fn colocation_with_instances_fixed_on_different_hosts() {
    let mut req = request(
        vec![inst("cache", 0, Resources::ZERO)],
        vec![
            colocation("web-cache", &["web", "cache"]),
            colocation("cache-db", &["cache", "db"]),
        ],
    );
    req.fixed = vec![(id("web", 0), "a".into()), (id("db", 0), "b".into())];
    let e = fail(&req, &hosts(&["a", "b"]));
    assert_eq!(e.policy.as_deref(), Some("web-cache, cache-db"));
    assert_eq!(e.instance, Some(id("cache", 0)));
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with db-0, web-0): policies \"web-cache\", \"cache-db\" (colocation) tie it to db-0 (stays on b) and web-0 (stays on a), which are on different hosts — move one of them or relax the policy"
    );
}

#[test]
fn colocation_against_strict_separation() {
    let mut instances = node("web", 1);
    instances.extend(node("cache", 1));
    let req = request(
        instances,
        vec![
            colocation("pair", &["web", "cache"]),
            separation("apart", &["web", "cache"], true),
        ],
    );
    let e = fail(&req, &hosts(&["a", "b"]));
    assert_eq!(e.policy.as_deref(), Some("pair, apart"));
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with web-0): policy \"pair\" (colocation) puts cache-0 and web-0 on one host, but policy \"apart\" (strict separation) wants them on different hosts — relax one of the policies"
    );
}

#[test]
fn colocation_with_an_instance_on_a_lost_host() {
    let mut req = request(
        vec![inst("cache", 0, Resources::ZERO)],
        vec![colocation("pair", &["web", "cache"])],
    );
    req.fixed = vec![(id("web", 0), "gone".into())];
    let e = fail(&req, &hosts(&["a"]));
    assert_eq!(e.policy.as_deref(), Some("pair"));
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with web-0): policy \"pair\" (colocation) ties it to web-0, which stays on host gone, but gone is not an eligible live host — bring gone back, move web-0 or relax the policy"
    );
}

#[test]
fn colocation_with_an_instance_on_a_host_placement_excludes() {
    let mut req = request(
        vec![inst("cache", 0, Resources::ZERO)],
        vec![
            colocation("pair", &["web", "cache"]),
            placement("on-ssd", &["cache"], &[], &[("disk", "ssd")]),
        ],
    );
    req.fixed = vec![(id("web", 0), "a".into())];
    let e = fail(&req, &[host("a"), labelled("b", &[("disk", "ssd")])]);
    assert_eq!(e.policy.as_deref(), Some("pair, on-ssd"));
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with web-0): policy \"pair\" (colocation) ties it to web-0, which stays on host a, but policy \"on-ssd\" (placement) does not allow a: it lacks label disk=ssd — relax one of the policies"
    );
}

#[test]
fn pinned_unit_blocked_by_separation_or_capacity() {
    let mut req = request(
        vec![inst("cache", 1, Resources::ZERO)],
        vec![
            colocation("pair", &["web", "cache"]),
            separation("caches-apart", &["cache"], true),
        ],
    );
    req.fixed = vec![(id("web", 1), "a".into()), (id("cache", 0), "a".into())];
    let e = fail(&req, &hosts(&["a", "b"]));
    assert_eq!(e.policy.as_deref(), Some("caches-apart"));
    assert_eq!(
        e.message,
        "cannot place cache-1 (colocated with web-1): policy \"caches-apart\" (strict separation) needs a host without another instance of cache; host a, where it must stay with web-1, already has one — add hosts or relax the policy"
    );

    let mut req = request(
        vec![inst("cache", 0, res(0, 2 * GIB))],
        vec![colocation("pair", &["web", "cache"])],
    );
    req.fixed = vec![(id("web", 0), "a".into())];
    let e = fail(
        &req,
        &[sized("a", res(1000, GIB), Resources::ZERO), host("b")],
    );
    assert_eq!(e.policy, None);
    assert_eq!(
        e.message,
        "cannot place cache-0 (colocated with web-0): needs 2.0 GiB memory; host a, where it must stay with web-0, has only 1000m/1.0 GiB free — add capacity there or lower the request"
    );
}
