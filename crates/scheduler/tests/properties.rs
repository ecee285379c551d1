//! Whatever `place` returns Ok must honour every rule; some requests must always succeed;
//! the host order never matters.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use khutulun_scheduler::{
    place, HostState, InstanceId, InstanceRequest, Placement, Policy, Request, Resources, Rule,
};
use proptest::prelude::*;

const NODES: [&str; 4] = ["web", "cache", "db", "worker"];
const HOSTS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn label_set(weight: f64) -> impl Strategy<Value = BTreeMap<String, String>> {
    (
        prop::option::weighted(weight, prop::sample::select(vec!["eu", "us"])),
        prop::option::weighted(weight, prop::sample::select(vec!["ssd", "hdd"])),
    )
        .prop_map(|(zone, disk)| {
            let mut l = BTreeMap::new();
            if let Some(z) = zone {
                l.insert("zone".to_string(), z.to_string());
            }
            if let Some(d) = disk {
                l.insert("disk".to_string(), d.to_string());
            }
            l
        })
}

fn amount(choices: Vec<u64>) -> impl Strategy<Value = u64> {
    prop::sample::select(choices)
}

fn hosts_strategy() -> impl Strategy<Value = Vec<HostState>> {
    prop::collection::vec(
        (
            label_set(0.7),
            amount(vec![0, 2000, 4000, 8000, 8000]),
            amount(vec![0, 2 * GIB, 4 * GIB, 4 * GIB]),
            amount(vec![0, 500, 1500]),
            amount(vec![0, 512 * MIB]),
            0u32..3,
        ),
        1..=HOSTS.len(),
    )
    .prop_map(|hs| {
        hs.into_iter()
            .enumerate()
            .map(
                |(i, (labels, cpu, mem, used_cpu, used_mem, instances))| HostState {
                    name: HOSTS[i].to_string(),
                    labels,
                    capacity: res(cpu, mem),
                    committed: res(used_cpu, used_mem),
                    instances,
                },
            )
            .collect()
    })
}

fn names(
    from: &'static [&'static str],
    extra: Option<&'static str>,
) -> impl Strategy<Value = Vec<String>> {
    let mut pool: Vec<&'static str> = from.to_vec();
    pool.extend(extra);
    prop::sample::subsequence(pool.clone(), 0..=pool.len())
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    let rule = prop_oneof![
        (
            prop::option::weighted(0.3, names(&HOSTS, Some("gone"))),
            label_set(0.3)
        )
            .prop_map(|(hosts, labels)| Rule::Placement {
                hosts: hosts.unwrap_or_default(),
                labels
            }),
        Just(Rule::Colocation),
        any::<bool>().prop_map(|strict| Rule::Separation { strict }),
    ];
    (names(&NODES, Some("nothing")), rule).prop_map(|(targets, rule)| Policy {
        name: "p".to_string(),
        targets,
        rule,
    })
}

/// Instances per node with resources, some of them fixed on a host.
fn request_strategy() -> impl Strategy<Value = Request> {
    let instance = (
        amount(vec![0, 250, 500, 1000]),
        amount(vec![0, 256 * MIB, 512 * MIB]),
        prop::option::weighted(0.2, prop::sample::select(vec!["a", "b", "c", "gone"])),
    );
    (
        prop::collection::vec(prop::collection::vec(instance, 0..5), NODES.len()),
        prop::collection::vec(policy_strategy(), 0..5),
    )
        .prop_map(|(per_node, mut policies)| {
            for (i, p) in policies.iter_mut().enumerate() {
                p.name = format!("p{i}");
            }
            let mut req = request(Vec::new(), policies);
            for (n, instances) in per_node.into_iter().enumerate() {
                for (i, (cpu, mem, fixed)) in instances.into_iter().enumerate() {
                    let id = InstanceId::new(NODES[n], i as u32);
                    match fixed {
                        Some(host) => req.fixed.push((id, host.to_string())),
                        None => req.instances.push(InstanceRequest {
                            id,
                            resources: res(cpu, mem),
                        }),
                    }
                }
            }
            req
        })
}

