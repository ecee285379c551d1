//! Colocation units: instances that colocation policies tie to one host (union-find over
//! slots). Each unit is placed as one.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap as HashMap;

use crate::instances::Instances;
use crate::model::Rule;
use crate::rules::Rules;

pub(crate) struct Unit {
    /// All members, requested and fixed, by instance id.
    pub members: Vec<u32>,
    /// The colocation policies that tied members together, in policy order.
    pub colocation: Vec<u32>,
}

struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

/// The units that hold at least one requested instance.
pub(crate) fn build(instances: &Instances, rules: &Rules) -> Vec<Unit> {
    let n = instances.slots.len();
    let mut uf = UnionFind::new(n);
    let mut ties: Vec<(u32, u32)> = Vec::new(); // (slot, colocation policy)
    for (p, policy) in rules.policies.iter().enumerate() {
        if policy.rule != Rule::Colocation {
            continue;
        }
        let mut first_at_index: HashMap<u32, u32> = HashMap::default();
        for &node in &rules.targets[p] {
            for &slot in &instances.by_node[node as usize] {
                match first_at_index.entry(instances.slot(slot).id.index) {
                    Entry::Occupied(first) => {
                        uf.union(*first.get(), slot);
                        ties.push((slot, p as u32));
                    }
                    Entry::Vacant(v) => {
                        v.insert(slot);
                    }
                }
            }
        }
    }

    let mut unit_of_root = vec![u32::MAX; n];
    let mut units: Vec<Unit> = Vec::new();
    for slot in 0..n as u32 {
        let root = uf.find(slot) as usize;
        if unit_of_root[root] == u32::MAX {
            unit_of_root[root] = units.len() as u32;
            units.push(Unit {
                members: Vec::new(),
                colocation: Vec::new(),
            });
        }
        units[unit_of_root[root] as usize].members.push(slot);
    }
    for (slot, p) in ties {
        let root = uf.find(slot) as usize;
        units[unit_of_root[root] as usize].colocation.push(p);
    }
    units.retain(|u| {
        u.members
            .iter()
            .any(|&s| instances.slot(s).fixed_on.is_none())
    });
    for unit in &mut units {
        unit.members
            .sort_by(|&a, &b| instances.slot(a).id.cmp(instances.slot(b).id));
        unit.colocation.sort_unstable();
        unit.colocation.dedup();
    }
    // By id, so that which error comes first never depends on the request's order.
    units.sort_by(|a, b| {
        let first = |u: &Unit| instances.slot(u.members[0]).id;
        first(a).cmp(first(b))
    });
    units
}
