//! Compiling the entry file's service template (§6.9): inputs and outputs, node templates with
//! their types flattened into them, property and attribute values, capabilities, requirement
//! fulfilment (and allocations), interfaces and artifacts, groups and policies, workflows,
//! substitution mappings, and the checks of function calls that can be done before
//! deployment.

mod allocation;
mod checks;
mod groups;
mod interfaces;
mod requirements;
mod runnable;
mod substitution;
mod typing;
mod workflows;

use crate::ast::{self, Assignment, TypeKind};
use crate::builtins::Kind;
use crate::catalog::Catalog;
use crate::diagnostic::{did_you_mean, known_list, Diagnostics, Location};
use crate::model::{CapabilityTemplate, Expr, NodeTemplate, PropertyDefinition, ServiceTemplate};
use crate::names::TypeId;
use crate::types::{DefLabel, RelationshipSpec, Types};
use interfaces::InterfaceContext;
use std::collections::BTreeMap;

/// What the compile knows about a node template beyond the model.
pub(crate) struct NodeInfo {
    pub name: String,
    pub location: Location,
    /// None when the template's type is unknown (already reported).
    pub type_id: Option<TypeId>,
    /// Parallel to the model's requirements.
    pub requirements: Vec<RequirementInfo>,
    /// The names of its artifacts: its type's and its own.
    pub artifacts: Vec<String>,
}

/// A relationship template of the service template, for the requirements that name it.
pub(crate) struct RelationshipTemplateInfo {
    pub type_id: TypeId,
    pub properties: Vec<Assignment>,
    pub attributes: Vec<Assignment>,
    pub interfaces: Vec<ast::InterfaceAssignment>,
}

pub(crate) struct RequirementInfo {
    pub name: String,
    pub target: String,
    pub capability: String,
    pub relationship: Option<RelationshipSpec>,
}

pub(crate) struct Compiler<'a> {
    pub types: &'a mut Types,
    pub diagnostics: &'a mut Diagnostics,
    /// The entry file: the scope in which the service template's names resolve.
    pub file: usize,
    pub nodes: Vec<NodeInfo>,
    /// Node templates by name (the first of a name), so lookups do not scan `nodes`.
    pub node_index: std::collections::HashMap<String, usize>,
    /// Relationship templates by name: type, property and attribute assignments, and
    /// interface assignments.
    pub relationship_templates: BTreeMap<String, RelationshipTemplateInfo>,
    /// The properties of the entity whose values are being checked, for
    /// `$get_property: [ SELF, ... ]` in validation clauses: name, value, schema.
    pub self_values: Vec<(String, Expr, Option<crate::model::Schema>)>,
    /// The inputs of the service template.
    pub inputs: Vec<PropertyDefinition>,
    /// The directory of each file of the catalog (artifact files are relative to it).
    pub dirs: Vec<Option<std::path::PathBuf>>,
}

/// Compiles the service template of the catalog's entry file (an empty model when it has
/// none, e.g. a file of types).
pub(crate) fn compile(
    catalog: &Catalog,
    types: &mut Types,
    diagnostics: &mut Diagnostics,
) -> ServiceTemplate {
    let entry = &catalog.files[0];
    let mut model = ServiceTemplate {
        location: entry.ast.location.clone(),
        ..ServiceTemplate::default()
    };
    let dirs: Vec<Option<std::path::PathBuf>> =
        catalog.files.iter().map(|f| f.dir.clone()).collect();
    model.functions = runnable::functions(catalog, types, &dirs);
    if let Some(service_template) = &entry.ast.service_template {
        let mut compiler = Compiler {
            types,
            diagnostics,
            file: 0,
            nodes: Vec::new(),
            node_index: Default::default(),
            relationship_templates: BTreeMap::new(),
            self_values: Vec::new(),
            inputs: Vec::new(),
            dirs,
        };
        compiler.run(service_template, &mut model);
        model.data_types = compiler.types.data_types.clone();
    } else {
        model.data_types = types.data_types.clone();
    }
    model
}

