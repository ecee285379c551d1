//! The JSON bodies a client sends.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// A deploy as JSON (`PUT /v1/namespaces/{ns}/services/{name}`, `application/json`), for
// small packages; the CLI streams the tar.gz itself instead. (No doc comment: it would
// become the schema's description in the OpenAPI document.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployRequest {
    /// The entry TOSCA file, relative to the package root.
    pub entry: String,
    /// Input values by name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// The package: a gzip-compressed tar archive, base64-encoded.
    pub package: String,
}

/// The body of a run request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRequest {
    /// Input values that override the template's for this run.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: BTreeMap<String, serde_json::Value>,
}

/// A user event to publish (`khutulun event emit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmitRequest {
    /// The event's name, which policy triggers match: letters, digits, `_ . : -`.
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// The service it is about; with `node` (and `index`, default 0), the instance.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    /// Any JSON value carried with the event.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_have_the_documented_json_form() {
        let deploy: DeployRequest =
            serde_json::from_value(json!({"entry": "service.yaml", "package": "H4sI"})).unwrap();
        assert!(deploy.inputs.is_empty());
        assert_eq!(
            serde_json::to_value(&deploy).unwrap(),
            json!({"entry": "service.yaml", "inputs": {}, "package": "H4sI"})
        );

        let run = RunRequest {
            inputs: BTreeMap::from([("greeting".into(), json!("hi"))]),
        };
        assert_eq!(
            serde_json::to_value(&run).unwrap(),
            json!({"inputs": {"greeting": "hi"}})
        );
        assert_eq!(
            serde_json::from_value::<RunRequest>(json!({})).unwrap(),
            RunRequest::default()
        );

        let emit = EmitRequest {
            name: "backup.done".into(),
            namespace: Some("default".into()),
            service: Some("shop".into()),
            node: None,
            index: None,
            data: json!({"size": 3}),
        };
        let value = serde_json::to_value(&emit).unwrap();
        assert_eq!(
            value,
            json!({"name": "backup.done", "namespace": "default", "service": "shop",
                "node": null, "index": null, "data": {"size": 3}})
        );
        assert_eq!(serde_json::from_value::<EmitRequest>(value).unwrap(), emit);
        let bare: EmitRequest = serde_json::from_value(json!({"name": "x"})).unwrap();
        assert_eq!(bare.data, serde_json::Value::Null);
    }
}
