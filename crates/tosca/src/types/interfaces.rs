//! Interfaces: the body of interface types with inheritance (§11.1), and interface definitions
//! in node and relationship types (and requirement definitions) that refine them (§11.2,
//! §11.4, §11.6).

use super::{DefLabel, Types};
use crate::ast::{InterfaceDef, OperationDef, TypeKind};
use crate::diagnostic::{did_you_mean, known_list, Diagnostics};
use crate::model::PropertyDefinition;
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
            let (inputs, outputs) = match parent {
                Some(p) => (out[p].inputs.clone(), out[p].outputs.clone()),
                None => (Vec::new(), Vec::new()),
            };
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
            };
            match parent {
                Some(p) => out[p] = spec,
                None => out.push(spec),
            }
        }
        out
    }
}
