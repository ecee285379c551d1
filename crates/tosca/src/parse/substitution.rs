//! Substitution mappings of a service template (§15): property, attribute, capability,
//! requirement and interface mappings.

use super::Parser;
use crate::ast::{Named, RequirementMapping, SubstitutionMappings, ValueMapping};
use crate::yaml::{Node, Yaml};

const SUBSTITUTION_KEYNAMES: &[&str] = &[
    "node_type",
    "substitution_filter",
    "properties",
    "attributes",
    "capabilities",
    "requirements",
    "interfaces",
];

impl Parser<'_> {
    pub fn substitution_mappings(&mut self, node: &Node) -> Option<SubstitutionMappings> {
        let fields = self.entries(node, "substitution_mappings")?;
        let mut mappings = SubstitutionMappings {
            node_type: None,
            filter: None,
            properties: Vec::new(),
            attributes: Vec::new(),
            capabilities: Vec::new(),
            requirements: Vec::new(),
            interfaces: Vec::new(),
        };
        if !fields.iter().any(|f| f.key == "node_type") {
            self.error(
                &node.location(),
                "substitution_mappings needs node_type (§15.1)",
            );
        }
        for field in &fields {
            let what = format!("the {} of substitution_mappings", field.key);
            match field.key {
                "node_type" => mappings.node_type = self.named(field.value, &what),
                "substitution_filter" => {
                    mappings.filter = Some(self.condition(field.value, "a substitution filter"))
                }
                "properties" => {
                    mappings.properties = self.value_mappings(field.value, &what, "input")
                }
                "attributes" => {
                    mappings.attributes = self.value_mappings(field.value, &what, "output")
                }
                "capabilities" => {
                    mappings.capabilities = self.capability_mappings(field.value, &what)
                }
                "requirements" => {
                    mappings.requirements = self.requirement_mappings(field.value, &what)
                }
                "interfaces" => mappings.interfaces = self.interface_mappings(field.value, &what),
                _ => self.unknown_keyname(field, "substitution_mappings", SUBSTITUTION_KEYNAMES),
            }
        }
        Some(mappings)
    }

    /// A key that is a name or a list of names and indexes (`[ CAPABILITY, cap, prop ]`).
    fn path_key(&mut self, key: &Node, what: &str) -> Option<Vec<String>> {
        match &key.value {
            Yaml::Str(s) if !s.is_empty() => Some(vec![s.clone()]),
            Yaml::Seq(items) if !items.is_empty() => items
                .iter()
                .map(|item| match &item.value {
                    Yaml::Str(s) => Some(s.clone()),
                    Yaml::Int(i) => Some(i.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .or_else(|| {
                    self.error(
                        &key.location(),
                        format!("the keys of {what} must be names or lists of names and indexes"),
                    );
                    None
                }),
            _ => {
                self.error(
                    &key.location(),
                    format!(
                        "the keys of {what} must be names or lists of names and indexes, not {}",
                        key.describe()
                    ),
                );
                None
            }
        }
    }

    /// Property mappings (§15.2) or attribute mappings (§15.3).
    fn value_mappings(&mut self, node: &Node, what: &str, parameter: &str) -> Vec<ValueMapping> {
        let Some(map) = node.as_map() else {
            self.error(
                &node.location(),
                format!("{what} must be a map, not {}", node.describe()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in map {
            let Some(path) = self.path_key(key, what) else {
                continue;
            };
            // TOSCA 1.x wrote the value as a one-entry list; TOSCA 2.0 names the input.
            let Some(name) = self.named(
                value,
                &format!("the {parameter} that {} maps to", path.join(".")),
            ) else {
                continue;
            };
            out.push(ValueMapping {
                location: key.location(),
                path,
                parameter: name,
            });
        }
        out
    }

    fn capability_mappings(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Vec<(Named, Option<(Named, Named)>)> {
        let Some(entries) = self.entries(node, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in &entries {
            let target = match entry.value.as_seq() {
                Some([node_name, capability]) => self
                    .named(
                        node_name,
                        &format!("the node template of capability mapping \"{}\"", entry.key),
                    )
                    .zip(self.named(
                        capability,
                        &format!("the capability of capability mapping \"{}\"", entry.key),
                    )),
                _ => {
                    self.error(
                        &entry.value.location(),
                        format!(
                            "capability mapping \"{}\" must be [ <node_template>, <capability> ], not {} (§15.4)",
                            entry.key,
                            entry.value.describe()
                        ),
                    );
                    None
                }
            };
            out.push((entry.named(), target));
        }
        out
    }

    fn requirement_mappings(&mut self, node: &Node, what: &str) -> Vec<RequirementMapping> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "{what} must be a list of requirement mappings (- name: [ node_template, requirement ]), not {} (§15.5)",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some([(key, value)]) = item.as_map() else {
                self.error(
                    &item.location(),
                    format!(
                        "each requirement mapping must be a map with one entry, not {}",
                        item.describe()
                    ),
                );
                continue;
            };
            let Some(path) = self.path_key(key, what) else {
                continue;
            };
            let requirement = Named {
                name: path[0].clone(),
                location: key.location(),
            };
            if let Some(count) = path.get(1) {
                if count != "UNBOUNDED" && count.parse::<u64>().is_err() || path.len() > 2 {
                    self.error(
                        &key.location(),
                        "a grouped requirement mapping key is [ <requirement>, <count> ] with a non-negative count or UNBOUNDED (§15.5)",
                    );
                }
            }
            let label = format!("requirement mapping \"{}\"", requirement.name);
            let targets = match &value.value {
                Yaml::Str(_) => self.named(value, &label).map(|n| vec![(n, None)]),
                Yaml::Seq(entries) if is_pair(entries) => {
                    self.pair(entries, &label).map(|pair| vec![pair])
                }
                Yaml::Seq(entries) => entries
                    .iter()
                    .map(|entry| match &entry.value {
                        Yaml::Str(_) => self.named(entry, &label).map(|n| (n, None)),
                        Yaml::Seq(pair) if is_pair(pair) => self.pair(pair, &label),
                        _ => {
                            self.error(
                                &entry.location(),
                                format!("{label} lists [ <node_template>, <requirement> ] pairs or selectable node templates, not {}", entry.describe()),
                            );
                            None
                        }
                    })
                    .collect::<Option<Vec<_>>>(),
                _ => {
                    self.error(
                        &value.location(),
                        format!(
                            "{label} must be [ <node_template>, <requirement> ], a selectable node template, or a list of them, not {} (§15.5)",
                            value.describe()
                        ),
                    );
                    None
                }
            };
            out.push(RequirementMapping {
                requirement,
                targets: targets.unwrap_or_default(),
            });
        }
        out
    }

    fn pair(&mut self, items: &[Node], what: &str) -> Option<(Named, Option<Named>)> {
        let node = self.named(&items[0], &format!("the node template of {what}"))?;
        let requirement = self.named(&items[1], &format!("the requirement of {what}"))?;
        Some((node, Some(requirement)))
    }

    /// Interface mappings (§15.6): `interface: { operation: workflow }`.
    fn interface_mappings(&mut self, node: &Node, what: &str) -> Vec<(Named, Named, Named)> {
        let Some(entries) = self.entries(node, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in &entries {
            let label = format!("interface mapping \"{}\"", entry.key);
            let Some(operations) = self.entries(entry.value, &label) else {
                continue;
            };
            for operation in &operations {
                if let Some(workflow) = self.named(
                    operation.value,
                    &format!("the workflow of operation \"{}\" in {label}", operation.key),
                ) {
                    out.push((entry.named(), operation.named(), workflow));
                }
            }
        }
        out
    }
}

fn is_pair(items: &[Node]) -> bool {
    matches!(items, [a, b] if a.as_str().is_some() && b.as_str().is_some())
}
