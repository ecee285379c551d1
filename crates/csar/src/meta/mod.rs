//! TOSCA.meta (TOSCA 2.0, 17.2): the model, the parser and the writer.

mod list;
mod parse;

pub use parse::parse_meta;

/// The keynames of block_0 defined by the standard.
pub const CSAR_VERSION: &str = "CSAR-Version";
pub const CREATED_BY: &str = "Created-By";
pub const ENTRY_DEFINITIONS: &str = "Entry-Definitions";
pub const OTHER_DEFINITIONS: &str = "Other-Definitions";

/// The only CSAR-Version of TOSCA 2.0.
pub const VERSION: &str = "2.0";

/// The two places a CSAR may keep its TOSCA.meta (TOSCA 2.0, 17.1).
pub const META_PATHS: [&str; 2] = ["TOSCA-Metadata/TOSCA.meta", "TOSCA.meta"];

/// A parsed TOSCA.meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Always "2.0" (the only value TOSCA 2.0 allows).
    pub csar_version: String,
    pub created_by: String,
    /// The entry TOSCA file, normalised (`./a//b.yaml` → `a/b.yaml`). The standard says
    /// TOSCA.meta *may* name it; without it the single root YAML file is the entry.
    pub entry_definitions: Option<String>,
    /// Substitution-template files, normalised, in order.
    pub other_definitions: Vec<String>,
    /// Custom keynames of block_0, in order.
    pub extra: Vec<(String, String)>,
    /// The blocks after block_0 (custom or per-file metadata), in order.
    pub blocks: Vec<Vec<(String, String)>>,
}

impl Meta {
    /// A block_0 as Khutulun writes it: version 2.0, created by "Khutulun <version>".
    pub fn generated(entry: &str) -> Meta {
        Meta {
            csar_version: VERSION.to_string(),
            created_by: format!("Khutulun {}", env!("CARGO_PKG_VERSION")),
            entry_definitions: Some(entry.to_string()),
            other_definitions: Vec::new(),
            extra: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// The file text (one `keyname: value` per line, blocks separated by empty lines).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, k: &str, v: &str| {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        };
        line(&mut out, CSAR_VERSION, &self.csar_version);
        line(&mut out, CREATED_BY, &self.created_by);
        if let Some(entry) = &self.entry_definitions {
            line(&mut out, ENTRY_DEFINITIONS, entry);
        }
        if !self.other_definitions.is_empty() {
            line(
                &mut out,
                OTHER_DEFINITIONS,
                &list::join_list(&self.other_definitions),
            );
        }
        for (k, v) in &self.extra {
            line(&mut out, k, v);
        }
        for block in &self.blocks {
            out.push('\n');
            for (k, v) in block {
                line(&mut out, k, v);
            }
        }
        out
    }
}
