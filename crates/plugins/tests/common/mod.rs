//! What the tests share: the built plugins and a recording `HostApi`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use khutulun_plugins::{HostApi, Level};
use serde_json::Value;

/// The component `target/plugins/<name>.wasm` of the repository; fails the test when it was
/// not built.
pub fn plugin_file(name: &str) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = repo.join("target/plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: the plugin tests need the built plugins; run scripts/build-plugins first",
        path.display()
    );
    path
}

/// An emitted event: name, node, index, data.
pub type Emitted = (String, Option<String>, Option<u32>, Value);

/// A `HostApi` that keeps attributes in memory and records logs and events.
#[derive(Default)]
pub struct Recording {
    pub attributes: Mutex<HashMap<(String, u32, String), Value>>,
    pub events: Mutex<Vec<Emitted>>,
    pub logs: Mutex<Vec<(Level, String)>>,
}

impl Recording {
    pub fn attribute(&self, node: &str, index: u32, name: &str) -> Option<Value> {
        self.attributes
            .lock()
            .unwrap()
            .get(&(node.to_string(), index, name.to_string()))
            .cloned()
    }

    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.lock().unwrap().clone()
    }
}

impl HostApi for Recording {
    fn log(&self, level: Level, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_string()));
    }

    fn service_graph(&self) -> Result<String, String> {
        Ok(r#"{"nodes":{}}"#.into())
    }

    fn get_attribute(&self, node: &str, index: u32, name: &str) -> Result<Value, String> {
        Ok(self.attribute(node, index, name).unwrap_or(Value::Null))
    }

    fn set_attribute(
        &self,
        node: &str,
        index: u32,
        name: &str,
        value: Value,
    ) -> Result<(), String> {
        self.attributes
            .lock()
            .unwrap()
            .insert((node.to_string(), index, name.to_string()), value);
        Ok(())
    }

    fn emit_event(
        &self,
        name: &str,
        node: Option<&str>,
        index: Option<u32>,
        data: Value,
    ) -> Result<(), String> {
        self.events
            .lock()
            .unwrap()
            .push((name.to_string(), node.map(str::to_string), index, data));
        Ok(())
    }
}
