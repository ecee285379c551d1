//! Lists of type names that restrict what a type accepts: the valid source, target,
//! capability and relationship types of relationship and capability types (§7.3, §8.1), the
//! members of group types (§16.1) and the targets of policy types (§16.3). A derived type may
//! only narrow the list it inherits: each entry must be an entry of the parent's list or
//! derive from one.

use super::{Resolved, Types};
use crate::ast::{Named, TypeDef, TypeKind};
use crate::diagnostic::Diagnostics;
use crate::names::{Lookup, TypeId};

impl Types {
    /// Resolves the restricting lists of `def` into `resolved` (which holds the inherited
    /// ones), checking that each narrows the inherited list.
    pub(super) fn restrictions(
        &mut self,
        file: usize,
        def: &TypeDef,
        resolved: &mut Resolved,
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) {
        let lists = [
            (
                &def.valid_source_node_types,
                "valid_source_node_types",
                TypeKind::Node,
            ),
            (
                &def.valid_target_node_types,
                "valid_target_node_types",
                TypeKind::Node,
            ),
            (
                &def.valid_capability_types,
                "valid_capability_types",
                TypeKind::Capability,
            ),
            (
                &def.valid_relationship_types,
                "valid_relationship_types",
                TypeKind::Relationship,
            ),
            (&def.members, "members", TypeKind::Node),
        ];
        for (names, keyname, kind) in lists {
            let Some(names) = names else {
                continue;
            };
            let pairs: Vec<(&Named, TypeId)> = names
                .iter()
                .filter_map(|n| {
                    let id =
                        self.lookup(file, kind, n, &format!("{keyname} of {owner}"), diagnostics)?;
                    Some((n, id))
                })
                .collect();
            let inherited = match keyname {
                "valid_source_node_types" => &mut resolved.valid_source_node_types,
                "valid_target_node_types" => &mut resolved.valid_target_node_types,
                "valid_capability_types" => &mut resolved.valid_capability_types,
                "valid_relationship_types" => &mut resolved.valid_relationship_types,
                _ => &mut resolved.members,
            };
            if let Some(parent) = inherited.as_ref() {
                self.narrows(&pairs, parent, keyname, owner, diagnostics);
            }
            *inherited = Some(pairs.iter().map(|(_, id)| *id).collect());
        }
        if let Some(targets) = &def.targets {
            let pairs: Vec<(&Named, TypeId)> = targets
                .iter()
                .filter_map(|target| {
                    Some((
                        target,
                        self.policy_target(file, target, owner, diagnostics)?,
                    ))
                })
                .collect();
            if let Some(parent) = resolved.targets.as_ref() {
                self.narrows(&pairs, parent, "targets", owner, diagnostics);
            }
            resolved.targets = Some(pairs.iter().map(|(_, id)| *id).collect());
        }
    }

    /// A policy type's target: a node type or a group type (§16.3).
    fn policy_target(
        &mut self,
        file: usize,
        target: &Named,
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<TypeId> {
        if let Lookup::Found(id) = self.scopes[file].lookup(TypeKind::Group, &target.name) {
            return Some(id);
        }
        self.lookup(
            file,
            TypeKind::Node,
            target,
            &format!("targets of {owner} (a node type or group type)"),
            diagnostics,
        )
    }

    /// Each entry of `list` must be in `parent` or derive from an entry of it.
    pub(super) fn narrows(
        &self,
        list: &[(&Named, TypeId)],
        parent: &[TypeId],
        keyname: &str,
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) {
        for &(name, id) in list {
            if !parent.iter().any(|&p| self.derives_from(id, p)) {
                let allowed: Vec<&str> = parent.iter().map(|&p| self.name(p)).collect();
                diagnostics.error(
                    &name.location,
                    format!(
                        "{keyname} of {owner} lists \"{}\", which is neither in the inherited {keyname} ({}) nor derived from one of them; a refinement may only narrow the list (§6.4.2)",
                        name.name,
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}
