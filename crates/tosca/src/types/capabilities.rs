//! Capability and requirement definitions of node types and their refinement (§8.2, §8.4).

use super::{CapabilityRef, CapabilitySpec, DefLabel, RelationshipSpec, RequirementSpec, Types};
use crate::ast::{CountRange, Named, RelationshipDef, RequirementDef, TypeDef, TypeKind};
use crate::diagnostic::{known_list, Diagnostics};
use crate::names::{Lookup, TypeId};

impl Types {
    pub(super) fn capabilities(
        &mut self,
        id: TypeId,
        def: &TypeDef,
        inherited: &[CapabilitySpec],
        diagnostics: &mut Diagnostics,
    ) -> Vec<CapabilitySpec> {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let mut out = inherited.to_vec();
        for cap in &def.capabilities {
            let what = format!("capability \"{}\" of {owner}", cap.name.name);
            let parent = out.iter().position(|c| c.name == cap.name.name);
            let type_id = match &cap.type_name {
                Some(type_name) => {
                    let Some(type_id) =
                        self.lookup(file, TypeKind::Capability, type_name, &what, diagnostics)
                    else {
                        continue;
                    };
                    if let Some(p) = parent {
                        let old = out[p].type_id;
                        if !self.derives_from(type_id, old) {
                            diagnostics.error(
                                &type_name.location,
                                format!(
                                    "{what} refines the capability type \"{}\" to \"{}\", which does not derive from it (§8.2.1)",
                                    self.name(old),
                                    type_name.name
                                ),
                            );
                        }
                    }
                    type_id
                }
                None => match parent {
                    Some(p) => out[p].type_id,
                    None => {
                        diagnostics
                            .error(&cap.name.location, format!("{what} needs a type (§8.2)"));
                        continue;
                    }
                },
            };
            self.flatten(type_id, diagnostics);
            let (base_properties, base_attributes, base_sources, base_relationships) = match parent
            {
                Some(p) if out[p].type_id == type_id => (
                    out[p].properties.clone(),
                    out[p].attributes.clone(),
                    out[p].valid_source_node_types.clone(),
                    out[p].valid_relationship_types.clone(),
                ),
                _ => {
                    let r = &self.resolved[type_id];
                    (
                        r.properties.clone(),
                        r.attributes.clone(),
                        r.valid_source_node_types.clone(),
                        r.valid_relationship_types.clone(),
                    )
                }
            };
            let properties = self.value_defs(
                file,
                &cap.properties,
                &base_properties,
                DefLabel::Property,
                &what,
                false,
                diagnostics,
            );
            let attributes = self.value_defs(
                file,
                &cap.attributes,
                &base_attributes,
                DefLabel::Attribute,
                &what,
                false,
                diagnostics,
            );
            let sources = self.narrowed(
                file,
                &cap.valid_source_node_types,
                base_sources,
                ("valid_source_node_types", TypeKind::Node),
                &what,
                diagnostics,
            );
            let relationships = self.narrowed(
                file,
                &cap.valid_relationship_types,
                base_relationships,
                ("valid_relationship_types", TypeKind::Relationship),
                &what,
                diagnostics,
            );
            let spec = CapabilitySpec {
                name: cap.name.name.clone(),
                type_id,
                properties,
                attributes,
                valid_source_node_types: sources,
                valid_relationship_types: relationships,
            };
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    pub(super) fn requirements(
        &mut self,
        id: TypeId,
        def: &TypeDef,
        inherited: &[RequirementSpec],
        diagnostics: &mut Diagnostics,
    ) -> Vec<RequirementSpec> {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let mut out = inherited.to_vec();
        let mut seen: Vec<&str> = Vec::new();
        for req in &def.requirements {
            let what = format!("requirement \"{}\" of {owner}", req.name.name);
            if seen.contains(&req.name.name.as_str()) {
                diagnostics.error(
                    &req.name.location,
                    format!("{what} is defined twice; requirement names are unique in a node type (§8.4)"),
                );
                continue;
            }
            seen.push(&req.name.name);
            let parent = out.iter().position(|r| r.name == req.name.name);
            let spec = self.requirement(
                file,
                req,
                parent.map(|p| &out[p]).cloned(),
                &what,
                diagnostics,
            );
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    pub(super) fn requirement(
        &mut self,
        file: usize,
        req: &RequirementDef,
        parent: Option<RequirementSpec>,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> RequirementSpec {
        let node = match &req.node {
            Some(node) => self.lookup(file, TypeKind::Node, node, what, diagnostics),
            None => parent.as_ref().and_then(|p| p.node),
        };
        if let (Some(node), Some(old)) = (node, parent.as_ref().and_then(|p| p.node)) {
            if !self.derives_from(node, old) {
                diagnostics.error(
                    &req.node.as_ref().map_or_else(|| req.name.location.clone(), |n| n.location.clone()),
                    format!(
                        "{what} refines its node to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                        self.name(node),
                        self.name(old)
                    ),
                );
            }
        }
        let capability = match &req.capability {
            Some(capability) => {
                let scope = &self.scopes[file];
                match scope.lookup(TypeKind::Capability, &capability.name) {
                    Lookup::Unknown if node.is_some() => {
                        Some(CapabilityRef::Name(capability.name.clone()))
                    }
                    _ => self
                        .lookup(
                            file,
                            TypeKind::Capability,
                            capability,
                            &format!("the capability of {what}"),
                            diagnostics,
                        )
                        .map(CapabilityRef::Type),
                }
            }
            None => {
                let inherited = parent.as_ref().and_then(|p| p.capability.clone());
                if inherited.is_none() && parent.is_none() {
                    diagnostics.error(
                        &req.name.location,
                        format!("{what} needs a capability (a capability type, §8.4)"),
                    );
                }
                inherited
            }
        };
        if let (Some(CapabilityRef::Type(new)), Some(Some(CapabilityRef::Type(old)))) =
            (&capability, parent.as_ref().map(|p| p.capability.clone()))
        {
            if !self.derives_from(*new, old) {
                diagnostics.error(
                    &req.capability.as_ref().map_or_else(|| req.name.location.clone(), |c| c.location.clone()),
                    format!(
                        "{what} refines its capability to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                        self.name(*new),
                        self.name(old)
                    ),
                );
            }
        }
        let relationship = match &req.relationship {
            Some(rel) => self.relationship_spec(
                file,
                rel,
                parent.as_ref().and_then(|p| p.relationship.clone()),
                what,
                diagnostics,
            ),
            None => {
                if parent.is_none() && !req.short_form {
                    diagnostics.error(
                        &req.name.location,
                        format!("{what} needs a relationship (a relationship type, §8.4)"),
                    );
                }
                parent.as_ref().and_then(|p| p.relationship.clone())
            }
        };
        let parent_range = parent.as_ref().map(|p| p.count_range);
        let count_range = match (req.count_range, parent_range) {
            (Some(range), Some(old)) => {
                let within = range.min >= old.min
                    && match (range.max, old.max) {
                        (_, None) => true,
                        (Some(max), Some(old_max)) => max <= old_max,
                        (None, Some(_)) => false,
                    };
                if !within {
                    diagnostics.error(
                        &req.name.location,
                        format!(
                            "{what} refines count_range to {range}, which is not within the inherited {old} (§8.4.1)"
                        ),
                    );
                }
                range
            }
            (Some(range), None) => range,
            (None, Some(old)) => old,
            (None, None) => CountRange::default(),
        };
        RequirementSpec {
            name: req.name.name.clone(),
            capability,
            node,
            relationship,
            count_range,
        }
    }

    pub(super) fn relationship_spec(
        &mut self,
        file: usize,
        rel: &RelationshipDef,
        parent: Option<RelationshipSpec>,
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<RelationshipSpec> {
        let what = format!("the relationship of {owner}");
        let type_id = match &rel.type_name {
            Some(type_name) => {
                let id =
                    self.lookup(file, TypeKind::Relationship, type_name, &what, diagnostics)?;
                if let Some(old) = parent.as_ref().map(|p| p.type_id) {
                    if !self.derives_from(id, old) {
                        diagnostics.error(
                            &type_name.location,
                            format!(
                                "{what} refines the relationship type to \"{}\", which does not derive from \"{}\" (§8.4.1)",
                                type_name.name,
                                self.name(old)
                            ),
                        );
                    }
                }
                id
            }
            None => match &parent {
                Some(p) => p.type_id,
                None => {
                    diagnostics.error(&rel.location, format!("{what} needs a type (§8.4)"));
                    return None;
                }
            },
        };
        self.flatten(type_id, diagnostics);
        let (base_properties, base_attributes) = match &parent {
            Some(p) if p.type_id == type_id => (p.properties.clone(), p.attributes.clone()),
            _ => (
                self.resolved[type_id].properties.clone(),
                self.resolved[type_id].attributes.clone(),
            ),
        };
        let base_interfaces = match &parent {
            Some(p) if p.type_id == type_id => p.interfaces.clone(),
            _ => self.resolved[type_id].interfaces.clone(),
        };
        let interfaces =
            self.interface_definitions(file, &rel.interfaces, &base_interfaces, &what, diagnostics);
        let properties = self.value_defs(
            file,
            &rel.properties,
            &base_properties,
            DefLabel::Property,
            &what,
            false,
            diagnostics,
        );
        let attributes = self.value_defs(
            file,
            &rel.attributes,
            &base_attributes,
            DefLabel::Attribute,
            &what,
            false,
            diagnostics,
        );
        Some(RelationshipSpec {
            type_id,
            properties,
            attributes,
            interfaces,
        })
    }

    /// Requirement definitions that name a capability of their target node type must name
    /// one that exists (checked once every node type is flattened).
    pub(super) fn check_capability_names(&self, diagnostics: &mut Diagnostics) {
        for (id, entry) in self.entries.iter().enumerate() {
            for req in &entry.def.requirements {
                let Some(spec) = self.resolved[id]
                    .requirements
                    .iter()
                    .find(|r| r.name == req.name.name)
                else {
                    continue;
                };
                if let (Some(CapabilityRef::Name(name)), Some(node)) = (&spec.capability, spec.node)
                {
                    // Reported where this definition writes the capability or refines the
                    // node; an inherited or repeated definition was reported where written.
                    let Some(at) = req
                        .capability
                        .as_ref()
                        .or(req.node.as_ref())
                        .map(|n| n.location.clone())
                    else {
                        continue;
                    };
                    let capabilities = &self.resolved[node].capabilities;
                    if !capabilities.iter().any(|c| &c.name == name) {
                        diagnostics.error(
                            &at,
                            format!(
                                "unknown capability \"{name}\" in requirement \"{}\" of {}: it is neither a capability type nor a capability of node type \"{}\" (which has: {})",
                                req.name.name,
                                self.describe(id),
                                self.name(node),
                                known_list(capabilities.iter().map(|c| c.name.as_str()))
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A capability definition's list of types: it may narrow the list of its capability
    /// type (§8.2).
    fn narrowed(
        &mut self,
        file: usize,
        names: &Option<Vec<Named>>,
        base: Option<Vec<TypeId>>,
        (keyname, kind): (&str, TypeKind),
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> Option<Vec<TypeId>> {
        let Some(names) = names else {
            return base;
        };
        let pairs: Vec<(&Named, TypeId)> = names
            .iter()
            .filter_map(|n| Some((n, self.lookup(file, kind, n, what, diagnostics)?)))
            .collect();
        if let Some(base) = &base {
            self.narrows(&pairs, base, keyname, what, diagnostics);
        }
        Some(pairs.into_iter().map(|(_, id)| id).collect())
    }
}