fn check_valid(
    req: &Request,
    hosts: &[HostState],
    placement: &Placement,
) -> Result<(), TestCaseError> {
    // Every requested instance exactly once, in order, on a live host.
    prop_assert_eq!(placement.assignments.len(), req.instances.len());
    for (a, r) in placement.assignments.iter().zip(&req.instances) {
        prop_assert_eq!(&a.id, &r.id);
        prop_assert!(
            hosts.iter().any(|h| h.name == a.host),
            "{} on unknown host {}",
            a.id,
            a.host
        );
    }
    let mut where_: HashMap<&InstanceId, (&str, bool)> = HashMap::new(); // (host, placed now)
    for a in &placement.assignments {
        where_.insert(&a.id, (a.host.as_str(), true));
    }
    for (id, host) in &req.fixed {
        where_.insert(id, (host.as_str(), false));
    }
    let host = |name: &str| hosts.iter().find(|h| h.name == name);

    for policy in &req.policies {
        let targeted = |id: &InstanceId| policy.targets.contains(&id.node);
        match &policy.rule {
            Rule::Placement {
                hosts: names,
                labels,
            } => {
                for a in placement.assignments.iter().filter(|a| targeted(&a.id)) {
                    let h = host(&a.host).unwrap();
                    prop_assert!(
                        names.is_empty() || names.contains(&h.name),
                        "{} on {} breaks {:?}",
                        a.id,
                        h.name,
                        policy
                    );
                    for (k, v) in labels {
                        prop_assert_eq!(
                            h.labels.get(k),
                            Some(v),
                            "{} on {} breaks {:?}",
                            a.id,
                            h.name,
                            policy
                        );
                    }
                }
            }
            Rule::Colocation => {
                let mut by_index: BTreeMap<u32, Vec<(&InstanceId, &str, bool)>> = BTreeMap::new();
                for (id, (h, new)) in where_.iter().filter(|(id, _)| targeted(id)) {
                    by_index.entry(id.index).or_default().push((id, h, *new));
                }
                // Groups of fixed instances alone are not this call's business.
                for group in by_index.values().filter(|g| g.iter().any(|m| m.2)) {
                    prop_assert!(
                        group.iter().all(|m| m.1 == group[0].1),
                        "colocation {:?} broken: {:?}",
                        policy,
                        group
                    );
                }
            }
            Rule::Separation { strict: true } => {
                let members: Vec<(&InstanceId, &(&str, bool))> = where_
                    .iter()
                    .filter(|(id, _)| targeted(id))
                    .map(|(id, w)| (*id, w))
                    .collect();
                for (i, (a, (ha, new_a))) in members.iter().enumerate() {
                    for (b, (hb, new_b)) in &members[i + 1..] {
                        prop_assert!(
                            !(ha == hb && (*new_a || *new_b)),
                            "{} and {} share {} despite {:?}",
                            a,
                            b,
                            ha,
                            policy
                        );
                    }
                }
            }
            Rule::Separation { strict: false } => {}
        }
    }

    // No host over-committed by what was placed now.
    let mut placed: HashMap<&str, Resources> = HashMap::new();
    for (a, r) in placement.assignments.iter().zip(&req.instances) {
        let sum = placed.entry(a.host.as_str()).or_default();
        *sum = sum.saturating_add(r.resources);
    }
    for (name, sum) in placed {
        let h = host(name).unwrap();
        prop_assert!(
            sum.cpu_millis == 0 || h.committed.cpu_millis + sum.cpu_millis <= h.capacity.cpu_millis,
            "cpu over on {}",
            name
        );
        prop_assert!(
            sum.memory_bytes == 0
                || h.committed.memory_bytes + sum.memory_bytes <= h.capacity.memory_bytes,
            "memory over on {}",
            name
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_success_honours_every_rule(req in request_strategy(), hosts in hosts_strategy()) {
        if let Ok(p) = place(&req, &hosts) {
            check_valid(&req, &hosts, &p)?;
        }
    }

    #[test]
    fn host_order_never_matters(
        req in request_strategy(),
        (hosts, shuffled) in hosts_strategy().prop_flat_map(|h| (Just(h.clone()), Just(h).prop_shuffle())),
    ) {
        prop_assert_eq!(place(&req, &hosts), place(&req, &shuffled));
    }

    #[test]
    fn instance_order_never_matters(
        (req, reversed) in request_strategy().prop_map(|r| {
            let mut rev = r.clone();
            rev.instances.reverse();
            rev.fixed.reverse();
            (r, rev)
        }),
        hosts in hosts_strategy(),
    ) {
        match (place(&req, &hosts), place(&reversed, &hosts)) {
            (Ok(a), Ok(mut b)) => {
                b.assignments.reverse();
                prop_assert_eq!(a, b);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }

    #[test]
    fn no_policies_and_no_resources_always_fits(
        counts in prop::collection::vec(0u32..20, 1..4),
        hosts in hosts_strategy(),
    ) {
        let instances: Vec<InstanceRequest> = counts
            .iter()
            .enumerate()
            .flat_map(|(n, &c)| node(NODES[n], c))
            .collect();
        let req = request(instances, vec![]);
        let p = place(&req, &hosts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_valid(&req, &hosts, &p)?;
    }

    #[test]
    fn strict_separation_of_one_node_fits_when_hosts_suffice(count in 0u32..8, hosts in hosts_strategy()) {
        let req = request(node("web", count), vec![separation("apart", &["web"], true)]);
        let result = place(&req, &hosts);
        prop_assert_eq!(result.is_ok(), count as usize <= hosts.len(), "{:?}", result);
    }
}
