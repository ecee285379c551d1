//! Errors that say which policy failed for which instance, and what to do about it.

use crate::error::cannot_place;
use crate::hostset::HostSet;
use crate::load::Load;
use crate::model::{HostState, PlacementError, Rule};
use crate::plan::{Context, UnitPlan};
use crate::text::{demand, either, free, policy_names, quoted, short_list};

/// "web-0" or "web-0 (colocated with cache-0)".
fn subject(plan: &UnitPlan, focus: u32, cx: &Context) -> String {
    let others: Vec<String> = plan
        .members
        .iter()
        .filter(|&&s| s != focus)
        .map(|&s| cx.instances.slot(s).id.to_string())
        .collect();
    let id = cx.instances.slot(focus).id;
    if others.is_empty() {
        id.to_string()
    } else {
        format!("{id} (colocated with {})", short_list(others))
    }
}

fn error(
    plan: &UnitPlan,
    focus: u32,
    policies: &[u32],
    message: String,
    cx: &Context,
) -> PlacementError {
    let names: Vec<&str> = policies.iter().map(|&p| cx.rules.name(p)).collect();
    cannot_place(
        &names,
        cx.instances.slot(focus).id,
        &subject(plan, focus, cx),
        message,
    )
}

/// `policy "pair" (colocation) ties` / `policies "a", "b" (colocation) tie`, with `verb`
/// given in the singular ("ties", "puts").
fn colocation_phrase(plan: &UnitPlan, verb: &str, cx: &Context) -> String {
    let names = policy_names(plan.colocation.iter().map(|&p| cx.rules.name(p)));
    if plan.colocation.len() == 1 {
        format!("policy {names} (colocation) {verb}")
    } else {
        format!(
            "policies {names} (colocation) {}",
            verb.trim_end_matches('s')
        )
    }
}

/// The first requested member a policy targets, else the first requested member.
fn focus_of(plan: &UnitPlan, policy: u32, cx: &Context) -> u32 {
    plan.requested
        .iter()
        .copied()
        .find(|&s| cx.rules.targets_node(policy, cx.instances.slot(s).node))
        .unwrap_or(plan.requested[0])
}

pub(crate) fn fixed_apart(plan: &UnitPlan, a: u32, b: u32, cx: &Context) -> PlacementError {
    let (sa, sb) = (cx.instances.slot(a), cx.instances.slot(b));
    let message = format!(
        "{} it to {} (stays on {}) and {} (stays on {}), which are on different hosts — move one of them or relax the policy",
        colocation_phrase(plan, "ties", cx),
        sa.id,
        sa.fixed_on.unwrap_or_default(),
        sb.id,
        sb.fixed_on.unwrap_or_default(),
    );
    error(plan, plan.requested[0], &plan.colocation, message, cx)
}

pub(crate) fn strict_within_unit(
    plan: &UnitPlan,
    a: u32,
    b: u32,
    p: u32,
    cx: &Context,
) -> PlacementError {
    let (ia, ib) = (cx.instances.slot(a).id, cx.instances.slot(b).id);
    let message = format!(
        "{} {ia} and {ib} on one host, but policy {} (strict separation) wants them on different hosts — relax one of the policies",
        colocation_phrase(plan, "puts", cx),
        quoted(cx.rules.name(p)),
    );
    let mut policies = plan.colocation.clone();
    policies.push(p);
    error(plan, focus_of(plan, p, cx), &policies, message, cx)
}

pub(crate) fn pin_not_live(plan: &UnitPlan, by: u32, cx: &Context) -> PlacementError {
    let fixed = cx.instances.slot(by);
    let host = fixed.fixed_on.unwrap_or_default();
    let message = format!(
        "{} it to {}, which stays on host {host}, but {host} is not an eligible live host — bring {host} back, move {} or relax the policy",
        colocation_phrase(plan, "ties", cx),
        fixed.id,
        fixed.id,
    );
    error(plan, plan.requested[0], &plan.colocation, message, cx)
}

pub(crate) fn pin_not_allowed(plan: &UnitPlan, by: u32, host: u32, cx: &Context) -> PlacementError {
    let fixed = cx.instances.slot(by);
    let h = cx.cluster.host(host);
    let p = plan
        .placement
        .iter()
        .copied()
        .find(|&p| !cx.rules.allowed(p).contains(host))
        .expect("some placement policy excludes the pinned host");
    let message = format!(
        "{} it to {}, which stays on host {}, but policy {} (placement) does not allow {}: {} — relax one of the policies",
        colocation_phrase(plan, "ties", cx),
        fixed.id,
        h.name,
        quoted(cx.rules.name(p)),
        h.name,
        misses(cx.rules.rule(p), h),
    );
    let mut policies = plan.colocation.clone();
    policies.push(p);
    error(plan, focus_of(plan, p, cx), &policies, message, cx)
}

/// The placement policies of a unit leave no host.
pub(crate) fn no_eligible_host(plan: &UnitPlan, cx: &Context) -> PlacementError {
    let mut left = HostSet::full(cx.cluster.len());
    for (i, &p) in plan.placement.iter().enumerate() {
        let allowed = cx.rules.allowed(p);
        let before = left.clone();
        left.intersect(allowed);
        if !left.is_empty() {
            continue;
        }
        let rule = cx.rules.rule(p);
        let q = quoted(cx.rules.name(p));
        let focus = focus_of(plan, p, cx);
        if allowed.is_empty() {
            let live = short_list(cx.cluster.all().map(|(_, h)| h.name.as_str()));
            let message = format!(
                "policy {q} (placement) allows no live host: none {} (live hosts: {live}) — {}",
                negated(rule),
                advice(rule)
            );
            return error(plan, focus, &[p], message, cx);
        }
        let earlier = &plan.placement[..i];
        let names = policy_names(earlier.iter().map(|&e| cx.rules.name(e)));
        let which = if earlier.len() == 1 {
            format!("policy {names} also allows")
        } else {
            format!("policies {names} also allow")
        };
        let message = format!(
            "policy {q} (placement) allows none of the hosts that {which} ({}): none {} — relax one of the policies",
            short_list(before.iter().map(|h| cx.cluster.name(h))),
            negated(rule),
        );
        return error(plan, focus, &plan.placement[..=i], message, cx);
    }
    unreachable!("no_eligible_host is called only when the placement policies leave no host")
}

