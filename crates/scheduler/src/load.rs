//! What is on each host so far: counts for spread and separation, resources for capacity,
//! and the hosts ordered by (instances, committed fraction, name) so that spread finds the
//! emptiest host without scanning all of them.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;

use crate::cluster::Cluster;
use crate::instances::Instances;
use crate::model::Resources;
use crate::rules::Rules;

/// An exact non-negative fraction; `x/0` (x > 0) is infinity. Exact so that ties, and
/// so results, never depend on float rounding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frac {
    num: u64,
    den: u64,
}

impl Frac {
    pub fn new(num: u64, den: u64) -> Self {
        match (num, den) {
            (0, _) => Frac { num: 0, den: 1 },
            (_, 0) => Frac { num: 1, den: 0 },
            _ => Frac { num, den },
        }
    }

    /// The larger of the CPU and memory shares of `used` in `of`.
    pub fn dominant(used: Resources, of: Resources) -> Self {
        Frac::new(used.cpu_millis, of.cpu_millis).max(Frac::new(used.memory_bytes, of.memory_bytes))
    }
}

impl Ord for Frac {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.num as u128 * other.den as u128).cmp(&(other.num as u128 * self.den as u128))
    }
}

impl PartialOrd for Frac {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Frac {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Frac {}

/// A host's place in the spread order: fewer instances, then lower committed fraction,
/// then name.
pub(crate) type SpreadKey = (u32, Frac, u32);

pub(crate) struct Load {
    capacity: Vec<Resources>,
    /// committed + placed in this request.
    used: Vec<Resources>,
    /// instances (fixed ones included) + placed in this request.
    total: Vec<u32>,
    order: BTreeSet<SpreadKey>,
    /// Per node: host → instances of that node there (fixed and placed).
    pub per_node: Vec<HashMap<u32, u32>>,
    /// Per policy (only separation ones fill it): host → instances of its targets there.
    pub occupancy: Vec<HashMap<u32, u32>>,
}

impl Load {
    pub fn new(cluster: &Cluster, instances: &Instances, rules: &Rules) -> Self {
        let mut load = Load {
            capacity: cluster.all().map(|(_, h)| h.capacity).collect(),
            used: cluster.all().map(|(_, h)| h.committed).collect(),
            total: cluster.all().map(|(_, h)| h.instances).collect(),
            order: BTreeSet::new(),
            per_node: vec![HashMap::default(); instances.nodes()],
            occupancy: vec![HashMap::default(); rules.policies.len()],
        };
        for slot in &instances.slots {
            // A fixed instance on a host that is not live cannot share a host with anything
            // placed now, so only live ones count. The host's `instances` has it already.
            if let Some(host) = slot.fixed_on.and_then(|name| cluster.find(name)) {
                load.count(host, slot.node, rules);
            }
        }
        for h in 0..cluster.len() as u32 {
            load.order.insert(load.key(h));
        }
        load
    }

    /// Counts an instance for spread of its node and for separation.
    fn count(&mut self, host: u32, node: u32, rules: &Rules) {
        *self.per_node[node as usize].entry(host).or_insert(0) += 1;
        for &p in &rules.separation[node as usize] {
            *self.occupancy[p as usize].entry(host).or_insert(0) += 1;
        }
    }

    pub fn key(&self, host: u32) -> SpreadKey {
        (self.total[host as usize], self.fraction(host), host)
    }

    pub fn fraction(&self, host: u32) -> Frac {
        Frac::dominant(self.used[host as usize], self.capacity[host as usize])
    }

    pub fn total(&self, host: u32) -> u32 {
        self.total[host as usize]
    }

    /// Free resources (never negative).
    pub fn free(&self, host: u32) -> Resources {
        self.capacity[host as usize].saturating_sub(self.used[host as usize])
    }

    /// Whether `need` fits; a resource requested at 0 always fits, even on an
    /// over-committed host.
    pub fn fits(&self, host: u32, need: Resources) -> bool {
        let used = self.used[host as usize];
        let cap = self.capacity[host as usize];
        let ok = |need: u64, used: u64, cap: u64| {
            need == 0 || used.checked_add(need).is_some_and(|sum| sum <= cap)
        };
        ok(need.cpu_millis, used.cpu_millis, cap.cpu_millis)
            && ok(need.memory_bytes, used.memory_bytes, cap.memory_bytes)
    }

    /// Hosts in spread order.
    pub fn ordered(&self) -> impl Iterator<Item = &SpreadKey> {
        self.order.iter()
    }

    /// Records instances of `nodes` and their resources on `host`.
    pub fn place(&mut self, host: u32, nodes: &[u32], resources: Resources, rules: &Rules) {
        let ordered = self.order.remove(&self.key(host));
        for &node in nodes {
            self.count(host, node, rules);
        }
        self.total[host as usize] += nodes.len() as u32;
        self.used[host as usize] = self.used[host as usize].saturating_add(resources);
        if ordered {
            self.order.insert(self.key(host));
        }
    }

    /// Drops a host that no remaining unit fits from the spread order (it stays scorable
    /// when touched, and `fits` keeps refusing it).
    pub fn retire(&mut self, host: u32) {
        self.order.remove(&self.key(host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_compare_exactly() {
        assert!(Frac::new(1, 3) < Frac::new(1, 2));
        assert_eq!(Frac::new(2, 4), Frac::new(1, 2));
        assert_eq!(Frac::new(0, 0), Frac::new(0, 7));
        assert!(Frac::new(5, 0) > Frac::new(u64::MAX, 1));
        assert_eq!(Frac::new(5, 0), Frac::new(1, 0));
    }
}
