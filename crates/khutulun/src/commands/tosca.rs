//! `khutulun tosca validate|compile`: the TOSCA processor on its own, offline, no agent.
//! Exit codes: 0 valid, 1 invalid TOSCA, 2 the input cannot be read.

use crate::failure::{CliResult, Failure};
use crate::render::Renderer;
use khutulun_graph::{Expr, ServiceGraph};
use khutulun_tosca::{Diagnostic, ServiceTemplate, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    /// file:line:col: message, with the source line.
    Human,
    /// A JSON array of {severity, file, line, column, message}.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompileFormat {
    Json,
    Yaml,
}

/// What PATH names: a TOSCA file, a directory (its `service.yaml` or only YAML file), or a
/// CSAR (zip, tar.gz or tar), unpacked into a private temporary directory.
struct Source {
    entry: PathBuf,
    /// Keeps an unpacked CSAR alive, and says how to name its files in diagnostics.
    csar: Option<(khutulun_csar::Csar, String)>,
}

fn source_of(path: &Path) -> CliResult<Source> {
    if path.is_file() && khutulun_csar::is_archive(path) {
        let csar = khutulun_csar::open(path, &khutulun_csar::Limits::default())
            .map_err(|e| Failure::new(format!("{}: not a usable CSAR: {e}", path.display())))?;
        return Ok(Source {
            entry: csar.entry_path(),
            csar: Some((csar, path.display().to_string())),
        });
    }
    let package = crate::package::locate(path)?;
    // Keep the path as the user gave it when it is a file: diagnostics name it that way.
    let entry = if path.is_file() {
        path.to_owned()
    } else {
        package.root.join(&package.entry)
    };
    Ok(Source { entry, csar: None })
}

fn compile(
    path: &Path,
    profile_path: &[PathBuf],
) -> CliResult<Result<ServiceTemplate, Vec<Diagnostic>>> {
    let source = source_of(path)?;
    let mut profiles = khutulun_profile::registry();
    for dir in profile_path {
        profiles.add_search_dir(dir);
    }
    let result = khutulun_tosca::compile(&source.entry, &khutulun_tosca::FsReader, &profiles);
    // Files inside a CSAR are named archive/member, not by the temporary directory.
    let rename = |mut diagnostics: Vec<Diagnostic>| {
        if let Some((csar, name)) = &source.csar {
            let root = format!("{}/", csar.root().display());
            for d in &mut diagnostics {
                if let Some(member) = d.file.strip_prefix(&root) {
                    d.file = format!("{name}/{member}");
                }
            }
        }
        diagnostics
    };
    Ok(match result {
        Ok(mut template) => {
            template.warnings = rename(std::mem::take(&mut template.warnings));
            Ok(template)
        }
        Err(diagnostics) => Err(rename(diagnostics)),
    })
}

pub fn validate(path: &Path, profile_path: &[PathBuf], format: DiagnosticFormat) -> CliResult {
    let result = compile(path, profile_path)?;
    let diagnostics = match &result {
        Ok(template) => template.warnings.clone(),
        Err(diagnostics) => diagnostics.clone(),
    };
    report(&diagnostics, format);
    match result {
        Ok(template) => {
            if format == DiagnosticFormat::Human {
                println!(
                    "{}: valid TOSCA ({} node templates, {} inputs, {} outputs)",
                    path.display(),
                    template.node_templates.len(),
                    template.inputs.len(),
                    template.outputs.len()
                );
            }
            Ok(())
        }
        Err(diagnostics) => Err(invalid(path, &diagnostics)),
    }
}

pub fn compile_command(
    path: &Path,
    profile_path: &[PathBuf],
    inputs: &[String],
    format: CompileFormat,
    diagnostics_format: DiagnosticFormat,
) -> CliResult {
    let inputs: BTreeMap<String, Value> =
        crate::package::parse_inputs(inputs)?.into_iter().collect();
    let template = match compile(path, profile_path)? {
        Ok(template) => template,
        Err(diagnostics) => {
            report(&diagnostics, diagnostics_format);
            return Err(invalid(path, &diagnostics));
        }
    };
    report(&template.warnings, diagnostics_format);
    let graph = match khutulun_graph::instantiate(&template, &inputs) {
        Ok(graph) => graph,
        Err(diagnostics) => {
            report(&diagnostics, diagnostics_format);
            return Err(invalid(path, &diagnostics));
        }
    };
    let representation = representation(&graph);
    match format {
        CompileFormat::Json => super::print_json(&representation),
        CompileFormat::Yaml => print!("{}", to_yaml(&representation)),
    }
    Ok(())
}

