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
    Ok(compile_source(&source, profile_path))
}

fn compile_source(
    source: &Source,
    profile_path: &[PathBuf],
) -> Result<ServiceTemplate, Vec<Diagnostic>> {
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
    match result {
        Ok(mut template) => {
            template.warnings = rename(std::mem::take(&mut template.warnings));
            Ok(template)
        }
        Err(diagnostics) => Err(rename(diagnostics)),
    }
}

/// Custom functions for the offline compiler: the plugins the package ships (declared
/// functions whose implementation is a .wasm file in it). The plugin host is made only when
/// a template calls such a function.
struct OfflinePlugins {
    package: PathBuf,
    functions: std::sync::OnceLock<Result<khutulun_agent::plugins::PluginFunctions, String>>,
}

impl OfflinePlugins {
    fn new(package: PathBuf) -> OfflinePlugins {
        OfflinePlugins {
            package,
            functions: std::sync::OnceLock::new(),
        }
    }

    fn functions(&self) -> &Result<khutulun_agent::plugins::PluginFunctions, String> {
        self.functions.get_or_init(|| {
            let cache = [
                crate::defaults::base_dir().join("plugin-cache"),
                std::env::temp_dir().join(format!(
                    "khutulun-plugin-cache-{}",
                    rustix::process::geteuid().as_raw()
                )),
            ]
            .into_iter()
            .find(|dir| std::fs::create_dir_all(dir).is_ok())
            .ok_or("no writable directory for the plugin cache")?;
            let host = khutulun_plugins::PluginHost::new(&cache, Default::default())
                .map_err(|e| e.to_string())?;
            Ok(khutulun_agent::plugins::PluginFunctions::offline(
                std::sync::Arc::new(host),
                &self.package,
            ))
        })
    }
}

impl khutulun_graph::CustomFunctions for OfflinePlugins {
    fn call(
        &self,
        name: &str,
        declared: Option<&khutulun_graph::Function>,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        // Only what the package declares with an implementation can be run offline.
        declared?.implementation.as_ref()?;
        match self.functions() {
            Ok(functions) => functions.call(name, declared, args),
            Err(message) => Some(Err(message.clone())),
        }
    }
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
    let source = source_of(path)?;
    let template = match compile_source(&source, profile_path) {
        Ok(template) => template,
        Err(diagnostics) => {
            report(&diagnostics, diagnostics_format);
            return Err(invalid(path, &diagnostics));
        }
    };
    report(&template.warnings, diagnostics_format);
    let package_root = source
        .entry
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    let functions = OfflinePlugins::new(package_root);
    let graph = match khutulun_graph::instantiate_with(&template, &inputs, &functions) {
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
                    let mut relationship = json!({
                        "requirement": r.requirement,
                        "target": r.target,
                        // Relationships go to the target's first representation.
                        "target_index": 0,
                        "capability": r.capability,
                        "type": r.types.first().map(|t| t.name.clone()),
                        "properties": exprs(&r.properties),
                    });
                    insert_nonempty(&mut relationship, "interfaces", interfaces(&r.interfaces));
                    relationship
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
            let mut entry = json!({
                "node": node.name,
                "index": index,
                "type": node.types.first().map(|t| t.name.clone()),
                "types": node.types.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                "properties": exprs(&node.properties),
                "attributes": exprs(&node.attributes),
                "capabilities": capabilities,
                "relationships": relationships,
            });
            insert_nonempty(&mut entry, "interfaces", interfaces(&node.interfaces));
            let artifacts: Map<String, Value> = node
                .artifacts
                .iter()
                .map(|(name, a)| (name.clone(), artifact(a)))
                .collect();
            insert_nonempty(&mut entry, "artifacts", Value::Object(artifacts));
            nodes.push(entry);
        }
    }
    let policies: Vec<Value> = graph
        .policies
        .iter()
        .map(|p| {
            let mut policy = json!({
                "name": p.name,
                "type": p.types.first().map(|t| t.name.clone()),
                "targets": p.targets,
                "properties": exprs(&p.properties),
            });
            let triggers: Vec<Value> = p.triggers.iter().map(trigger).collect();
            insert_nonempty(&mut policy, "triggers", Value::Array(triggers));
            policy
        })
        .collect();
    let outputs: Map<String, Value> = graph
        .outputs
        .iter()
        .map(|(name, o)| (name.clone(), expr(&o.value)))
        .collect();
    let mut representation = json!({
        "inputs": graph.inputs,
        "nodes": nodes,
        "policies": policies,
        "outputs": outputs,
    });
    let functions: Map<String, Value> = graph
        .functions
        .iter()
        .map(|(name, f)| {
            let mut function = json!({});
            if let Some(implementation) = &f.implementation {
                implementation_fields(&mut function, implementation);
            }
            (name.clone(), function)
        })
        .collect();
    insert_nonempty(&mut representation, "functions", Value::Object(functions));
    representation
}

