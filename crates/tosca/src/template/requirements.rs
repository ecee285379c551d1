//! Requirement fulfilment (§8.5): each requirement assignment of a node template is matched
//! with a target node template and one of its capabilities, and gets its relationship.
//! Targets are named node templates or, when a node type (or nothing) is given, the first
//! node template of the service that fits. `count_range` is checked per requirement name, and
//! requirements whose range needs relationships but that have no assignment get an implicit
//! one (§8.5.4).

use super::{Compiler, RequirementInfo};
use crate::ast::{Named, RelationshipAssignment, RequirementAssignment, TypeKind};
use crate::diagnostic::{did_you_mean, known_list, Location};
use crate::model::{
    Expr, ExprKind, RelationshipTemplate, RequirementTemplate, UnfulfilledRequirement,
};
use crate::names::{Lookup, TypeId};
use crate::types::{CapabilityRef, CapabilitySpec, RelationshipSpec, RequirementSpec};

/// What became of one requirement assignment.
enum Outcome {
    Fulfilled(Box<(RequirementTemplate, RequirementInfo)>),
    /// No node template of the service fits; the reason says what was looked for.
    Dangling(String),
    /// An error was reported.
    Failed,
}

/// The target node template of an assignment.
enum Target {
    Found(usize),
    Dangling(String),
    Failed,
}

/// The literal value of a count, or None when it is a function call.
fn literal_count(count: Option<&Expr>) -> Option<u64> {
    match count.map(|c| &c.kind) {
        None => Some(1),
        Some(ExprKind::Integer(n)) => u64::try_from(*n).ok(),
        Some(_) => None,
    }
}

