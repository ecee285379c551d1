//! Function definitions (§6.6, §10.4): signatures with argument and result schemas.

use super::Parser;
use crate::ast::{FunctionDef, SignatureDef};
use crate::yaml::Node;

const FUNCTION_KEYNAMES: &[&str] = &["signatures", "description", "metadata"];
const SIGNATURE_KEYNAMES: &[&str] = &[
    "arguments",
    "optional_arguments",
    "variadic",
    "result",
    "implementation",
];

impl Parser<'_> {
    pub fn functions(&mut self, node: &Node) -> Vec<FunctionDef> {
        let Some(entries) = self.entries(node, "functions") else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("function definition \"{}\"", entry.key);
            if entry.key.contains('$') {
                self.error(
                    &entry.key_node.location(),
                    format!("{what}: function names must not contain \"$\" (§10.1)"),
                );
            }
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            if !fields.iter().any(|f| f.key == "signatures") {
                self.error(
                    &entry.key_node.location(),
                    format!("{what} needs signatures (§10.4)"),
                );
            }
            let mut def = FunctionDef {
                name: entry.named(),
                signatures: Vec::new(),
            };
            for field in &fields {
                match field.key {
                    "signatures" => def.signatures = self.signatures(field.value, &what),
                    "description" => {
                        self.description(field.value);
                    }
                    "metadata" => {
                        self.metadata(field.value);
                    }
                    _ => self.unknown_keyname(field, &what, FUNCTION_KEYNAMES),
                }
            }
            defs.push(def);
        }
        defs
    }

    /// The signatures: a list (the grammar and examples of §10.4; its table says map, whose
    /// values are read in order too).
    fn signatures(&mut self, node: &Node, what: &str) -> Vec<SignatureDef> {
        let items: Vec<&Node> = match (node.as_seq(), node.as_map()) {
            (Some(items), _) => items.iter().collect(),
            (_, Some(entries)) => entries.iter().map(|(_, v)| v).collect(),
            _ => Vec::new(),
        };
        if items.is_empty() {
            self.error(
                &node.location(),
                format!("the signatures of {what} must be a non-empty list of signature definitions (§10.4)"),
            );
            return Vec::new();
        }
        let mut signatures = Vec::new();
        for item in items {
            let label = format!("a signature of {what}");
            let Some(fields) = self.entries_or_empty(item, &label) else {
                continue;
            };
            let mut signature = SignatureDef {
                arguments: Vec::new(),
                optional_arguments: Vec::new(),
                variadic: false,
                result: None,
                implementation: None,
            };
            for field in &fields {
                match field.key {
                    "arguments" | "optional_arguments" => {
                        let schemas = match field.value.as_seq() {
                            Some(schemas) => schemas
                                .iter()
                                .filter_map(|schema| {
                                    self.schema_definition(
                                        schema,
                                        &format!("an argument of {label}"),
                                    )
                                })
                                .collect(),
                            None => {
                                self.error(
                                    &field.value.location(),
                                    format!(
                                        "the {} of {label} must be a list of schema definitions, not {}",
                                        field.key,
                                        field.value.describe()
                                    ),
                                );
                                Vec::new()
                            }
                        };
                        if field.key == "arguments" {
                            signature.arguments = schemas;
                        } else {
                            signature.optional_arguments = schemas;
                        }
                    }
                    "result" => {
                        signature.result =
                            self.schema_definition(field.value, &format!("the result of {label}"))
                    }
                    "variadic" => {
                        signature.variadic = self
                            .boolean(field.value, &format!("variadic of {label}"))
                            .unwrap_or(false)
                    }
                    "implementation" => {
                        signature.implementation = self.implementation(field.value, &label)
                    }
                    _ => self.unknown_keyname(field, &label, SIGNATURE_KEYNAMES),
                }
            }
            signatures.push(signature);
        }
        signatures
    }
}