/// Adds `key: value` to an object unless the value is an empty object or list.
fn insert_nonempty(object: &mut Value, key: &str, value: Value) {
    let empty = match &value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    if let (false, Value::Object(map)) = (empty, object) {
        map.insert(key.to_string(), value);
    }
}

/// Interfaces: each with its type, and its operations and notifications.
fn interfaces(interfaces: &BTreeMap<String, khutulun_graph::Interface>) -> Value {
    let operations = |operations: &BTreeMap<String, khutulun_graph::Operation>| -> Value {
        operations
            .iter()
            .map(|(name, operation)| {
                let mut entry = json!({});
                if let Some(implementation) = &operation.implementation {
                    implementation_fields(&mut entry, implementation);
                }
                if let Some(timeout) = operation.timeout {
                    insert_nonempty(&mut entry, "timeout", json!(timeout));
                }
                insert_nonempty(
                    &mut entry,
                    "inputs",
                    Value::Object(exprs(&operation.inputs)),
                );
                insert_nonempty(&mut entry, "outputs", json!(operation.outputs));
                (name.clone(), entry)
            })
            .collect::<Map<String, Value>>()
            .into()
    };
    interfaces
        .iter()
        .map(|(name, interface)| {
            let mut entry = json!({ "type": interface.types.first().map(|t| t.name.clone()) });
            insert_nonempty(&mut entry, "operations", operations(&interface.operations));
            insert_nonempty(
                &mut entry,
                "notifications",
                operations(&interface.notifications),
            );
            (name.clone(), entry)
        })
        .collect::<Map<String, Value>>()
        .into()
}

/// `implementation: <primary file>` and `dependencies: [files]`.
fn implementation_fields(entry: &mut Value, implementation: &khutulun_graph::Implementation) {
    insert_nonempty(entry, "implementation", json!(implementation.primary.file));
    let dependencies: Vec<Value> = implementation
        .dependencies
        .iter()
        .map(|d| json!(d.file))
        .collect();
    insert_nonempty(entry, "dependencies", Value::Array(dependencies));
}

fn artifact(artifact: &khutulun_graph::Artifact) -> Value {
    let mut entry = json!({ "file": artifact.file });
    if let Some(t) = artifact.types.first() {
        insert_nonempty(&mut entry, "type", json!(t.name));
    }
    entry
}

fn trigger(trigger: &khutulun_graph::Trigger) -> Value {
    let mut entry = json!({ "name": trigger.name, "event": trigger.event });
    if let Some(condition) = &trigger.condition {
        insert_nonempty(&mut entry, "condition", expr(condition));
    }
    let actions: Vec<Value> = trigger
        .actions
        .iter()
        .map(|action| match action {
            khutulun_graph::Action::CallOperation { operation, inputs } => {
                let mut call = json!({ "call_operation": operation });
                insert_nonempty(&mut call, "inputs", Value::Object(exprs(inputs)));
                call
            }
        })
        .collect();
    insert_nonempty(&mut entry, "actions", Value::Array(actions));
    entry
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
