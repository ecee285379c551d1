//! Artifact definitions in node types and node templates (§12.2).

use super::Parser;
use crate::ast::{ArtifactDef, Named};
use crate::yaml::{Node, Yaml};

const ARTIFACT_DEF_KEYNAMES: &[&str] = &[
    "type",
    "file",
    "repository",
    "description",
    "metadata",
    "artifact_version",
    "version",
    "checksum",
    "checksum_algorithm",
    "properties",
];

impl Parser<'_> {
    /// `artifacts:` of a node type or node template.
    pub fn artifact_definitions(&mut self, node: &Node, owner: &str) -> Vec<ArtifactDef> {
        let Some(entries) = self.entries(node, &format!("the artifacts of {owner}")) else {
            return Vec::new();
        };
        let mut defs = Vec::new();
        for entry in &entries {
            let what = format!("artifact \"{}\" of {owner}", entry.key);
            if let Yaml::Str(_) = entry.value.value {
                self.warning(
                    &entry.value.location(),
                    format!(
                        "{what} uses the TOSCA 1.x short form \"name: file\", which TOSCA 2.0 does not define (§12.2 needs type and file); its type is not checked"
                    ),
                );
                continue;
            }
            if let Some(def) = self.artifact_definition(entry.named(), entry.value, &what) {
                defs.push(def);
            }
        }
        defs
    }

    /// One artifact definition; `name` is empty for one written in place (an implementation's
    /// primary or dependency).
    pub fn artifact_definition(
        &mut self,
        name: Named,
        node: &Node,
        what: &str,
    ) -> Option<ArtifactDef> {
        let fields = self.entries(node, what)?;
        let mut def = ArtifactDef {
            name,
            location: node.location(),
            type_name: None,
            file: None,
            repository: None,
            properties: Vec::new(),
        };
        for key in ["type", "file"] {
            if !fields.iter().any(|f| f.key == key) {
                self.error(&node.location(), format!("{what} needs {key} (§12.2)"));
            }
        }
        let has_checksum = fields.iter().any(|f| f.key == "checksum");
        let has_algorithm = fields.iter().any(|f| f.key == "checksum_algorithm");
        if has_checksum && !has_algorithm {
            self.error(
                &node.location(),
                format!("{what} has a checksum and so needs checksum_algorithm (§12.2)"),
            );
        }
        for field in &fields {
            let label = format!("the {} of {what}", field.key);
            match field.key {
                "type" => def.type_name = self.named(field.value, &label),
                "file" => def.file = self.named(field.value, &label),
                "repository" => def.repository = self.named(field.value, &label),
                // The table of §12.2 names it artifact_version, its grammar version.
                "artifact_version" | "version" | "checksum" | "checksum_algorithm" => {
                    self.named(field.value, &label);
                }
                "description" => {
                    self.description(field.value);
                }
                "metadata" => {
                    self.metadata(field.value);
                }
                "properties" => def.properties = self.assignments(field.value, &label),
                _ => self.unknown_keyname(field, what, ARTIFACT_DEF_KEYNAMES),
            }
        }
        Some(def)
    }
}