impl Compiler<'_> {
    pub(super) fn requirements(
        &mut self,
        index: usize,
        template: &crate::ast::NodeTemplate,
    ) -> (
        Vec<RequirementTemplate>,
        Vec<RequirementInfo>,
        Vec<UnfulfilledRequirement>,
    ) {
        let mut requirements = Vec::new();
        let mut infos = Vec::new();
        let mut unfulfilled = Vec::new();
        let Some(source_type) = self.nodes[index].type_id else {
            return (requirements, infos, unfulfilled);
        };
        let specs = self.types.resolved(source_type).requirements.clone();
        let what = format!("node template \"{}\"", self.nodes[index].name);
        let type_desc = self.types.describe(source_type);
        let mut record = |this: &mut Self,
                          outcome: Outcome,
                          spec: &RequirementSpec,
                          at: &Location,
                          optional: bool,
                          count: Option<u64>| match outcome {
            Outcome::Fulfilled(fulfilled) => {
                let (mut requirement, info) = *fulfilled;
                if let Some(count) = count {
                    requirement.count.kind =
                        ExprKind::Integer(i64::try_from(count).unwrap_or(i64::MAX));
                }
                requirements.push(requirement);
                infos.push(info);
            }
            Outcome::Dangling(reason) => {
                let optional_text = if optional { "optional " } else { "" };
                this.diagnostics.warning(
                    at,
                    format!(
                        "{optional_text}requirement \"{}\" of {what} has no target in this service template: {reason}; it is left for the orchestrator to fulfil (name a node template with node: to fulfil it here)",
                        spec.name
                    ),
                );
                unfulfilled.push(UnfulfilledRequirement {
                    name: spec.name.clone(),
                    location: at.clone(),
                    reason,
                    optional,
                });
            }
            Outcome::Failed => {}
        };
        for assignment in &template.requirements {
            let name = &assignment.name.name;
            let Some(spec) = specs.iter().find(|s| &s.name == name) else {
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                self.diagnostics.error(
                    &assignment.name.location,
                    format!(
                        "unknown requirement \"{name}\" in {what}{}; {type_desc} defines requirements: {}",
                        did_you_mean(name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            let outcome = self.fulfil(index, spec, Some(assignment));
            record(
                self,
                outcome,
                spec,
                &assignment.location,
                assignment.optional,
                None,
            );
        }
        for spec in &specs {
            let range = spec.count_range;
            let assigned: Vec<&RequirementAssignment> = template
                .requirements
                .iter()
                .filter(|a| a.name.name == spec.name)
                .collect();
            if assigned.is_empty() {
                if range.min > 0 {
                    // An implicit assignment (§8.5.4).
                    let outcome = self.fulfil(index, spec, None);
                    let at = template.name.location.clone();
                    record(self, outcome, spec, &at, false, Some(range.min));
                }
                continue;
            }
            let counts: Option<Vec<(u64, bool)>> = assigned
                .iter()
                .map(|a| literal_count(a.count.as_ref()).map(|c| (c, a.optional)))
                .collect();
            // Counts given by functions are only known at instantiation.
            let Some(counts) = counts else {
                continue;
            };
            let total: u64 = counts.iter().map(|(c, _)| c).sum();
            let required: u64 = counts
                .iter()
                .filter(|(_, optional)| !optional)
                .map(|(c, _)| c)
                .sum();
            if required < range.min {
                self.diagnostics.error(
                    &template.name.location,
                    format!(
                        "{what} assigns {required} non-optional relationship(s) for requirement \"{}\", but its count_range {range} needs at least {} (§8.5.4)",
                        spec.name, range.min
                    ),
                );
            }
            if let Some(max) = range.max.filter(|&max| total > max) {
                self.diagnostics.error(
                    &assigned[0].location,
                    format!(
                        "{what} assigns {total} relationship(s) for requirement \"{}\", but its count_range {range} allows at most {max} (§8.5.4)",
                        spec.name
                    ),
                );
            }
        }
        (requirements, infos, unfulfilled)
    }

    /// Fulfils one requirement assignment (or an implicit one when `assignment` is None).
    fn fulfil(
        &mut self,
        index: usize,
        spec: &RequirementSpec,
        assignment: Option<&RequirementAssignment>,
    ) -> Outcome {
        let source_name = self.nodes[index].name.clone();
        let Some(source_type) = self.nodes[index].type_id else {
            return Outcome::Failed;
        };
        let what = format!(
            "requirement \"{}\" of node template \"{source_name}\"",
            spec.name
        );
        let at = assignment
            .map(|a| a.location.clone())
            .unwrap_or_else(|| self.nodes[index].location.clone());
        let optional = assignment.is_some_and(|a| a.optional);
        let wanted_capability = assignment.and_then(|a| a.capability.as_ref());
        if spec.capability.is_none() && wanted_capability.is_none() {
            // The definition's capability is missing or unknown, which is reported there.
            return Outcome::Failed;
        }
        let target = match assignment.and_then(|a| a.node.as_ref()) {
            Some(node) => self.named_target(index, spec, node, wanted_capability, &what),
            None => self.select(index, spec, None, wanted_capability),
        };
        let target = match target {
            Target::Found(target) => target,
            Target::Dangling(reason) => {
                if let Some(assignment) = assignment {
                    let properties = self.required_capability_properties(spec, wanted_capability);
                    if let Some(properties) = properties {
                        self.check_allocation(assignment, &properties, &what);
                    }
                }
                return Outcome::Dangling(reason);
            }
            Target::Failed => return Outcome::Failed,
        };
        let target_name = self.nodes[target].name.clone();
        let Some(target_type) = self.nodes[target].type_id else {
            return Outcome::Failed;
        };
        if let Some(required) = spec.node {
            if !self.types.derives_from(target_type, required) {
                let at = assignment
                    .and_then(|a| a.node.as_ref())
                    .map(|n| n.location.clone())
                    .unwrap_or_else(|| at.clone());
                self.diagnostics.error(
                    &at,
                    format!(
                        "node template \"{target_name}\" ({}) cannot fulfil {what}: it needs a node of node type \"{}\" or one derived from it",
                        self.types.describe(target_type),
                        self.types.name(required)
                    ),
                );
                return Outcome::Failed;
            }
        }
        let capability = match self.capability_match(target_type, spec, wanted_capability) {
            Ok(capability) => capability,
            Err(reason) => {
                let at = wanted_capability
                    .map(|c| c.location.clone())
                    .or_else(|| {
                        assignment
                            .and_then(|a| a.node.as_ref())
                            .map(|n| n.location.clone())
                    })
                    .unwrap_or_else(|| at.clone());
                self.diagnostics.error(
                    &at,
                    format!("node template \"{target_name}\" cannot fulfil {what}: {reason}"),
                );
                return Outcome::Failed;
            }
        };
        if let Some(assignment) = assignment {
            self.check_allocation(assignment, &capability.properties, &what);
        }
        let relationship = self.relationship(spec, assignment, &what, &at);
        if let Some((spec_rel, _)) = &relationship {
            self.check_valid_types(
                source_type,
                target_type,
                &capability,
                spec_rel.type_id,
                &what,
                &at,
            );
        }
        let (relationship_spec, relationship_template) = match relationship {
            Some((spec, template)) => (Some(spec), template),
            None => (
                None,
                RelationshipTemplate {
                    types: Vec::new(),
                    properties: Default::default(),
                    attributes: Default::default(),
                    kinds: Default::default(),
                    interfaces: Default::default(),
                },
            ),
        };
        let count = assignment
            .and_then(|a| a.count.clone())
            .unwrap_or_else(|| Expr::new(at.clone(), ExprKind::Integer(1)));
        Outcome::Fulfilled(Box::new((
            RequirementTemplate {
                name: spec.name.clone(),
                location: at,
                target: target_name.clone(),
                capability: capability.name.clone(),
                relationship: relationship_template,
                count,
                optional,
            },
            RequirementInfo {
                name: spec.name.clone(),
                target: target_name,
                capability: capability.name,
                relationship: relationship_spec,
            },
        )))
    }

    /// `node:` of an assignment: a node template name, or a node type to select by.
    fn named_target(
        &mut self,
        index: usize,
        spec: &RequirementSpec,
        node: &Named,
        wanted_capability: Option<&Named>,
        what: &str,
    ) -> Target {
        if let Some(target) = self.node_index.get(&node.name).copied() {
            // A target whose type is unknown was reported already.
            return match self.nodes[target].type_id {
                Some(_) => Target::Found(target),
                None => Target::Failed,
            };
        }
        if let Lookup::Found(node_type) =
            self.types.scopes[self.file].lookup(TypeKind::Node, &node.name)
        {
            if let Some(required) = spec.node {
                if !self.types.derives_from(node_type, required) {
                    self.diagnostics.error(
                        &node.location,
                        format!(
                            "{what} names node type \"{}\", which does not derive from \"{}\" as the requirement definition needs (§8.5.2)",
                            node.name,
                            self.types.name(required)
                        ),
                    );
                    return Target::Failed;
                }
            }
            return self.select(index, spec, Some(node_type), wanted_capability);
        }
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        self.diagnostics.error(
            &node.location,
            format!(
                "unknown node template \"{}\" as the target of {what}{}; node templates: {}",
                node.name,
                did_you_mean(&node.name, names.iter().copied()),
                known_list(names.iter().copied())
            ),
        );
        Target::Failed
    }

    /// Selects the first node template (in declaration order, not the source itself) that
    /// fits the requirement.
    fn select(
        &mut self,
        index: usize,
        spec: &RequirementSpec,
        node_type: Option<TypeId>,
        wanted_capability: Option<&Named>,
    ) -> Target {
        let found = (0..self.nodes.len()).find(|&candidate| {
            let Some(candidate_type) = self.nodes[candidate].type_id else {
                return false;
            };
            candidate != index
                && node_type.is_none_or(|t| self.types.derives_from(candidate_type, t))
                && spec
                    .node
                    .is_none_or(|t| self.types.derives_from(candidate_type, t))
                && self
                    .capability_match(candidate_type, spec, wanted_capability)
                    .is_ok()
        });
        if let Some(found) = found {
            return Target::Found(found);
        }
        let mut wanted = Vec::new();
        if let Some(t) = node_type.or(spec.node) {
            wanted.push(format!("of node type \"{}\"", self.types.name(t)));
        }
        match (wanted_capability, &spec.capability) {
            (Some(c), _) => wanted.push(format!(
                "with a capability named \"{}\" or of that type",
                c.name
            )),
            (None, Some(CapabilityRef::Name(n))) => {
                wanted.push(format!("with a capability \"{n}\""))
            }
            (None, Some(CapabilityRef::Type(t))) => wanted.push(format!(
                "with a capability of type \"{}\"",
                self.types.name(*t)
            )),
            (None, None) => {}
        }
        Target::Dangling(format!("no other node template {}", wanted.join(" ")))
    }

    /// The capability of `target_type` that fulfils the requirement.
    fn capability_match(
        &self,
        target_type: TypeId,
        spec: &RequirementSpec,
        wanted: Option<&Named>,
    ) -> Result<CapabilitySpec, String> {
        let capabilities = &self.types.resolved(target_type).capabilities;
        let listing = || {
            let items: Vec<String> = capabilities
                .iter()
                .map(|c| format!("{} ({})", c.name, self.types.name(c.type_id)))
                .collect();
            if items.is_empty() {
                "it has no capabilities".to_string()
            } else {
                format!("its capabilities are: {}", items.join(", "))
            }
        };
        let required_type = match &spec.capability {
            Some(CapabilityRef::Type(t)) => Some(*t),
            _ => None,
        };
        let of_type = |t: TypeId| {
            capabilities
                .iter()
                .find(|c| self.types.derives_from(c.type_id, t))
                .cloned()
        };
        if let Some(wanted) = wanted {
            if let Some(capability) = capabilities.iter().find(|c| c.name == wanted.name) {
                if let Some(CapabilityRef::Name(fixed)) = &spec.capability {
                    if fixed != &wanted.name {
                        return Err(format!(
                            "the requirement definition fixes the capability \"{fixed}\", so the assignment cannot name \"{}\" (§8.5.2)",
                            wanted.name
                        ));
                    }
                }
                if let Some(t) = required_type {
                    if !self.types.derives_from(capability.type_id, t) {
                        return Err(format!(
                            "its capability \"{}\" has type \"{}\", which does not derive from \"{}\" as the requirement needs",
                            capability.name,
                            self.types.name(capability.type_id),
                            self.types.name(t)
                        ));
                    }
                }
                return Ok(capability.clone());
            }
            if let Lookup::Found(t) =
                self.types.scopes[self.file].lookup(TypeKind::Capability, &wanted.name)
            {
                if let Some(required) = required_type {
                    if !self.types.derives_from(t, required) {
                        return Err(format!(
                            "capability type \"{}\" does not derive from \"{}\" as the requirement needs",
                            wanted.name,
                            self.types.name(required)
                        ));
                    }
                }
                return of_type(t).ok_or_else(|| {
                    format!(
                        "it has no capability of type \"{}\" or derived; {}",
                        wanted.name,
                        listing()
                    )
                });
            }
            return Err(format!(
                "\"{}\" is neither one of its capabilities nor a capability type; {}",
                wanted.name,
                listing()
            ));
        }
        match &spec.capability {
            Some(CapabilityRef::Name(name)) => capabilities
                .iter()
                .find(|c| &c.name == name)
                .cloned()
                .ok_or_else(|| format!("it has no capability \"{name}\"; {}", listing())),
            Some(CapabilityRef::Type(t)) => of_type(*t).ok_or_else(|| {
                format!(
                    "it has no capability of type \"{}\" or derived; {}",
                    self.types.name(*t),
                    listing()
                )
            }),
            None => Err("the requirement definition names no capability".to_string()),
        }
    }

    /// The relationship of a fulfilled requirement: its type, property definitions and values.
    fn relationship(
        &mut self,
        spec: &RequirementSpec,
        assignment: Option<&RequirementAssignment>,
        what: &str,
        at: &Location,
    ) -> Option<(RelationshipSpec, RelationshipTemplate)> {
        let base = spec.relationship.clone();
        let rel_what = format!("the relationship of {what}");
        let empty = Vec::new();
        let no_interfaces = Vec::new();
        let (type_id, properties, attributes, interfaces, type_at) = match assignment
            .and_then(|a| a.relationship.as_ref())
        {
            None => (
                base.as_ref()?.type_id,
                &empty,
                &empty,
                &no_interfaces,
                at.clone(),
            ),
            Some(RelationshipAssignment::Name(name)) => {
                match self.types.scopes[self.file].lookup(TypeKind::Relationship, &name.name) {
                    Lookup::Found(t) => (t, &empty, &empty, &no_interfaces, name.location.clone()),
                    _ => match self.relationship_templates.get(&name.name) {
                        Some(info) => {
                            let (t, p, a, i) = (
                                info.type_id,
                                info.properties.clone(),
                                info.attributes.clone(),
                                info.interfaces.clone(),
                            );
                            // The template's interface assignments were checked with it.
                            return self.relationship_values(
                                t,
                                base,
                                (&p, &a, &i),
                                false,
                                &rel_what,
                                &name.location,
                            );
                        }
                        None => {
                            self.types.lookup(
                                self.file,
                                TypeKind::Relationship,
                                name,
                                &format!("{rel_what} (nor is it a relationship template)"),
                                self.diagnostics,
                            );
                            return None;
                        }
                    },
                }
            }
            Some(RelationshipAssignment::Full {
                location,
                type_name,
                properties,
                attributes,
                interfaces,
            }) => {
                let type_id = match type_name {
                    Some(type_name) => self.types.lookup(
                        self.file,
                        TypeKind::Relationship,
                        type_name,
                        &rel_what,
                        self.diagnostics,
                    )?,
                    None => base.as_ref()?.type_id,
                };
                (
                    type_id,
                    properties,
                    attributes,
                    interfaces,
                    location.clone(),
                )
            }
        };
        let (properties, attributes, interfaces) =
            (properties.clone(), attributes.clone(), interfaces.clone());
        self.relationship_values(
            type_id,
            base,
            (&properties, &attributes, &interfaces),
            true,
            &rel_what,
            &type_at,
        )
    }

    fn relationship_values(
        &mut self,
        type_id: TypeId,
        base: Option<RelationshipSpec>,
        (properties, attributes, interfaces): (
            &[crate::ast::Assignment],
            &[crate::ast::Assignment],
            &[crate::ast::InterfaceAssignment],
        ),
        check_interfaces: bool,
        what: &str,
        at: &Location,
    ) -> Option<(RelationshipSpec, RelationshipTemplate)> {
        if let Some(base) = &base {
            if !self.types.derives_from(type_id, base.type_id) {
                self.diagnostics.error(
                    at,
                    format!(
                        "{what} has type \"{}\", which does not derive from \"{}\" as the requirement definition needs (§8.5.2)",
                        self.types.name(type_id),
                        self.types.name(base.type_id)
                    ),
                );
                return None;
            }
        }
        let spec = match base {
            Some(base) if base.type_id == type_id => base,
            _ => RelationshipSpec {
                type_id,
                properties: self.types.resolved(type_id).properties.clone(),
                attributes: self.types.resolved(type_id).attributes.clone(),
                interfaces: self.types.resolved(type_id).interfaces.clone(),
            },
        };
        let type_desc = self.types.describe(type_id);
        let property_values =
            self.properties(&spec.properties, properties, what, &type_desc, at, true);
        let attribute_values = self.attributes(
            &spec.attributes,
            &spec.properties,
            attributes,
            what,
            &type_desc,
        );
        let attribute_names: Vec<&str> = spec
            .attributes
            .iter()
            .chain(&spec.properties)
            .map(|d| d.name.as_str())
            .collect();
        if check_interfaces {
            self.interface_assignments(
                interfaces,
                &super::InterfaceContext {
                    specs: &spec.interfaces,
                    what,
                    type_desc: &type_desc,
                    attributes: attribute_names,
                },
            );
        }
        let interfaces =
            self.runnable_interfaces(&spec.interfaces, interfaces, &Default::default());
        let template = RelationshipTemplate {
            types: self.types.lineage(type_id),
            properties: property_values,
            attributes: attribute_values,
            kinds: self.kinds(&spec.properties, &spec.attributes),
            interfaces,
        };
        Some((spec, template))
    }

    /// The valid_* restrictions of relationship and capability types (§7.3, §8.1, §8.2).
    fn check_valid_types(
        &mut self,
        source_type: TypeId,
        target_type: TypeId,
        capability: &CapabilitySpec,
        relationship_type: TypeId,
        what: &str,
        at: &Location,
    ) {
        let relationship = self.types.resolved(relationship_type).clone();
        let capability_type = self.types.resolved(capability.type_id).clone();
        let checks = [
            (
                relationship.valid_capability_types.as_ref(),
                capability.type_id,
                format!(
                    "relationship type \"{}\" only targets capabilities of types",
                    self.types.name(relationship_type)
                ),
                format!(
                    "capability \"{}\" has type \"{}\"",
                    capability.name,
                    self.types.name(capability.type_id)
                ),
            ),
            (
                relationship.valid_target_node_types.as_ref(),
                target_type,
                format!(
                    "relationship type \"{}\" only targets nodes of types",
                    self.types.name(relationship_type)
                ),
                format!(
                    "the target has node type \"{}\"",
                    self.types.name(target_type)
                ),
            ),
            (
                relationship.valid_source_node_types.as_ref(),
                source_type,
                format!(
                    "relationship type \"{}\" only starts from nodes of types",
                    self.types.name(relationship_type)
                ),
                format!(
                    "the source has node type \"{}\"",
                    self.types.name(source_type)
                ),
            ),
            (
                capability
                    .valid_source_node_types
                    .as_ref()
                    .or(capability_type.valid_source_node_types.as_ref()),
                source_type,
                format!(
                    "capability \"{}\" only accepts relationships from nodes of types",
                    capability.name
                ),
                format!(
                    "the source has node type \"{}\"",
                    self.types.name(source_type)
                ),
            ),
            (
                capability
                    .valid_relationship_types
                    .as_ref()
                    .or(capability_type.valid_relationship_types.as_ref()),
                relationship_type,
                format!(
                    "capability \"{}\" only accepts relationships of types",
                    capability.name
                ),
                format!(
                    "the relationship has type \"{}\"",
                    self.types.name(relationship_type)
                ),
            ),
        ];
        for (valid, actual, rule, fact) in checks {
            let Some(valid) = valid else {
                continue;
            };
            if !valid.iter().any(|&v| self.types.derives_from(actual, v)) {
                let names: Vec<&str> = valid.iter().map(|&v| self.types.name(v)).collect();
                self.diagnostics.error(
                    at,
                    format!(
                        "{what} cannot be fulfilled: {rule} {} (or derived), and {fact}",
                        names.join(", ")
                    ),
                );
            }
        }
    }
}
