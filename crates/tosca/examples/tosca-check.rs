//! Compiles TOSCA files and prints every diagnostic; exits 0 when all compile.
//!
//! ```text
//! cargo run -p khutulun-tosca --example tosca-check -- [--profile NAME=FILE]... FILE...
//! ```
//! Used to measure the processor against a conformance corpus
//! (`tosca-corpus-check -- target/debug/examples/tosca-check`).

use khutulun_tosca::{compile, FsReader, ProfileRegistry};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut profiles = ProfileRegistry::new();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--profile" {
            let Some((name, file)) = args.next().and_then(|v| {
                v.split_once('=')
                    .map(|(n, f)| (n.to_string(), f.to_string()))
            }) else {
                eprintln!("--profile needs NAME=FILE");
                return ExitCode::from(2);
            };
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    profiles.register_file(name, text);
                }
                Err(error) => {
                    eprintln!("cannot read profile file {file}: {error}");
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(arg);
        }
    }
    if files.is_empty() {
        eprintln!("usage: tosca-check [--profile NAME=FILE]... FILE...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for file in &files {
        match compile(Path::new(file), &FsReader, &profiles) {
            Ok(template) => {
                for warning in &template.warnings {
                    eprintln!("{warning}");
                }
                println!(
                    "{file}: ok ({} node templates, {} inputs, {} outputs)",
                    template.node_templates.len(),
                    template.inputs.len(),
                    template.outputs.len()
                );
            }
            Err(diagnostics) => {
                ok = false;
                for diagnostic in &diagnostics {
                    eprintln!("{diagnostic}");
                }
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
