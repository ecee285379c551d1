//! From a package on disk to a representation graph: compile the TOSCA, instantiate it with
//! the inputs, check the requirement graph has an order.

use khutulun_graph::ServiceGraph;
use khutulun_tosca::Diagnostic;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug)]
pub enum CompileError {
    /// The template is not valid: every problem found, with positions.
    Diagnostics(Vec<Diagnostic>),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Diagnostics(d) => {
                for diagnostic in d {
                    writeln!(f, "{diagnostic}")?;
                }
                Ok(())
            }
        }
    }
}

/// Compiles `entry` (relative to `package_root`) and instantiates it, computing custom
/// functions with `functions`. Diagnostics name files
/// relative to the package root, as the user wrote them.
pub fn compile_package(
    package_root: &Path,
    entry: &str,
    inputs: &BTreeMap<String, Value>,
    functions: &dyn khutulun_graph::CustomFunctions,
) -> Result<ServiceGraph, CompileError> {
    let relative = |mut diagnostics: Vec<Diagnostic>| {
        let root = format!("{}/", package_root.display());
        for d in &mut diagnostics {
            if let Some(rest) = d.file.strip_prefix(&root) {
                d.file = rest.to_owned();
            }
        }
        CompileError::Diagnostics(diagnostics)
    };
    let entry_path = package_root.join(entry);
    let at_entry = |message: String| {
        CompileError::Diagnostics(vec![Diagnostic {
            severity: khutulun_tosca::Severity::Error,
            file: entry.to_owned(),
            line: 1,
            column: 1,
            message,
        }])
    };
    // Imports may not leave the package (no `..` out of it, no absolute or file: paths).
    let reader = khutulun_tosca::ConfinedReader::new(package_root)
        .map_err(|e| at_entry(format!("cannot read the package: {e}")))?;
    let template = khutulun_tosca::compile(&entry_path, &reader, &khutulun_profile::registry())
        .map_err(relative)?;
    let mut graph =
        khutulun_graph::instantiate_with(&template, inputs, functions).map_err(relative)?;
    // Artifacts are named relative to the package, which moves after the compile.
    graph.relativize_artifacts(package_root);
    if let Err(cycle) = khutulun_graph::start_order(&graph) {
        return Err(at_entry(cycle.to_string()));
    }
    Ok(graph)
}
