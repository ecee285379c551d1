//! Groups (§16.2) and policies (§16.4) of the service template: their types and property
//! values, members and targets (node templates or groups, of the types the group or policy
//! type allows), and the triggers of policies (§16.5).

use super::Compiler;
use crate::ast::{self, Activity, GroupDef, Named, TypeKind};
use crate::diagnostic::{did_you_mean, known_list};
use crate::model::{CallOperation, GroupOrPolicy, ServiceTemplate, TriggerDefinition};
use crate::names::TypeId;
use std::collections::BTreeMap;

impl Compiler<'_> {
    pub(super) fn groups_and_policies(
        &mut self,
        st: &ast::ServiceTemplate,
        model: &mut ServiceTemplate,
    ) {
        let mut group_types: BTreeMap<String, Option<TypeId>> = BTreeMap::new();
        for def in &st.groups {
            let (compiled, type_id) = self.group_or_policy(def, TypeKind::Group);
            group_types.insert(def.name.name.clone(), type_id);
            model.groups.push(compiled);
        }
        for def in &st.groups {
            self.members(def, TypeKind::Group, &group_types);
        }
        for def in &st.policies {
            let (mut compiled, type_id) = self.group_or_policy(def, TypeKind::Policy);
            compiled.triggers = self.policy_triggers(def, type_id);
            model.policies.push(compiled);
            self.members(def, TypeKind::Policy, &group_types);
            self.triggers(def, st);
        }
    }

    fn group_or_policy(
        &mut self,
        def: &GroupDef,
        kind: TypeKind,
    ) -> (GroupOrPolicy, Option<TypeId>) {
        let what = format!("{} \"{}\"", label(kind), def.name.name);
        let type_id = def.type_name.as_ref().and_then(|t| {
            self.types
                .lookup(self.file, kind, t, &what, self.diagnostics)
        });
        let mut compiled = GroupOrPolicy {
            name: def.name.name.clone(),
            location: def.name.location.clone(),
            types: Vec::new(),
            properties: BTreeMap::new(),
            targets: def.members.iter().map(|m| m.name.clone()).collect(),
            triggers: Vec::new(),
        };
        if let Some(type_id) = type_id {
            let resolved = self.types.resolved(type_id).clone();
            let type_desc = self.types.describe(type_id);
            compiled.properties = self.properties(
                &resolved.properties,
                &def.properties,
                &what,
                &type_desc,
                &def.name.location,
                true,
            );
            self.attributes(
                &resolved.attributes,
                &resolved.properties,
                &def.attributes,
                &what,
                &type_desc,
            );
            compiled.types = self.types.lineage(type_id);
        }
        (compiled, type_id)
    }

    /// The members of a group or targets of a policy: node templates or groups, whose types
    /// the group type's `members` (§16.1) or the policy type's `targets` (§16.3) allow.
    fn members(
        &mut self,
        def: &GroupDef,
        kind: TypeKind,
        groups: &BTreeMap<String, Option<TypeId>>,
    ) {
        let what = format!("{} \"{}\"", label(kind), def.name.name);
        let role = if kind == TypeKind::Group {
            "member"
        } else {
            "target"
        };
        let allowed = def
            .type_name
            .as_ref()
            .and_then(
                |t| match self.types.scopes[self.file].lookup(kind, &t.name) {
                    crate::names::Lookup::Found(id) => Some(id),
                    _ => None,
                },
            )
            .and_then(|id| {
                let resolved = self.types.resolved(id);
                let list = if kind == TypeKind::Group {
                    &resolved.members
                } else {
                    &resolved.targets
                };
                list.clone().map(|list| (id, list))
            });
        for member in &def.members {
            let member_type = if let Some(node) = self.nodes.iter().find(|n| n.name == member.name)
            {
                node.type_id
            } else if let Some(group_type) = groups.get(&member.name) {
                if kind == TypeKind::Group {
                    // A group within a group: the member types restrict its nodes, not it.
                    if member.name == def.name.name {
                        self.diagnostics.error(
                            &member.location,
                            format!("{what} cannot be a member of itself"),
                        );
                    }
                    continue;
                }
                *group_type
            } else {
                let names: Vec<&str> = self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .chain(groups.keys().map(String::as_str))
                    .collect();
                self.diagnostics.error(
                    &member.location,
                    format!(
                        "unknown node template or group \"{}\" as a {role} of {what}{}; node templates and groups: {}",
                        member.name,
                        did_you_mean(&member.name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            let (Some((owner_type, allowed)), Some(member_type)) = (&allowed, member_type) else {
                continue;
            };
            if !allowed
                .iter()
                .any(|&t| self.types.derives_from(member_type, t))
            {
                let names: Vec<&str> = allowed.iter().map(|&t| self.types.name(t)).collect();
                let keyname = if kind == TypeKind::Group {
                    "members"
                } else {
                    "targets"
                };
                self.diagnostics.error(
                    &member.location,
                    format!(
                        "\"{}\" ({}) cannot be a {role} of {what}: {} allows only {keyname} of types {} or derived ({})",
                        member.name,
                        self.types.describe(member_type),
                        self.types.describe(*owner_type),
                        names.join(", "),
                        if kind == TypeKind::Group { "§16.2" } else { "§16.4" }
                    ),
                );
            }
        }
    }

    /// The triggers of a policy: their conditions and actions.
    fn triggers(&mut self, def: &GroupDef, st: &ast::ServiceTemplate) {
        let inputs: Vec<&crate::model::PropertyDefinition> = Vec::new();
        for trigger in &def.triggers {
            let what = format!(
                "trigger \"{}\" of policy \"{}\"",
                trigger.name.name, def.name.name
            );
            if let Some(condition) = &trigger.condition {
                self.check_expr_in(condition, super::checks::SelfRef::Unknown, &inputs, false);
            }
            for activity in &trigger.action {
                if let Activity::Inline { workflow, .. } = activity {
                    self.known_workflow(workflow, st, &what);
                }
            }
        }
    }

    /// The triggers of a policy for the model: its type's (ancestors' first), then its own,
    /// which replace the type's of the same name.
    fn policy_triggers(
        &mut self,
        def: &GroupDef,
        type_id: Option<TypeId>,
    ) -> Vec<TriggerDefinition> {
        let mut triggers: Vec<TriggerDefinition> = Vec::new();
        let mut add =
            |trigger: TriggerDefinition| match triggers.iter().position(|t| t.name == trigger.name)
            {
                Some(p) => triggers[p] = trigger,
                None => triggers.push(trigger),
            };
        let lineage: Vec<TypeId> = type_id
            .map(|t| self.types.ancestry(t).collect())
            .unwrap_or_default();
        for id in lineage.into_iter().rev() {
            let owner = self.types.describe(id);
            let defs = self.types.entries[id].def.triggers.clone();
            for trigger in &defs {
                if let Some(compiled) = self.trigger_definition(trigger, &owner) {
                    add(compiled);
                }
            }
        }
        let owner = format!("policy \"{}\"", def.name.name);
        for trigger in &def.triggers {
            if let Some(compiled) = self.trigger_definition(trigger, &owner) {
                add(compiled);
            }
        }
        triggers
    }

    /// One trigger for the model: only its `call_operation` activities are kept, the others
    /// are reported as ignored. None without an event (reported by the parser).
    fn trigger_definition(
        &mut self,
        trigger: &ast::TriggerDef,
        owner: &str,
    ) -> Option<TriggerDefinition> {
        let event = trigger.event.as_ref()?;
        let mut actions = Vec::new();
        for activity in &trigger.action {
            let ignored = match activity {
                Activity::CallOperation { operation, inputs } => {
                    actions.push(CallOperation {
                        operation: operation.name.clone(),
                        location: operation.location.clone(),
                        inputs: inputs
                            .iter()
                            .map(|a| (a.name.name.clone(), a.value.clone()))
                            .collect(),
                    });
                    continue;
                }
                Activity::Delegate { .. } => "a delegate activity",
                Activity::SetState => "a set_state activity",
                Activity::Inline { .. } => "an inline activity",
            };
            self.diagnostics.warning(
                &trigger.name.location,
                format!(
                    "Khutulun runs only call_operation activities in triggers; {ignored} of trigger \"{}\" of {owner} is ignored",
                    trigger.name.name
                ),
            );
        }
        Some(TriggerDefinition {
            name: trigger.name.name.clone(),
            location: trigger.name.location.clone(),
            event: event.name.clone(),
            condition: trigger.condition.clone(),
            actions,
        })
    }

    /// An inline activity names a workflow of the service template (§13.2.3.4).
    pub(super) fn known_workflow(
        &mut self,
        workflow: &Named,
        st: &ast::ServiceTemplate,
        what: &str,
    ) -> bool {
        if st.workflows.iter().any(|w| w.name.name == workflow.name) {
            return true;
        }
        let names: Vec<&str> = st.workflows.iter().map(|w| w.name.name.as_str()).collect();
        self.diagnostics.error(
            &workflow.location,
            format!(
                "unknown workflow \"{}\" in the inline activity of {what}{}; the service template's workflows are: {}",
                workflow.name,
                did_you_mean(&workflow.name, names.iter().copied()),
                known_list(names.iter().copied())
            ),
        );
        false
    }
}

fn label(kind: TypeKind) -> &'static str {
    if kind == TypeKind::Group {
        "group"
    } else {
        "policy"
    }
}
