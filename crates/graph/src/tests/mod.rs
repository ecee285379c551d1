//! Tests of instantiation, ordering and evaluation, on compiled templates.

mod diff;
mod evaluate;
mod instantiation;
mod order;
mod runnable;

use crate::ServiceGraph;
use khutulun_tosca::{compile_text, Diagnostic, ServiceTemplate};
use serde_json::Value;
use std::collections::BTreeMap;

pub fn compile(text: &str) -> ServiceTemplate {
    match compile_text("service.yaml", text, &khutulun_profile::registry()) {
        Ok(template) => template,
        Err(errors) => panic!("{}", render(&errors)),
    }
}

pub fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn graph_of(text: &str, inputs: &[(&str, Value)]) -> ServiceGraph {
    let inputs: BTreeMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    match crate::instantiate(&compile(text), &inputs) {
        Ok(graph) => graph,
        Err(errors) => panic!("{}", render(&errors)),
    }
}

pub fn errors_of(text: &str, inputs: &[(&str, Value)]) -> Vec<String> {
    let inputs: BTreeMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    match crate::instantiate(&compile(text), &inputs) {
        Ok(_) => panic!("expected instantiation to fail"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The product's first example.
pub const HELLO: &str = r#"tosca_definitions_version: tosca_2_0
description: Hello world
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    greeting: { type: string, default: hello }
  node_templates:
    backend:
      type: Process
      properties:
        command: python3
        arguments: [ backend.py ]
        environment: { GREETING: { $get_input: greeting } }
    frontend:
      type: Process
      properties:
        command: python3
        arguments: [ frontend.py ]
      capabilities:
        endpoint:
          properties: { port: 0 }
      requirements:
        - connection: backend
  outputs:
    url:
      value: { $concat: [ "http://", { $get_attribute: [ frontend, address ] }, ":", { $get_attribute: [ frontend, CAPABILITY, endpoint, port ] }, "/" ] }
"#;
