//! Tests of whole compiles on in-memory files.

mod artifacts;
mod data;
mod errors;
mod functions;
mod fuzz_regressions;
mod groups;
mod imports;
mod inheritance;
mod interfaces;
mod limits;
mod requirements;
mod runnable;
mod substitution;
mod validation;
mod workflows;

use crate::{compile, Diagnostic, MemoryReader, ProfileRegistry, ServiceTemplate};
use std::path::Path;

/// Compiles `files` (the first is the entry) with `profiles`.
pub fn compile_with(
    files: &[(&str, &str)],
    profiles: &ProfileRegistry,
) -> Result<ServiceTemplate, Vec<Diagnostic>> {
    let mut reader = MemoryReader::new();
    for (path, text) in files {
        reader.insert(path, *text);
    }
    compile(Path::new(files[0].0), &reader, profiles)
}

pub fn compile_ok(files: &[(&str, &str)]) -> ServiceTemplate {
    match compile_with(files, &ProfileRegistry::new()) {
        Ok(template) => template,
        Err(diagnostics) => panic!("expected success, got:\n{}", render(&diagnostics)),
    }
}

/// The diagnostics (errors and warnings) of a compile that must fail, as text.
pub fn compile_err(files: &[(&str, &str)]) -> Vec<String> {
    compile_err_with(files, &ProfileRegistry::new())
}

pub fn compile_err_with(files: &[(&str, &str)], profiles: &ProfileRegistry) -> Vec<String> {
    match compile_with(files, profiles) {
        Ok(_) => panic!("expected errors, the compile succeeded"),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

pub fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `file:line:column` of the `nth` (0-based) occurrence of `needle` in `text`.
pub fn at(file: &str, text: &str, needle: &str, nth: usize) -> String {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", nth + 1))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    format!("{file}:{line}:{column}")
}

/// `file:line:column` of `needle`, searched after the first occurrence of `context`.
pub fn at_after(file: &str, text: &str, context: &str, needle: &str) -> String {
    let start = text
        .find(context)
        .unwrap_or_else(|| panic!("{context:?} does not occur"));
    let offset = start
        + text[start..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} does not occur after {context:?}"));
    at(
        file,
        text,
        &text[offset..offset + needle.len()],
        text[..offset].matches(needle).count(),
    )
}

/// Asserts that one diagnostic starts with `location: error: ` and contains `text`.
#[track_caller]
pub fn assert_error(diagnostics: &[String], location: &str, text: &str) {
    let prefix = format!("{location}: error: ");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with(&prefix) && d.contains(text)),
        "no error at {location} containing {text:?} in:\n{}",
        diagnostics.join("\n")
    );
}

/// A small set of types used by many tests.
pub const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
capability_types:
  Endpoint:
    properties:
      port:
        type: integer
        required: false
    attributes:
      address:
        type: string
  Storage: {}
relationship_types:
  ConnectsTo:
    valid_capability_types: [ Endpoint ]
    properties:
      prefix:
        type: string
        required: false
  Uses: {}
node_types:
  Server:
    properties:
      name:
        type: string
      size:
        type: integer
        default: 1
      tags:
        type: list
        entry_schema: string
        required: false
    attributes:
      state:
        type: string
    capabilities:
      endpoint: Endpoint
      disk:
        type: Storage
  Client:
    properties:
      name:
        type: string
        required: false
    requirements:
      - server:
          capability: Endpoint
          relationship: ConnectsTo
          count_range: [ 0, 2 ]
      - disk:
          capability: Storage
          relationship: Uses
"#;