/// No feasible host at placement time: strict separation or capacity.
pub(crate) fn blocked(
    plan: &UnitPlan,
    eligible: &HostSet,
    load: &Load,
    cx: &Context,
) -> PlacementError {
    let mut left: Vec<u32> = match &plan.pin {
        Some(pin) => vec![pin.host],
        None => eligible.iter().collect(),
    };
    let where_ = |hosts: &[u32]| match &plan.pin {
        Some(pin) => format!(
            "host {}, where it must stay with {},",
            cx.cluster.name(pin.host),
            cx.instances.slot(pin.by).id
        ),
        None => format!(
            "the {} eligible host{} ({})",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            short_list(hosts.iter().map(|&h| cx.cluster.name(h)))
        ),
    };
    for sep in plan.separation.iter().filter(|s| s.strict) {
        let occupancy = &load.occupancy[sep.policy as usize];
        let next: Vec<u32> = left
            .iter()
            .copied()
            .filter(|h| occupancy.get(h).copied().unwrap_or(0) == 0)
            .collect();
        if next.is_empty() {
            let targets = &cx.rules.target_names[sep.policy as usize];
            let message = format!(
                "policy {} (strict separation) needs a host without another instance of {}; {} already {} one — add hosts or relax the policy",
                quoted(cx.rules.name(sep.policy)),
                either(targets),
                where_(&left),
                if left.len() == 1 { "has" } else { "have" },
            );
            return error(
                plan,
                focus_of(plan, sep.policy, cx),
                &[sep.policy],
                message,
                cx,
            );
        }
        left = next;
    }
    let needs = if plan.requested.len() > 1 {
        "together they need"
    } else {
        "needs"
    };
    let message = match &plan.pin {
        Some(pin) => format!(
            "{needs} {}; host {}, where it must stay with {}, has only {} free — add capacity there or lower the request",
            demand(plan.resources),
            cx.cluster.name(pin.host),
            cx.instances.slot(pin.by).id,
            free(load.free(pin.host)),
        ),
        None => {
            // The roomiest first: that is what someone fixing it wants to see.
            left.sort_by_key(|&h| {
                let f = load.free(h);
                (std::cmp::Reverse(f.memory_bytes), std::cmp::Reverse(f.cpu_millis), h)
            });
            format!(
                "{needs} {}; no eligible host has that free ({}) — add capacity or lower the request",
                demand(plan.resources),
                short_list(
                    left.iter()
                        .map(|&h| format!("{}: {} free", cx.cluster.name(h), free(load.free(h))))
                ),
            )
        }
    };
    error(plan, plan.requested[0], &[], message, cx)
}

/// What a placement rule asks for: "label disk=ssd", "host a or b", both.
pub(crate) fn wants(rule: &Rule) -> String {
    let Rule::Placement { hosts, labels } = rule else {
        return String::new();
    };
    let hosts_part = (!hosts.is_empty()).then(|| format!("host {}", either(hosts)));
    let labels_part = (!labels.is_empty()).then(|| labels_text(rule));
    match (hosts_part, labels_part) {
        (Some(h), Some(l)) => format!("{h} with {l}"),
        (Some(h), None) => h,
        (None, Some(l)) => l,
        (None, None) => "any host".to_string(),
    }
}

fn labels_text(rule: &Rule) -> String {
    let Rule::Placement { labels, .. } = rule else {
        return String::new();
    };
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if pairs.len() == 1 {
        format!("label {}", pairs[0])
    } else {
        format!("labels {}", pairs.join(", "))
    }
}

/// Follows "none": "has label disk=ssd", "is a or b", "is a or b and has label disk=ssd".
fn negated(rule: &Rule) -> String {
    let Rule::Placement { hosts, labels } = rule else {
        return String::new();
    };
    match (hosts.is_empty(), labels.is_empty()) {
        (false, false) => format!("is {} and has {}", either(hosts), labels_text(rule)),
        (false, true) => format!("is {}", either(hosts)),
        (true, false) => format!("has {}", labels_text(rule)),
        (true, true) => "exists".to_string(),
    }
}

fn advice(rule: &Rule) -> &'static str {
    match rule {
        Rule::Placement { labels, .. } if !labels.is_empty() => "label a host or relax the policy",
        _ => "bring one of those hosts up or relax the policy",
    }
}

/// Why a host fails a placement rule: "it is not a or b", "it lacks label disk=ssd".
fn misses(rule: &Rule, host: &HostState) -> String {
    let Rule::Placement { hosts, labels } = rule else {
        return String::new();
    };
    let mut why = Vec::new();
    if !hosts.is_empty() && !hosts.contains(&host.name) {
        why.push(format!("it is not {}", either(hosts)));
    }
    let missing: Vec<String> = labels
        .iter()
        .filter(|(k, v)| host.labels.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !missing.is_empty() {
        let noun = if missing.len() == 1 {
            "label"
        } else {
            "labels"
        };
        why.push(format!("it lacks {noun} {}", missing.join(", ")));
    }
    why.join(" and ")
}
