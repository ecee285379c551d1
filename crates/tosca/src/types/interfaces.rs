//! Interfaces: the body of interface types with inheritance (§11.1), and interface definitions
//! in node and relationship types (and requirement definitions) that refine them (§11.2,
//! §11.4, §11.6).

use super::{DefLabel, Types};
use crate::ast::{Implementation, InterfaceDef, OperationDef, TypeDef, TypeKind};
use crate::diagnostic::{did_you_mean, known_list, Diagnostics};
use crate::model::{Expr, ExprKind, PropertyDefinition};
use crate::names::TypeId;

/// An interface with inheritance and refinement applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct InterfaceSpec {
    pub name: String,
    /// None for the body of an interface type, or when the type is unknown (reported).
    pub type_id: Option<TypeId>,
    pub inputs: Vec<PropertyDefinition>,
    pub operations: Vec<OperationSpec>,
    pub notifications: Vec<OperationSpec>,
}

/// An operation or notification with its parameters.
#[derive(Debug, Clone)]
pub(crate) struct OperationSpec {
    pub name: String,
    pub inputs: Vec<PropertyDefinition>,
    pub outputs: Vec<PropertyDefinition>,
    /// The implementation of the nearest definition that gives one, and the file it is written
    /// in (its file paths are relative to that file).
    pub implementation: Option<(usize, Implementation)>,
    /// Outputs mapped onto attributes where they are defined (`mapping`), by output name.
    pub mappings: Vec<(String, Expr)>,
}

impl InterfaceSpec {
    pub fn operation(&self, name: &str) -> Option<&OperationSpec> {
        self.operations.iter().find(|o| o.name == name)
    }
}

impl Types {
    /// The body of interface type `id`: its parent's, refined and extended by its own
    /// definitions (§11.1).
    pub(super) fn interface_type_body(
        &mut self,
        id: TypeId,
        parent: Option<&InterfaceSpec>,
        diagnostics: &mut Diagnostics,
    ) -> InterfaceSpec {
        let file = self.entries[id].file;
        let owner = self.describe(id);
        let def = self.entries[id].def.interface.clone();
        let base = parent.cloned().unwrap_or_default();
        self.apply_interface(file, &def, base, &owner, true, diagnostics)
    }

