//! What each unit needs, checked for contradictions before anything is placed: the hosts
//! its placement rules allow, a host it is pinned to by a fixed member, its separations,
//! its summed resources.

use rustc_hash::FxHashMap as HashMap;

use crate::cluster::Cluster;
use crate::explain;
use crate::hostset::HostSet;
use crate::instances::Instances;
use crate::load::Frac;
use crate::model::{PlacementError, Resources};
use crate::rules::Rules;
use crate::units::Unit;

/// A separation policy that targets some requested members of a unit.
pub(crate) struct Sep {
    pub policy: u32,
    /// How many requested members it targets.
    pub count: u32,
    pub strict: bool,
}

/// The host of a fixed member, where the whole unit must go.
pub(crate) struct Pin {
    pub host: u32,
    /// The fixed member's slot.
    pub by: u32,
}

pub(crate) struct UnitPlan {
    /// All members, requested and fixed, by id.
    pub members: Vec<u32>,
    /// Requested members, by id.
    pub requested: Vec<u32>,
    pub colocation: Vec<u32>,
    /// Nodes of the requested members (one instance each: colocation ties equal indexes).
    pub nodes: Vec<u32>,
    /// Placement policies of the requested members, in policy order.
    pub placement: Vec<u32>,
    /// Index into `EligibleSets`.
    pub eligible: usize,
    pub eligible_count: u32,
    pub pin: Option<Pin>,
    pub separation: Vec<Sep>,
    pub resources: Resources,
    /// Dominant share of the cluster's total capacity, to place big units first.
    pub share: Frac,
}

/// Intersections of placement rules, shared by every unit with the same policies.
pub(crate) struct EligibleSets {
    sets: Vec<HostSet>,
    index: HashMap<Vec<u32>, usize>,
}

impl EligibleSets {
    pub fn new(hosts: usize) -> Self {
        EligibleSets {
            sets: vec![HostSet::full(hosts)],
            index: HashMap::from_iter([(Vec::new(), 0)]),
        }
    }

    fn intern(&mut self, policies: &[u32], rules: &Rules) -> usize {
        if let Some(&i) = self.index.get(policies) {
            return i;
        }
        let mut set = self.sets[0].clone();
        for &p in policies {
            set.intersect(rules.allowed(p));
        }
        self.sets.push(set);
        self.index.insert(policies.to_vec(), self.sets.len() - 1);
        self.sets.len() - 1
    }

    pub fn get(&self, i: usize) -> &HostSet {
        &self.sets[i]
    }
}

pub(crate) struct Context<'r, 'a> {
    pub cluster: &'r Cluster<'a>,
    pub instances: &'r Instances<'a>,
    pub rules: &'r Rules<'a>,
}

pub(crate) fn analyse(
    unit: Unit,
    cx: &Context,
    sets: &mut EligibleSets,
    total_capacity: Resources,
) -> Result<UnitPlan, PlacementError> {
    let Unit {
        members,
        colocation,
    } = unit;
    let slot = |s: u32| cx.instances.slot(s);
    let requested: Vec<u32> = members
        .iter()
        .copied()
        .filter(|&s| slot(s).fixed_on.is_none())
        .collect();
    let fixed: Vec<u32> = members
        .iter()
        .copied()
        .filter(|&s| slot(s).fixed_on.is_some())
        .collect();
    let mut plan = UnitPlan {
        nodes: requested.iter().map(|&s| slot(s).node).collect(),
        resources: requested.iter().fold(Resources::ZERO, |sum, &s| {
            sum.saturating_add(slot(s).resources)
        }),
        members,
        requested,
        colocation,
        placement: Vec::new(),
        eligible: 0,
        eligible_count: 0,
        pin: None,
        separation: Vec::new(),
        share: Frac::new(0, 1),
    };
    plan.share = Frac::dominant(plan.resources, total_capacity);

    if let Some(&first) = fixed.first() {
        if let Some(&other) = fixed
            .iter()
            .find(|&&s| slot(s).fixed_on != slot(first).fixed_on)
        {
            return Err(explain::fixed_apart(&plan, first, other, cx));
        }
    }
    check_strict_apart(&plan, cx)?;

    let mut separation: Vec<u32> = Vec::new();
    let mut placement: Vec<u32> = Vec::new();
    for &node in &plan.nodes {
        separation.extend(&cx.rules.separation[node as usize]);
        placement.extend(&cx.rules.placement[node as usize]);
    }
    separation.sort_unstable();
    placement.sort_unstable();
    placement.dedup();
    plan.separation = separation
        .chunk_by(|a, b| a == b)
        .map(|run| Sep {
            policy: run[0],
            count: run.len() as u32,
            strict: cx.rules.is_strict(run[0]),
        })
        .collect();
    plan.eligible = sets.intern(&placement, cx.rules);
    plan.placement = placement;
    let eligible = sets.get(plan.eligible);

    if let Some(&by) = fixed.first() {
        let name = slot(by).fixed_on.expect("fixed member");
        let host = cx
            .cluster
            .find(name)
            .ok_or_else(|| explain::pin_not_live(&plan, by, cx))?;
        if !eligible.contains(host) {
            return Err(explain::pin_not_allowed(&plan, by, host, cx));
        }
        plan.pin = Some(Pin { host, by });
        plan.eligible_count = 1;
    } else {
        plan.eligible_count = eligible.len();
        if plan.eligible_count == 0 {
            return Err(explain::no_eligible_host(&plan, cx));
        }
    }
    Ok(plan)
}

/// Colocation and strict separation of two members of one unit contradict each other.
fn check_strict_apart(plan: &UnitPlan, cx: &Context) -> Result<(), PlacementError> {
    if plan.members.len() < 2 {
        return Ok(());
    }
    let mut seen: HashMap<u32, u32> = HashMap::default(); // strict policy → first member
    for &member in &plan.members {
        for &p in &cx.rules.separation[cx.instances.slot(member).node as usize] {
            if !cx.rules.is_strict(p) {
                continue;
            }
            if let Some(&first) = seen.get(&p) {
                return Err(explain::strict_within_unit(plan, first, member, p, cx));
            }
            seen.insert(p, member);
        }
    }
    Ok(())
}
