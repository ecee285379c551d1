//! Inputs found by the fuzz targets (`fuzz/`), minimised. Each test states the promise the
//! input broke; a test marked `#[ignore]` waits for its fix.

use super::{compile_with, render};
use crate::{Diagnostic, ProfileRegistry};

/// Every diagnostic of a compile names a file, a line and a column.
#[track_caller]
fn assert_all_placed(files: &[(&str, &str)]) {
    let diagnostics = match compile_with(files, &ProfileRegistry::new()) {
        Ok(template) => template.warnings,
        Err(diagnostics) => diagnostics,
    };
    let unplaced: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.file.is_empty() || d.line == 0 || d.column == 0)
        .collect();
    assert!(
        unplaced.is_empty(),
        "diagnostics without a place:\n{}",
        render(&diagnostics)
    );
}

/// Found by `validate` and `validate_structured`: a requirement definition that names a
/// capability of its target node type that does not exist, when the definition checked has
/// no `capability` keyname of its own: `types::capabilities::check_capability_names` took the
/// place from `req.capability` and fell back to `Location::default()` (`:0:0`).
#[test]
fn unknown_capability_name_in_a_duplicated_requirement_has_a_place() {
    assert_all_placed(&[(
        "dup.yaml",
        "tosca_definitions_version: tosca_2_0
relationship_types:
  Rel: {}
node_types:
  Server: {}
  Client:
    requirements:
      - service:
          capability: nope
          relationship: Rel
          node: Server
      - service:
          relationship: Rel
",
    )]);
}

/// The same through inheritance: the refinement in the child has no `capability`, the
/// parent's (wrong) capability name is inherited and reported again for the child.
#[test]
fn unknown_capability_name_in_a_refined_requirement_has_a_place() {
    assert_all_placed(&[(
        "inherit.yaml",
        "tosca_definitions_version: tosca_2_0
relationship_types:
  Rel: {}
node_types:
  Server: {}
  Base:
    requirements:
      - service:
          capability: nope
          relationship: Rel
          node: Server
  Client:
    derived_from: Base
    requirements:
      - service:
          relationship: Rel
",
    )]);
}

/// The seed corpus of the fuzz targets, replayed on the stable toolchain: every file
/// compiles or fails with placed diagnostics, at least one of them an error.
#[test]
fn the_fuzz_seed_corpus_keeps_the_promises() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/validate");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // a packaged crate has no fuzz directory
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (diagnostics, failed) = match crate::compile_text(&name, &text, &ProfileRegistry::new())
        {
            Ok(template) => (template.warnings, false),
            Err(diagnostics) => (diagnostics, true),
        };
        assert!(
            !failed || diagnostics.iter().any(Diagnostic::is_error),
            "{name}: failed without an error:\n{}",
            render(&diagnostics)
        );
        assert!(
            failed || diagnostics.iter().all(|d| !d.is_error()),
            "{name}: succeeded with errors:\n{}",
            render(&diagnostics)
        );
        assert!(
            diagnostics
                .iter()
                .all(|d| !d.file.is_empty() && d.line >= 1 && d.column >= 1),
            "{name}: diagnostics without a place:\n{}",
            render(&diagnostics)
        );
        count += 1;
    }
    assert!(count > 100, "only {count} seed files in {}", dir.display());
}