    /// Interface definitions of a node or relationship type (or of the relationship of a
    /// requirement definition): inherited ones refined, new ones added (§11.2).
    pub(crate) fn interface_definitions(
        &mut self,
        file: usize,
        defs: &[InterfaceDef],
        inherited: &[InterfaceSpec],
        owner: &str,
        diagnostics: &mut Diagnostics,
    ) -> Vec<InterfaceSpec> {
        let mut out = inherited.to_vec();
        for def in defs {
            let what = format!("interface \"{}\" of {owner}", def.name.name);
            let parent = out.iter().position(|i| i.name == def.name.name);
            let parent_type = parent.and_then(|p| out[p].type_id);
            let type_id = match &def.type_name {
                Some(type_name) => {
                    let Some(type_id) =
                        self.lookup(file, TypeKind::Interface, type_name, &what, diagnostics)
                    else {
                        continue;
                    };
                    if let Some(old) = parent_type {
                        if !self.derives_from(type_id, old) {
                            diagnostics.error(
                                &type_name.location,
                                format!(
                                    "{what} refines the interface type \"{}\" to \"{}\", which does not derive from it (§11.2)",
                                    self.name(old),
                                    type_name.name
                                ),
                            );
                        }
                    }
                    Some(type_id)
                }
                None if parent.is_some() => parent_type,
                None => {
                    diagnostics.error(&def.name.location, format!("{what} needs a type (§11.2)"));
                    continue;
                }
            };
            let base = match (parent, type_id) {
                (Some(p), t) if out[p].type_id == t => out[p].clone(),
                (_, Some(t)) => {
                    self.flatten(t, diagnostics);
                    let mut body = self.resolved[t].interface.clone();
                    body.type_id = Some(t);
                    // A derived interface type: the inherited implementations and output
                    // mappings stay (the type only narrows what the operations are).
                    if let Some(p) = parent {
                        keep_implementations(&mut body, &out[p]);
                    }
                    body
                }
                (Some(p), None) => out[p].clone(),
                (None, None) => InterfaceSpec::default(),
            };
            let mut spec = self.apply_interface(file, def, base, &what, false, diagnostics);
            spec.name = def.name.name.clone();
            spec.type_id = type_id;
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }

    /// Applies the inputs, operations and notifications of `def` to `base`. New operations
    /// and notifications may only be added in interface types (`in_type`).
    fn apply_interface(
        &mut self,
        file: usize,
        def: &InterfaceDef,
        mut base: InterfaceSpec,
        owner: &str,
        in_type: bool,
        diagnostics: &mut Diagnostics,
    ) -> InterfaceSpec {
        if in_type {
            new_short_form_parameters(&def.inputs, &base.inputs, owner, diagnostics);
        }
        base.inputs = self.value_defs(
            file,
            &def.inputs,
            &base.inputs,
            DefLabel::Input,
            owner,
            true,
            diagnostics,
        );
        base.operations = self.operations(
            file,
            &def.operations,
            &base.operations,
            "operation",
            owner,
            in_type,
            diagnostics,
        );
        base.notifications = self.operations(
            file,
            &def.notifications,
            &base.notifications,
            "notification",
            owner,
            in_type,
            diagnostics,
        );
        base
    }

    #[allow(clippy::too_many_arguments)]
    fn operations(
        &mut self,
        file: usize,
        defs: &[OperationDef],
        inherited: &[OperationSpec],
        label: &str,
        owner: &str,
        in_type: bool,
        diagnostics: &mut Diagnostics,
    ) -> Vec<OperationSpec> {
        let mut out = inherited.to_vec();
        for def in defs {
            let what = format!("{label} \"{}\" of {owner}", def.name.name);
            let parent = out.iter().position(|o| o.name == def.name.name);
            if parent.is_none() && !in_type {
                let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
                diagnostics.error(
                    &def.name.location,
                    format!(
                        "{what} is not defined by the interface type{}; an interface definition refines the {label}s of its interface type and cannot add new ones (§11.2); defined: {}",
                        did_you_mean(&def.name.name, names.iter().copied()),
                        known_list(names.iter().copied())
                    ),
                );
                continue;
            }
            let (inputs, outputs, implementation, mut mappings) = match parent {
                Some(p) => (
                    out[p].inputs.clone(),
                    out[p].outputs.clone(),
                    out[p].implementation.clone(),
                    out[p].mappings.clone(),
                ),
                None => (Vec::new(), Vec::new(), None, Vec::new()),
            };
            // A refinement's implementation replaces the inherited one (§11.4).
            let implementation = def
                .implementation
                .clone()
                .map(|i| (file, i))
                .or(implementation);
            for output in &def.outputs {
                if let Some(mapping) = &output.mapping {
                    mappings.retain(|(name, _)| name != &output.name.name);
                    mappings.push((output.name.name.clone(), mapping.clone()));
                }
            }
            if in_type {
                new_short_form_parameters(&def.inputs, &inputs, &what, diagnostics);
            }
            let spec = OperationSpec {
                name: def.name.name.clone(),
                inputs: self.value_defs(
                    file,
                    &def.inputs,
                    &inputs,
                    DefLabel::Input,
                    &what,
                    true,
                    diagnostics,
                ),
                outputs: self.value_defs(
                    file,
                    &def.outputs,
                    &outputs,
                    DefLabel::Output,
                    &what,
                    true,
                    diagnostics,
                ),
                implementation,
                mappings,
            };
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }
}

/// Copies the implementations and output mappings of `inherited` onto the same-named
/// operations and notifications of `body`.
fn keep_implementations(body: &mut InterfaceSpec, inherited: &InterfaceSpec) {
    for (ops, old) in [
        (&mut body.operations, &inherited.operations),
        (&mut body.notifications, &inherited.notifications),
    ] {
        for op in ops.iter_mut() {
            if let Some(old) = old.iter().find(|o| o.name == op.name) {
                op.implementation = old.implementation.clone();
                op.mappings = old.mappings.clone();
            }
        }
    }
}

/// What the parameters of interfaces may refer to (§11.4): in an interface type, no entity
/// (no `$get_property`/`$get_attribute`, no attribute mapping); in a node or relationship type,
/// only SELF, and output mappings name attributes of the type.
pub(super) fn check_interface_scope(
    def: &TypeDef,
    owner: &str,
    attributes: &[&str],
    diagnostics: &mut Diagnostics,
) {
    let in_type = def.kind == TypeKind::Interface;
    let mut interfaces: Vec<&InterfaceDef> = def.interfaces.iter().collect();
    if in_type {
        interfaces.push(&def.interface);
    }
    for interface in interfaces {
        let operations = interface.operations.iter().chain(&interface.notifications);
        let inputs = interface
            .inputs
            .iter()
            .chain(operations.clone().flat_map(|o| &o.inputs));
        for input in inputs {
            for value in input.value.iter().chain(&input.default) {
                value.visit_calls(&mut |at, call| {
                    if !matches!(call.function.as_str(), "get_property" | "get_attribute") {
                        return;
                    }
                    let first = call.args.first().and_then(|a| a.as_str());
                    if in_type {
                        diagnostics.error(
                            &at.location,
                            format!(
                                "input \"{}\" of {owner} uses ${}, but an interface type has no node or relationship to read from (§11.4)",
                                input.name.name, call.function
                            ),
                        );
                    } else if first.is_some() && first != Some("SELF") {
                        diagnostics.error(
                            &at.location,
                            format!(
                                "input \"{}\" of {owner} uses ${} from \"{}\"; in a type, paths start from SELF (§11.4)",
                                input.name.name,
                                call.function,
                                first.unwrap_or_default()
                            ),
                        );
                    }
                });
            }
        }
        if in_type {
            continue;
        }
        for output in operations.flat_map(|o| &o.outputs) {
            let Some(ExprKind::List(path)) = output.mapping.as_ref().map(|m| &m.kind) else {
                continue;
            };
            let (Some("SELF"), Some(attribute)) = (
                path.first().and_then(|p| p.as_str()),
                path.get(1).and_then(|p| p.as_str()),
            ) else {
                continue;
            };
            if matches!(
                attribute,
                "CAPABILITY" | "RELATIONSHIP" | "SOURCE" | "TARGET"
            ) {
                continue;
            }
            if !attributes.contains(&attribute) {
                diagnostics.error(
                    &path[1].location,
                    format!(
                        "output \"{}\" of interface \"{}\" of {owner} maps to attribute \"{attribute}\", which {owner} does not define{}; it has: {}",
                        output.name.name,
                        interface.name.name,
                        did_you_mean(attribute, attributes.iter().copied()),
                        known_list(attributes.iter().copied())
                    ),
                );
            }
        }
    }
}

/// In an interface type a new input is a definition, so it takes the full grammar: the
/// single-line form `name: value` fixes the value of an inherited parameter and cannot
/// introduce one (§9.4; parameter definitions follow property definitions, §9.8).
fn new_short_form_parameters(
    own: &[crate::ast::PropertyDef],
    inherited: &[crate::model::PropertyDefinition],
    owner: &str,
    diagnostics: &mut Diagnostics,
) {
    for def in own {
        if def.single_line && !inherited.iter().any(|d| d.name == def.name.name) {
            diagnostics.error(
                &def.name.location,
                format!(
                    "input \"{}\" of {owner} is new, so it needs a full parameter definition (a map such as `{{ type: string, value: ... }}`); the short form \"name: value\" only refines an inherited input (§9.4, §9.8)",
                    def.name.name
                ),
            );
        }
    }
}
