//! Plugins in the agent: the registry in the shared state (`plugins/<name>/<version>.wasm`,
//! `plugins/<name>/current`), custom TOSCA functions for the graph evaluator, and what a
//! plugin may do during a call (`AgentHostApi`).
//!
//! A plugin is found from a template in two ways: shipped in the package (the artifact
//! file exists there), or registered (`khutulun plugin add NAME FILE.wasm`): an artifact
//! file that is not in the package names the registered plugin of its file stem
//! (`failure-watch.wasm` → `failure-watch`), and a declared function without an
//! implementation, or an undeclared one, is looked up among the registered plugins'
//! functions.

use crate::agent::Agent;
use khutulun_graph::{CustomFunctions, Function, ServiceGraph};
use khutulun_plugins::{HostApi, Level, Plugin, PluginHost};
use khutulun_state::{EventKind, InstanceRef};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use khutulun_protocol::views::PluginView;

fn registry_dir(agent: &Agent) -> PathBuf {
    agent.store.layout().plugins()
}

/// Checks a registration name: what a file and a URL segment can hold.
pub fn check_plugin_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a usable plugin name: use 1 to 64 lowercase letters, digits, '-' or '_'"
        ))
    }
}

/// Registers `bytes` as plugin `name`: it must load (a component of the plugin world) and
/// answer its manifest; then it is stored as `plugins/<name>/<version>.wasm` and made
/// current. Nothing is stored when it does not load.
pub fn register(agent: &Agent, name: &str, bytes: &[u8]) -> Result<PluginView, String> {
    check_plugin_name(name)?;
    let plugin = agent
        .plugin_host()?
        .load_bytes(format!("{name}.wasm"), bytes)
        .map_err(|e| e.to_string())?;
    let version = plugin.manifest().version.clone();
    let safe_version: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = registry_dir(agent).join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join(format!("{safe_version}.wasm"));
    khutulun_state::write_atomic(&file, bytes).map_err(|e| e.to_string())?;
    khutulun_state::write_atomic(&dir.join("current"), safe_version.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(view(name, &plugin, &file))
}

fn view(name: &str, plugin: &Plugin, file: &Path) -> PluginView {
    let manifest = plugin.manifest();
    PluginView {
        name: name.to_owned(),
        version: manifest.version.clone(),
        plugin: manifest.name.clone(),
        functions: manifest.functions.clone(),
        handlers: manifest.handlers.clone(),
        sha256: plugin.hash().to_owned(),
        path: file.display().to_string(),
    }
}

/// The current file of registered plugin `name`.
fn registered_file(agent: &Agent, name: &str) -> Option<PathBuf> {
    let dir = registry_dir(agent).join(name);
    let version = std::fs::read_to_string(dir.join("current")).ok()?;
    let file = dir.join(format!("{}.wasm", version.trim()));
    file.is_file().then_some(file)
}

/// Every registered plugin, loaded (a plugin that no longer loads is left out, with a log
/// line).
pub fn registered(agent: &Agent) -> Result<Vec<(PluginView, Arc<Plugin>)>, String> {
    let dir = registry_dir(agent);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    names.sort();
    let host = agent.plugin_host()?;
    let mut all = Vec::new();
    for name in names {
        let Some(file) = registered_file(agent, &name) else {
            continue;
        };
        match host.load(&file) {
            Ok(plugin) => all.push((view(&name, &plugin, &file), plugin)),
            Err(e) => tracing::warn!("registered plugin {name}: {e}"),
        }
    }
    Ok(all)
}

/// Removes registered plugin `name` (every version).
pub fn unregister(agent: &Agent, name: &str) -> Result<bool, String> {
    check_plugin_name(name)?;
    let dir = registry_dir(agent).join(name);
    if !dir.exists() {
        return Ok(false);
    }
    std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    Ok(true)
}

/// Whether an artifact is a plugin: its type is `WasmPlugin` or its file ends in `.wasm`.
pub fn is_plugin(artifact: &khutulun_graph::Artifact) -> bool {
    artifact.types.iter().any(|t| t.name == "WasmPlugin") || artifact.file.ends_with(".wasm")
}

/// Loads the plugin an artifact names: the file in the package, else the registered plugin
/// of the file's stem.
pub fn load_artifact(agent: &Agent, package: &Path, file: &str) -> Result<Arc<Plugin>, String> {
    let host = agent.plugin_host()?;
    let path = crate::operations::artifact_path(package, file);
    if path.is_file() {
        return host.load(&path).map_err(|e| e.to_string());
    }
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file);
    match registered_file(agent, stem) {
        Some(registered) => host.load(&registered).map_err(|e| e.to_string()),
        None => Err(format!(
            "plugin {file} is neither in the package nor registered as \"{stem}\" \
             (ship it in the package, or `khutulun plugin add {stem} FILE.wasm`)"
        )),
    }
}

/// Custom functions backed by plugins: the package's (declared with an implementation) and
/// the registered ones.
pub struct PluginFunctions {
    pub host: Arc<PluginHost>,
    /// Where declared implementations' files are.
    pub package: PathBuf,
    /// Registered plugins, for functions declared without an implementation or not at all.
    pub registered: Vec<Arc<Plugin>>,
    /// Registered plugins of a name, for implementation files not in the package.
    pub by_name: Vec<(String, Arc<Plugin>)>,
    /// Where a failed call is announced (`function_failed`): the agent and the service.
    pub announce: Option<(Agent, String, String)>,
}