fn invalid(path: &Path, diagnostics: &[Diagnostic]) -> Failure {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    Failure::new(format!(
        "{} is not valid TOSCA: {errors} error{}",
        path.display(),
        if errors == 1 { "" } else { "s" }
    ))
}

fn report(diagnostics: &[Diagnostic], format: DiagnosticFormat) {
    match format {
        DiagnosticFormat::Json => {
            // Machines read stdout: the array, even when empty.
            println!(
                "{}",
                serde_json::to_string_pretty(diagnostics).unwrap_or_else(|_| "[]".into())
            );
        }
        DiagnosticFormat::Human => {
            let mut renderer = Renderer::new();
            for diagnostic in diagnostics {
                eprint!("{}", renderer.render(diagnostic));
            }
        }
    }
}

/// The resolved representation: every node representation with its properties and its
/// fulfilled relationships, the inputs, the policies and the outputs (evaluated as far as
/// they can be without running anything; what needs run time stays a function call).
fn representation(graph: &ServiceGraph) -> Value {
    let mut nodes = Vec::new();
    for node in &graph.nodes {
        for index in 0..node.count {
            let relationships: Vec<Value> = graph
                .relationships
                .iter()
                .filter(|r| r.source == node.name)
                .map(|r| {
                    json!({
                        "requirement": r.requirement,
                        "target": r.target,
                        // Relationships go to the target's first representation.
                        "target_index": 0,
                        "capability": r.capability,
                        "type": r.types.first().map(|t| t.name.clone()),
                        "properties": exprs(&r.properties),
                    })
                })
                .collect();
            let capabilities: Map<String, Value> = node
                .capabilities
                .iter()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        json!({
                            "type": c.types.first().map(|t| t.name.clone()),
                            "properties": exprs(&c.properties),
                        }),
                    )
                })
                .collect();
            nodes.push(json!({
                "node": node.name,
                "index": index,
                "type": node.types.first().map(|t| t.name.clone()),
                "types": node.types.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                "properties": exprs(&node.properties),
                "attributes": exprs(&node.attributes),
                "capabilities": capabilities,
                "relationships": relationships,
            }));
        }
    }
    let policies: Vec<Value> = graph
        .policies
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.types.first().map(|t| t.name.clone()),
                "targets": p.targets,
                "properties": exprs(&p.properties),
            })
        })
        .collect();
    let outputs: Map<String, Value> = graph
        .outputs
        .iter()
        .map(|(name, o)| (name.clone(), expr(&o.value)))
        .collect();
    json!({
        "inputs": graph.inputs,
        "nodes": nodes,
        "policies": policies,
        "outputs": outputs,
    })
}

fn exprs(values: &BTreeMap<String, Expr>) -> Map<String, Value> {
    values.iter().map(|(k, v)| (k.clone(), expr(v))).collect()
}

/// Plain data as itself; a deferred call as TOSCA writes it: `{"$name": [args]}`.
fn expr(value: &Expr) -> Value {
    match value {
        Expr::Value(v) => v.clone(),
        Expr::List(items) => Value::Array(items.iter().map(expr).collect()),
        Expr::Map(entries) => Value::Object(exprs(entries)),
        Expr::Call { function, args } => {
            json!({ format!("${function}"): args.iter().map(expr).collect::<Vec<_>>() })
        }
    }
}

fn to_yaml(value: &Value) -> String {
    fn convert(value: &Value) -> saphyr::Yaml<'static> {
        use saphyr::{Scalar, Yaml};
        match value {
            Value::Null => Yaml::Value(Scalar::Null),
            Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Value(Scalar::Integer(i)),
                None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(0.0).into())),
            },
            Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
            Value::Array(items) => Yaml::Sequence(items.iter().map(convert).collect()),
            Value::Object(map) => {
                let mut mapping = saphyr::Mapping::new();
                for (k, v) in map {
                    mapping.insert(Yaml::Value(Scalar::String(k.clone().into())), convert(v));
                }
                Yaml::Mapping(mapping)
            }
        }
    }
    let mut out = String::new();
    let mut emitter = saphyr::YamlEmitter::new(&mut out);
    emitter.multiline(true);
    let _ = emitter.dump(&convert(value));
    out.push('\n');
    out
}

pub fn csar_create(dir: &Path, out: &Path, entry: Option<&Path>) -> CliResult {
    let created =
        khutulun_csar::create(dir, out, entry).map_err(|e| Failure::new(e.to_string()))?;
    println!(
        "{}: {} CSAR, {} files, {} bytes, entry {}",
        out.display(),
        created.kind,
        created.files,
        created.bytes,
        created.entry.display()
    );
    Ok(())
}
