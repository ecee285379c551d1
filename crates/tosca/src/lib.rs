//! khutulun-tosca: a TOSCA 2.0 processor front end.
//!
//! [`compile`] reads an entry file and everything it imports (through a [`SourceReader`], and
//! profiles through a [`ProfileRegistry`]), checks it against the TOSCA 2.0 grammar and rules,
//! resolves and flattens types, fulfils requirements, and returns the compiled
//! [`ServiceTemplate`] — or every [`Diagnostic`] it found, each with file, line and column.
//!
//! The stages, one module each:
//! 1. [`yaml`]: YAML with positions;
//! 2. `parse`: the grammar of one file into its `ast` (keynames, shapes, function calls,
//!    condition clauses);
//! 3. `catalog`: imports by path, by repository and by profile, cycles, profile names;
//! 4. `names`: namespaces — which type (and repository) names each file sees;
//! 5. `types`: parents, derivation cycles, inherited and refined definitions (properties,
//!    capabilities, requirements, interfaces, artifacts, the lists a derived type narrows);
//! 6. [`functions`]: function names (built-in or declared, with namespaces) and arguments
//!    (the built-ins' rules, from [`builtins`], and declared signatures);
//! 7. [`values`]: values against data types, with their validation clauses evaluated by
//!    `eval` where the values are known;
//! 8. `template`: the service template — templates, requirements, interfaces, artifacts,
//!    groups and policies, workflows, substitution mappings, TOSCA paths.
//!
//! [`builtins`] is the one home of what the computed built-in functions mean (§10.2.2 to
//! §10.2.5), for compile-time evaluation here and for deploy-time evaluation elsewhere.

mod ast;
pub mod builtins;
mod catalog;
pub mod diagnostic;
pub(crate) mod eval;
pub mod functions;
pub mod model;
mod names;
mod parse;
pub mod path;
pub mod profiles;
pub mod source;
mod template;
mod types;
pub mod values;
pub mod yaml;
mod yaml_compat;

pub use diagnostic::{Diagnostic, Location, Severity};
pub use model::*;
pub use profiles::{Profile, ProfileRegistry};
pub use source::{ConfinedReader, FsReader, MemoryReader, SourceReader};

use diagnostic::Diagnostics;
use std::path::Path;

/// Compiles the TOSCA file at `entry` and what it imports.
///
/// On success the model carries the warnings; on failure every diagnostic (errors and
/// warnings) is returned, sorted by place.
pub fn compile(
    entry: &Path,
    reader: &dyn SourceReader,
    profiles: &ProfileRegistry,
) -> Result<ServiceTemplate, Vec<Diagnostic>> {
    let mut diagnostics = Diagnostics::default();
    let mut catalog = catalog::load(entry, reader, profiles, &mut diagnostics);
    if catalog.files.is_empty() {
        return Err(diagnostics.into_sorted());
    }
    let mut types = types::build(&mut catalog, &mut diagnostics);
    functions::check(&catalog, &mut types, &mut diagnostics);
    let mut model = template::compile(&catalog, &mut types, &mut diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics.into_sorted());
    }
    model.warnings = diagnostics.into_sorted();
    Ok(model)
}

/// Compiles one TOSCA file held in memory, named `file_name` in diagnostics. It can import
/// profiles, not other files: a convenience for callers and tests holding a single file.
pub fn compile_text(
    file_name: &str,
    text: &str,
    profiles: &ProfileRegistry,
) -> Result<ServiceTemplate, Vec<Diagnostic>> {
    let reader = MemoryReader::new().with(file_name, text);
    compile(Path::new(file_name), &reader, profiles)
}

#[cfg(test)]
mod tests;