impl PluginFunctions {
    /// The functions of a package on this agent.
    pub fn for_package(
        agent: &Agent,
        package: &Path,
        namespace: &str,
        service: &str,
    ) -> Result<PluginFunctions, String> {
        let registered = registered(agent)?;
        Ok(PluginFunctions {
            announce: Some((agent.clone(), namespace.to_owned(), service.to_owned())),
            host: agent.plugin_host()?,
            package: package.to_owned(),
            by_name: registered
                .iter()
                .map(|(v, p)| (v.name.clone(), p.clone()))
                .collect(),
            registered: registered.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// The functions of a package for the offline compiler: only what the package ships.
    pub fn offline(host: Arc<PluginHost>, package: &Path) -> PluginFunctions {
        PluginFunctions {
            host,
            package: package.to_owned(),
            registered: Vec::new(),
            by_name: Vec::new(),
            announce: None,
        }
    }

    fn plugin_for(
        &self,
        declared: Option<&Function>,
        bare: &str,
    ) -> Option<Result<Arc<Plugin>, String>> {
        if let Some(implementation) = declared.and_then(|f| f.implementation.as_ref()) {
            let file = &implementation.primary.file;
            let path = crate::operations::artifact_path(&self.package, file);
            if path.is_file() {
                return Some(self.host.load(&path).map_err(|e| e.to_string()));
            }
            let stem = Path::new(file)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(file);
            return Some(
                self.by_name
                    .iter()
                    .find(|(name, _)| name == stem)
                    .map(|(_, p)| p.clone())
                    .ok_or_else(|| {
                        format!("its implementation {file} is neither in the package nor a registered plugin")
                    }),
            );
        }
        self.registered
            .iter()
            .find(|p| p.manifest().functions.iter().any(|f| f == bare))
            .cloned()
            .map(Ok)
    }
}

impl CustomFunctions for PluginFunctions {
    fn call(
        &self,
        name: &str,
        declared: Option<&Function>,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        // `ns:upper` calls the plugin's `upper`: the namespace is the template's business.
        let bare = name.rsplit(':').next().unwrap_or(name);
        let plugin = match self.plugin_for(declared, bare)? {
            Ok(plugin) => plugin,
            Err(message) => return Some(Err(message)),
        };
        let result = self
            .host
            .call_function(&plugin, bare, args, Arc::new(khutulun_plugins::NoHostApi))
            .map_err(|e| e.to_string());
        if let (Err(message), Some((agent, namespace, service))) = (&result, &self.announce) {
            agent.emit(EventKind::FunctionFailed {
                namespace: Some(namespace.clone()),
                service: Some(service.clone()),
                function: name.to_owned(),
                message: message.clone(),
            });
        }
        Some(result)
    }
}

/// What a plugin may do during a call for a deployed service: read its graph and
/// attributes, set attributes of its instances on this host, log, emit user events.
pub struct AgentHostApi {
    pub agent: Agent,
    pub namespace: String,
    pub service: String,
    pub graph: Arc<ServiceGraph>,
    /// `<interface>.<operation>` of the call, for the log.
    pub operation: String,
}

impl HostApi for AgentHostApi {
    fn log(&self, level: Level, message: &str) {
        let (ns, svc, op) = (&self.namespace, &self.service, &self.operation);
        match level {
            Level::Debug => tracing::debug!("plugin {ns}/{svc} {op}: {message}"),
            Level::Info => tracing::info!("plugin {ns}/{svc} {op}: {message}"),
            Level::Warn => tracing::warn!("plugin {ns}/{svc} {op}: {message}"),
            Level::Error => tracing::error!("plugin {ns}/{svc} {op}: {message}"),
        }
    }

    fn service_graph(&self) -> Result<String, String> {
        serde_json::to_string(&*self.graph).map_err(|e| e.to_string())
    }

    fn get_attribute(&self, node: &str, index: u32, name: &str) -> Result<Value, String> {
        let instances = self
            .agent
            .store
            .instances(&self.namespace, &self.service)
            .map_err(|e| e.to_string())?;
        if !instances.iter().any(|r| r.node == node && r.index == index) {
            return Err(format!("the service has no instance {node}/{index}"));
        }
        let runtime = crate::runtime::InstanceAttributes {
            instances: &instances,
        };
        Ok(
            khutulun_graph::RuntimeAttributes::node_attribute(&runtime, node, index, name)
                .unwrap_or(Value::Null),
        )
    }

    fn set_attribute(
        &self,
        node: &str,
        index: u32,
        name: &str,
        value: Value,
    ) -> Result<(), String> {
        const RESERVED: [&str; 4] = ["state", "host", "address", "pid"];
        if RESERVED.contains(&name) {
            return Err(format!(
                "attribute \"{name}\" is Khutulun's own and cannot be set"
            ));
        }
        let instance = InstanceRef::new(&self.namespace, &self.service, node, index)
            .map_err(|e| e.to_string())?;
        self.agent
            .update_instance(&instance, |record| {
                record.attributes.insert(name.to_owned(), value);
            })
            .map(|_| ())
            .ok_or_else(|| format!("instance {node}/{index} is not one of this host's"))
    }

    fn emit_event(
        &self,
        name: &str,
        node: Option<&str>,
        index: Option<u32>,
        data: Value,
    ) -> Result<(), String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
        {
            return Err(format!("\"{name}\" is not a usable event name"));
        }
        self.agent.emit(EventKind::User {
            name: name.to_owned(),
            namespace: Some(self.namespace.clone()),
            service: Some(self.service.clone()),
            node: node.map(str::to_owned),
            index: node.map(|_| index.unwrap_or(0)),
            data,
        });
        Ok(())
    }
}
