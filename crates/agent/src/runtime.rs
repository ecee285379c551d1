//! The run-time values that `$get_attribute` reads: the instance records of a service.

use khutulun_graph::RuntimeAttributes;
use khutulun_state::InstanceRecord;
use serde_json::Value;

pub struct InstanceAttributes<'a> {
    pub instances: &'a [InstanceRecord],
}

impl InstanceAttributes<'_> {
    fn find(&self, node: &str, index: u32) -> Option<&InstanceRecord> {
        self.instances
            .iter()
            .find(|i| i.node == node && i.index == index)
    }
}

impl RuntimeAttributes for InstanceAttributes<'_> {
    fn node_attribute(&self, node: &str, index: u32, name: &str) -> Option<Value> {
        let instance = self.find(node, index)?;
        match name {
            "state" => Some(Value::from(instance.state.as_str())),
            "host" => Some(Value::from(instance.host.clone())),
            "address" => Some(Value::from(instance.address.clone())),
            "pid" => instance.pid.map(Value::from),
            other => instance.attributes.get(other).cloned(),
        }
    }

    fn capability_attribute(
        &self,
        node: &str,
        index: u32,
        capability: &str,
        name: &str,
    ) -> Option<Value> {
        let instance = self.find(node, index)?;
        match name {
            "port" => instance.ports.get(capability).map(|p| Value::from(*p)),
            "address" if instance.ports.contains_key(capability) => {
                Some(Value::from(instance.address.clone()))
            }
            "path" => instance.attributes.get("path").cloned(),
            _ => None,
        }
    }

    fn relationship_attribute(
        &self,
        _source: &str,
        _index: u32,
        _requirement: &str,
        _rel_index: u32,
        _name: &str,
    ) -> Option<Value> {
        None
    }
}
