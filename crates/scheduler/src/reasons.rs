//! Why an instance went where it went, one line per rule that mattered.

use crate::choose::Score;
use crate::explain::wants;
use crate::load::Load;
use crate::plan::{Context, UnitPlan};
use crate::text::{both, cpu, either, memory, plural, quoted};

/// Reasons for `member` of `plan` on the chosen host, from the load before the unit is added.
pub(crate) fn reasons(
    plan: &UnitPlan,
    member: u32,
    chosen: &Score,
    load: &Load,
    cx: &Context,
) -> Vec<String> {
    let rules = cx.rules;
    let node = cx.instances.slot(member).node;
    let host = chosen.host;
    let mut out = Vec::new();

    for &p in &plan.placement {
        let via = if rules.targets_node(p, node) {
            ""
        } else {
            ", through colocation"
        };
        out.push(format!(
            "policy {} (placement{via}): {}",
            quoted(rules.name(p)),
            wants(rules.rule(p))
        ));
    }

    for &p in &plan.colocation {
        if !rules.targets_node(p, node) {
            continue;
        }
        let with: Vec<String> = plan
            .members
            .iter()
            .map(|&s| cx.instances.slot(s))
            .filter(|s| s.node != node && rules.targets_node(p, s.node))
            .map(|s| match s.fixed_on {
                Some(_) => format!("{} (stays here)", s.id),
                None => s.id.to_string(),
            })
            .collect();
        if !with.is_empty() {
            out.push(format!(
                "policy {} (colocation): with {}",
                quoted(rules.name(p)),
                with.join(", ")
            ));
        }
    }

    for &p in &rules.separation[node as usize] {
        let targets = &rules.target_names[p as usize];
        let colocated = plan
            .separation
            .iter()
            .find(|s| s.policy == p)
            .map_or(0, |s| s.count - 1);
        let here = load.occupancy[p as usize].get(&host).copied().unwrap_or(0) + colocated;
        let name = quoted(rules.name(p));
        let kind = if rules.is_strict(p) {
            "separation"
        } else {
            "preferred separation"
        };
        if here == 0 {
            out.push(format!(
                "policy {name} ({kind}): no other instance of {} here",
                either(targets)
            ));
        } else {
            out.push(format!(
                "policy {name} ({kind}): {} of {} here; every eligible host with room had one",
                plural(here as u64, "other instance", "other instances"),
                either(targets)
            ));
        }
    }

    if plan.pin.is_none() {
        if plan.eligible_count == 1 {
            out.push("spread: the only eligible host".to_string());
        } else {
            let nodes: Vec<&str> = plan
                .nodes
                .iter()
                .map(|&n| cx.instances.node_names[n as usize])
                .collect();
            out.push(format!(
                "spread: fewest instances ({} of {}, {} in total) among {} eligible hosts",
                chosen.same_node,
                both(&nodes),
                chosen.total,
                plan.eligible_count
            ));
        }
    }

    let after = load.free(host).saturating_sub(plan.resources);
    out.push(format!(
        "fits: {} CPU, {} free after",
        cpu(after.cpu_millis),
        memory(after.memory_bytes)
    ));
    out
}