impl Compiler<'_> {
    fn run(&mut self, st: &ast::ServiceTemplate, model: &mut ServiceTemplate) {
        model.location = st.location.clone();
        model.description = st.description.clone();
        model.metadata = st.metadata.clone();
        model.inputs = self.parameters(&st.inputs, DefLabel::Input);
        self.inputs = model.inputs.clone();
        model.outputs = self.parameters(&st.outputs, DefLabel::Output);
        self.relationship_templates(&st.relationship_templates);
        for template in &st.node_templates {
            let node = self.node_template(template);
            model.node_templates.push(node);
        }
        for (index, template) in st.node_templates.iter().enumerate() {
            let (requirements, infos, unfulfilled) = self.requirements(index, template);
            model.node_templates[index].requirements = requirements;
            model.node_templates[index].unfulfilled = unfulfilled;
            self.nodes[index].requirements = infos;
        }
        self.groups_and_policies(st, model);
        self.workflows(st, model);
        self.substitution(st, model);
        self.check_functions(model);
        self.check_interface_functions(st, model);
    }

    fn parameters(
        &mut self,
        defs: &[ast::PropertyDef],
        label: DefLabel,
    ) -> Vec<PropertyDefinition> {
        let file = self.file;
        let parameters = self
            .types
            .value_defs(file, defs, &[], label, "", true, self.diagnostics);
        for parameter in &parameters {
            let what = format!("{} \"{}\"", label.label(), parameter.name);
            if let Some(schema) = &parameter.schema {
                if let Some(default) = &parameter.default {
                    self.check_value(default, schema, &format!("the default of {what}"));
                }
                if let Some(value) = &parameter.value {
                    self.check_value(value, schema, &format!("the value of {what}"));
                }
            }
        }
        parameters
    }

    pub(crate) fn check_value(&mut self, value: &Expr, schema: &crate::model::Schema, what: &str) {
        self.check_input_type(value, schema, what);
        let mut problems = Vec::new();
        let self_values = &self.self_values;
        let lookup = |name: &str| {
            self_values
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, v, s)| (v.clone(), s.clone()))
        };
        crate::values::check_in(
            value,
            schema,
            &self.types.data_types,
            what,
            &mut problems,
            Some(&lookup),
        );
        for problem in problems {
            self.diagnostics.error(&problem.location, problem.message);
        }
    }

    fn relationship_templates(&mut self, templates: &[ast::RelationshipTemplate]) {
        for template in templates {
            let what = format!("relationship template \"{}\"", template.name.name);
            let Some(type_name) = &template.type_name else {
                continue;
            };
            let Some(type_id) = self.types.lookup(
                self.file,
                TypeKind::Relationship,
                type_name,
                &what,
                self.diagnostics,
            ) else {
                continue;
            };
            let resolved = self.types.resolved(type_id).clone();
            let type_desc = self.types.describe(type_id);
            for assignment in &template.properties {
                self.check_assignment(&resolved.properties, assignment, &what, &type_desc);
            }
            self.attributes(
                &resolved.attributes,
                &resolved.properties,
                &template.attributes,
                &what,
                &type_desc,
            );
            let attribute_names: Vec<&str> = resolved
                .attributes
                .iter()
                .chain(&resolved.properties)
                .map(|d| d.name.as_str())
                .collect();
            self.interface_assignments(
                &template.interfaces,
                &InterfaceContext {
                    specs: &resolved.interfaces,
                    what: &what,
                    type_desc: &type_desc,
                    attributes: attribute_names,
                },
            );
            self.relationship_templates.insert(
                template.name.name.clone(),
                RelationshipTemplateInfo {
                    type_id,
                    properties: template.properties.clone(),
                    attributes: template.attributes.clone(),
                    interfaces: template.interfaces.clone(),
                },
            );
        }
    }

    fn node_template(&mut self, template: &ast::NodeTemplate) -> NodeTemplate {
        let name = template.name.name.clone();
        let what = format!("node template \"{name}\"");
        let type_id = template.type_name.as_ref().and_then(|type_name| {
            self.types.lookup(
                self.file,
                TypeKind::Node,
                type_name,
                &what,
                self.diagnostics,
            )
        });
        let directives: Vec<String> = template.directives.iter().map(|d| d.name.clone()).collect();
        let mut node = NodeTemplate {
            name: name.clone(),
            location: template.name.location.clone(),
            types: Vec::new(),
            description: template.description.clone(),
            metadata: template.metadata.clone(),
            directives: directives.clone(),
            count: template.count.clone().unwrap_or_else(|| {
                Expr::new(
                    template.name.location.clone(),
                    crate::model::ExprKind::Integer(1),
                )
            }),
            properties: BTreeMap::new(),
            attributes: BTreeMap::new(),
            kinds: BTreeMap::new(),
            capabilities: BTreeMap::new(),
            requirements: Vec::new(),
            unfulfilled: Vec::new(),
            interfaces: BTreeMap::new(),
            artifacts: BTreeMap::new(),
        };
        self.node_index
            .entry(name.to_string())
            .or_insert(self.nodes.len());
        self.nodes.push(NodeInfo {
            name,
            location: template.name.location.clone(),
            type_id,
            requirements: Vec::new(),
            artifacts: Vec::new(),
        });
        self.template_artifacts(template, type_id, &what);
        node.artifacts = self.node_artifacts(template, type_id);
        if let Some(count) = &template.count {
            let integer = crate::model::Schema {
                data_type: crate::model::DataTypeRef::Builtin(crate::model::Builtin::Integer),
                type_name: "integer".to_string(),
                entry: None,
                key: None,
                validations: Vec::new(),
            };
            self.check_input_type(count, &integer, &format!("the count of {what}"));
        }
        let Some(type_id) = type_id else {
            return node;
        };
        if let Some(filter) = &template.node_filter {
            if !directives.iter().any(|d| d == "select") {
                self.diagnostics.warning(
                    &filter.location,
                    format!("{what} has a node_filter but not the \"select\" directive; the filter is only used to select a node (§7.2.1)"),
                );
            }
        }
        // A node selected from elsewhere keeps that node's values (§7.2.1).
        let only_select = !directives.is_empty() && directives.iter().all(|d| d == "select");
        node.types = self.types.lineage(type_id);
        let resolved = self.types.resolved(type_id).clone();
        let type_desc = self.types.describe(type_id);
        node.properties = self.properties(
            &resolved.properties,
            &template.properties,
            &what,
            &type_desc,
            &template.name.location,
            !only_select,
        );
        node.attributes = self.attributes(
            &resolved.attributes,
            &resolved.properties,
            &template.attributes,
            &what,
            &type_desc,
        );
        node.kinds = self.kinds(&resolved.properties, &resolved.attributes);
        for assignment in &template.capabilities {
            if !resolved
                .capabilities
                .iter()
                .any(|c| c.name == assignment.name.name)
            {
                let names: Vec<&str> = resolved
                    .capabilities
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                self.diagnostics.error(
                    &assignment.name.location,
                    format!(
                        "unknown capability \"{}\" in {what}{}; {type_desc} defines capabilities: {}",
                        assignment.name.name,
                        did_you_mean(&assignment.name.name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
            }
        }
        for spec in &resolved.capabilities {
            let assignment = template
                .capabilities
                .iter()
                .find(|c| c.name.name == spec.name);
            let cap_what = format!("capability \"{}\" of {what}", spec.name);
            let cap_type = format!(
                "capability \"{}\" (capability type \"{}\")",
                spec.name,
                self.types.name(spec.type_id)
            );
            let empty = Vec::new();
            let properties = self.properties(
                &spec.properties,
                assignment.map(|a| &a.properties).unwrap_or(&empty),
                &cap_what,
                &cap_type,
                &template.name.location,
                !only_select,
            );
            let attributes = self.attributes(
                &spec.attributes,
                &spec.properties,
                assignment.map(|a| &a.attributes).unwrap_or(&empty),
                &cap_what,
                &cap_type,
            );
            node.capabilities.insert(
                spec.name.clone(),
                CapabilityTemplate {
                    name: spec.name.clone(),
                    types: self.types.lineage(spec.type_id),
                    properties,
                    attributes,
                    kinds: self.kinds(&spec.properties, &spec.attributes),
                },
            );
        }
        let attribute_names: Vec<&str> = resolved
            .attributes
            .iter()
            .chain(&resolved.properties)
            .map(|d| d.name.as_str())
            .collect();
        self.interface_assignments(
            &template.interfaces,
            &InterfaceContext {
                specs: &resolved.interfaces,
                what: &what,
                type_desc: &type_desc,
                attributes: attribute_names,
            },
        );
        node.interfaces =
            self.runnable_interfaces(&resolved.interfaces, &template.interfaces, &node.artifacts);
        node
    }

    /// Checks one property assignment against the definitions; returns whether it applies.
    fn check_assignment(
        &mut self,
        defs: &[PropertyDefinition],
        assignment: &Assignment,
        what: &str,
        type_desc: &str,
    ) -> bool {
        let name = &assignment.name.name;
        let Some(def) = defs.iter().find(|d| &d.name == name) else {
            let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
            self.diagnostics.error(
                &assignment.name.location,
                format!(
                    "unknown property \"{name}\" in {what}{}; {type_desc} defines properties: {}",
                    did_you_mean(name, names.iter().copied()),
                    known_list(names.iter().copied())
                ),
            );
            return false;
        };
        if def.value.is_some() {
            self.diagnostics.error(
                &assignment.name.location,
                format!(
                    "property \"{name}\" in {what} cannot be assigned: {type_desc} fixes its value (§9.5)"
                ),
            );
            return false;
        }
        if let Some(schema) = &def.schema {
            self.check_value(
                &assignment.value,
                schema,
                &format!("property \"{name}\" of {what}"),
            );
        }
        true
    }

    /// The kinds of the properties and attributes that compare specially (an attribute's
    /// over a property's of the same name, as `$get_attribute` reads the attribute).
    pub(crate) fn kinds(
        &self,
        properties: &[PropertyDefinition],
        attributes: &[PropertyDefinition],
    ) -> BTreeMap<String, Kind> {
        properties
            .iter()
            .chain(attributes)
            .filter_map(|def| {
                let kind = Kind::of(def.schema.as_ref()?, &self.types.data_types)?;
                Some((def.name.clone(), kind))
            })
            .collect()
    }

    /// The values of properties: fixed values, assignments, then defaults of required ones.
    /// A required property left without a value is an error.
    pub(crate) fn properties(
        &mut self,
        defs: &[PropertyDefinition],
        assignments: &[Assignment],
        what: &str,
        type_desc: &str,
        at: &Location,
        check_required: bool,
    ) -> BTreeMap<String, Expr> {
        let mut values = BTreeMap::new();
        self.self_values = defs
            .iter()
            .filter_map(|def| {
                let value = assignments
                    .iter()
                    .find(|a| a.name.name == def.name)
                    .map(|a| a.value.clone())
                    .or_else(|| def.value.clone())
                    .or_else(|| def.default.clone())?;
                Some((def.name.clone(), value, def.schema.clone()))
            })
            .collect();
        for assignment in assignments {
            if self.check_assignment(defs, assignment, what, type_desc) {
                values.insert(assignment.name.name.clone(), assignment.value.clone());
            }
        }
        self.self_values.clear();
        for def in defs {
            if values.contains_key(&def.name) {
                continue;
            }
            let value = def
                .value
                .clone()
                .or_else(|| def.default.clone().filter(|_| def.required));
            match value {
                Some(value) => {
                    values.insert(def.name.clone(), value);
                }
                None if def.required && check_required => self.diagnostics.error(
                    at,
                    format!(
                        "{what} lacks required property \"{}\": {type_desc} requires it and gives no default",
                        def.name
                    ),
                ),
                None => {}
            }
        }
        values
    }

    /// Every attribute with its assigned or default value. Properties are reflected as
    /// attributes (§9.6), so assignments may name them too.
    pub(crate) fn attributes(
        &mut self,
        defs: &[PropertyDefinition],
        property_defs: &[PropertyDefinition],
        assignments: &[Assignment],
        what: &str,
        type_desc: &str,
    ) -> BTreeMap<String, Option<Expr>> {
        let mut values: BTreeMap<String, Option<Expr>> = defs
            .iter()
            .map(|d| (d.name.clone(), d.default.clone()))
            .collect();
        for assignment in assignments {
            let name = &assignment.name.name;
            let def = defs.iter().chain(property_defs).find(|d| &d.name == name);
            let Some(def) = def else {
                let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                self.diagnostics.error(
                    &assignment.name.location,
                    format!(
                        "unknown attribute \"{name}\" in {what}{}; {type_desc} defines attributes: {}",
                        did_you_mean(name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            };
            if let Some(schema) = &def.schema {
                self.check_value(
                    &assignment.value,
                    schema,
                    &format!("attribute \"{name}\" of {what}"),
                );
            }
            values.insert(name.clone(), Some(assignment.value.clone()));
        }
        values
    }
}
