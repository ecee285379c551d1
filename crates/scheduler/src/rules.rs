//! Policies resolved against the request's nodes and the live hosts.

use crate::cluster::Cluster;
use crate::hostset::HostSet;
use crate::instances::Instances;
use crate::model::{HostState, Policy, Rule};

pub(crate) struct Rules<'a> {
    pub policies: &'a [Policy],
    /// Per policy: its targets that have instances, as node numbers, sorted, without repeats.
    pub targets: Vec<Vec<u32>>,
    /// The same as names, in the policy's order (node numbers follow the request's order).
    pub target_names: Vec<Vec<&'a str>>,
    /// Per node: the placement policies that target it, in policy order.
    pub placement: Vec<Vec<u32>>,
    /// Per node: the separation policies that target it, in policy order.
    pub separation: Vec<Vec<u32>>,
    /// Per policy: the hosts a placement policy allows (None for other rules).
    pub allowed: Vec<Option<HostSet>>,
}

impl<'a> Rules<'a> {
    pub fn new(policies: &'a [Policy], instances: &Instances, cluster: &Cluster) -> Self {
        let mut placement = vec![Vec::new(); instances.nodes()];
        let mut separation = vec![Vec::new(); instances.nodes()];
        let mut targets = Vec::with_capacity(policies.len());
        let mut target_names = Vec::with_capacity(policies.len());
        let mut allowed = Vec::with_capacity(policies.len());
        for (p, policy) in policies.iter().enumerate() {
            let mut nodes: Vec<u32> = policy
                .targets
                .iter()
                .filter_map(|name| instances.node(name))
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            let per_node = match policy.rule {
                Rule::Placement { .. } => Some(&mut placement),
                Rule::Separation { .. } => Some(&mut separation),
                Rule::Colocation => None,
            };
            if let Some(per_node) = per_node {
                for &n in &nodes {
                    per_node[n as usize].push(p as u32);
                }
            }
            allowed.push(match &policy.rule {
                Rule::Placement { .. } if !nodes.is_empty() => {
                    let mut set = HostSet::empty(cluster.len());
                    for (rank, host) in cluster.all() {
                        if allows(&policy.rule, host) {
                            set.insert(rank);
                        }
                    }
                    Some(set)
                }
                _ => None,
            });
            targets.push(nodes);
            let mut names: Vec<&str> = Vec::new();
            for name in &policy.targets {
                if instances.node(name).is_some() && !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            target_names.push(names);
        }
        Rules {
            policies,
            targets,
            target_names,
            placement,
            separation,
            allowed,
        }
    }

    pub fn name(&self, p: u32) -> &'a str {
        &self.policies[p as usize].name
    }

    pub fn rule(&self, p: u32) -> &'a Rule {
        &self.policies[p as usize].rule
    }

    pub fn is_strict(&self, p: u32) -> bool {
        matches!(self.rule(p), Rule::Separation { strict: true })
    }

    pub fn allowed(&self, p: u32) -> &HostSet {
        self.allowed[p as usize]
            .as_ref()
            .expect("allowed hosts are computed for every placement policy with targets")
    }

    pub fn targets_node(&self, p: u32, node: u32) -> bool {
        self.targets[p as usize].binary_search(&node).is_ok()
    }
}

/// Whether a placement rule admits a host.
pub(crate) fn allows(rule: &Rule, host: &HostState) -> bool {
    match rule {
        Rule::Placement { hosts, labels } => {
            (hosts.is_empty() || hosts.contains(&host.name))
                && labels.iter().all(|(k, v)| host.labels.get(k) == Some(v))
        }
        _ => true,
    }
}
