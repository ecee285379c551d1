//! The placement loop: units in most-constrained-first order, each to its best host.

use std::cmp::Reverse;

use crate::choose::{Chooser, SCAN_LIMIT};
use crate::cluster::Cluster;
use crate::explain;
use crate::instances::Instances;
use crate::load::Load;
use crate::model::{Assignment, HostState, Placement, PlacementError, Request, Resources};
use crate::plan::{analyse, Context, EligibleSets, UnitPlan};
use crate::reasons::reasons;
use crate::rules::Rules;
use crate::units;

/// Places every requested instance on one of `hosts`; see the crate docs for the rules.
pub fn place(request: &Request, hosts: &[HostState]) -> Result<Placement, PlacementError> {
    place_with(request, hosts, SCAN_LIMIT)
}

/// `scan_limit` picks between scoring every eligible host and the ordered walk; both
/// must give the same result, which the tests check.
pub(crate) fn place_with(
    request: &Request,
    hosts: &[HostState],
    scan_limit: u32,
) -> Result<Placement, PlacementError> {
    let cluster = Cluster::new(hosts)?;
    let instances = Instances::new(request)?;
    let rules = Rules::new(&request.policies, &instances, &cluster);
    let cx = Context {
        cluster: &cluster,
        instances: &instances,
        rules: &rules,
    };
    let total_capacity = hosts
        .iter()
        .fold(Resources::ZERO, |sum, h| sum.saturating_add(h.capacity));

    let mut sets = EligibleSets::new(cluster.len());
    let mut plans = units::build(&instances, &rules)
        .into_iter()
        .map(|unit| analyse(unit, &cx, &mut sets, total_capacity))
        .collect::<Result<Vec<UnitPlan>, _>>()?;
    // Most constrained first. Units come sorted by id and the sort is stable, so ties
    // stay in id order and the order never depends on the request's order.
    plans.sort_by_key(|p| (p.eligible_count, Reverse(p.share)));

    // floors[i]: the least any of plans[i..] needs, per resource.
    let mut floors = vec![
        Resources {
            cpu_millis: u64::MAX,
            memory_bytes: u64::MAX,
        };
        plans.len()
    ];
    for i in (0..plans.len()).rev() {
        let next = floors.get(i + 1).copied().unwrap_or(floors[i]);
        floors[i] = Resources {
            cpu_millis: next.cpu_millis.min(plans[i].resources.cpu_millis),
            memory_bytes: next.memory_bytes.min(plans[i].resources.memory_bytes),
        };
    }

    let mut load = Load::new(&cluster, &instances, &rules);
    let mut chooser = Chooser::new(cluster.len(), scan_limit);
    let mut assigned: Vec<Option<Assignment>> = vec![None; request.instances.len()];
    for (plan, &floor) in plans.iter().zip(&floors) {
        let eligible = sets.get(plan.eligible);
        let chosen = chooser.choose(plan, eligible, &load, floor);
        for &host in &chooser.retired {
            load.retire(host);
        }
        let Some(chosen) = chosen else {
            return Err(explain::blocked(plan, eligible, &load, &cx));
        };
        for &member in &plan.requested {
            assigned[member as usize] = Some(Assignment {
                id: instances.slot(member).id.clone(),
                host: cluster.name(chosen.host).to_string(),
                reasons: reasons(plan, member, &chosen, &load, &cx),
            });
        }
        load.place(chosen.host, &plan.nodes, plan.resources, &rules);
    }
    let assignments = assigned
        .into_iter()
        .map(|a| a.expect("every requested instance belongs to exactly one unit"))
        .collect();
    Ok(Placement { assignments })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::place_with;
    use crate::model::{HostState, InstanceId, InstanceRequest, Policy, Request, Resources, Rule};

    fn cluster() -> impl Strategy<Value = Vec<HostState>> {
        prop::collection::vec((0u8..3, 0u64..4, 0u64..3, 0u32..4), 1..120).prop_map(|hs| {
            hs.into_iter()
                .enumerate()
                .map(|(i, (zone, cpu, used, instances))| HostState {
                    name: format!("h{i:03}"),
                    labels: BTreeMap::from([("zone".to_string(), zone.to_string())]),
                    capacity: Resources {
                        cpu_millis: 1000 * cpu,
                        memory_bytes: 1 << 30,
                    },
                    committed: Resources {
                        cpu_millis: 300 * used,
                        memory_bytes: 0,
                    },
                    instances,
                })
                .collect()
        })
    }

    fn request() -> impl Strategy<Value = Request> {
        let rule = prop_oneof![
            (0u8..3).prop_map(|z| Rule::Placement {
                hosts: vec![],
                labels: BTreeMap::from([("zone".to_string(), z.to_string())]),
            }),
            Just(Rule::Colocation),
            any::<bool>().prop_map(|strict| Rule::Separation { strict }),
        ];
        let policy = (
            prop::sample::subsequence(vec!["n0", "n1", "n2", "n3"], 1..=2),
            rule,
        );
        (
            prop::collection::vec(
                (0usize..4, 0u64..3, prop::option::weighted(0.1, 0u32..130)),
                0..150,
            ),
            prop::collection::vec(policy, 0..4),
        )
            .prop_map(|(instances, policies)| {
                let mut next = [0u32; 4];
                let mut req = Request::default();
                for (node, cpu, fixed) in instances {
                    let id = InstanceId::new(format!("n{node}"), next[node]);
                    next[node] += 1;
                    match fixed {
                        Some(h) => req.fixed.push((id, format!("h{h:03}"))),
                        None => req.instances.push(InstanceRequest {
                            id,
                            resources: Resources {
                                cpu_millis: 250 * cpu,
                                memory_bytes: 0,
                            },
                        }),
                    }
                }
                req.policies = policies
                    .into_iter()
                    .enumerate()
                    .map(|(i, (targets, rule))| Policy {
                        name: format!("p{i}"),
                        targets: targets.into_iter().map(String::from).collect(),
                        rule,
                    })
                    .collect();
                req
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        /// The ordered walk finds exactly the host that scoring every host finds.
        #[test]
        fn walk_equals_full_scan(req in request(), hosts in cluster()) {
            prop_assert_eq!(place_with(&req, &hosts, 0), place_with(&req, &hosts, u32::MAX));
        }
    }
}
