//! YAML with source positions.
//!
//! Files are loaded with saphyr's marked YAML and turned into [`Node`]s: a small tree that
//! keeps the 1-based line and column of every value and map key, so that every diagnostic can
//! point at the exact place it is about. Anchors and aliases are expanded by the loader;
//! duplicate keys are a load error (YAML forbids them).

use crate::diagnostic::{Diagnostic, Location};
use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use std::sync::Arc;

/// One YAML value with the place it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
    pub value: Yaml,
}

/// The YAML data model after the core schema resolved plain scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order: (key, value).
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn location(&self) -> Location {
        Location::new(&*self.file, self.line, self.column)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Yaml::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Yaml::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Yaml::Null)
    }

    /// The text of a scalar used as a map key (`1` and `true` are keys too).
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            Yaml::Str(s) => Some(s.clone()),
            Yaml::Int(i) => Some(i.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Null => Some("null".to_string()),
            Yaml::Seq(_) | Yaml::Map(_) => None,
        }
    }

    /// A short description of the value's kind for messages, with the value when it is short.
    pub fn describe(&self) -> String {
        describe_yaml(&self.value)
    }

    /// The plain data of this node (no function interpretation).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Int(i) => Value::from(*i),
            Yaml::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Yaml::Str(s) => Value::String(s.clone()),
            Yaml::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Yaml::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

pub(crate) fn describe_yaml(value: &Yaml) -> String {
    match value {
        Yaml::Null => "null".to_string(),
        Yaml::Bool(b) => format!("boolean {b}"),
        Yaml::Int(i) => format!("integer {i}"),
        Yaml::Float(f) => format!("float {f}"),
        Yaml::Str(s) if s.chars().count() <= 40 => format!("string \"{s}\""),
        Yaml::Str(_) => "a string".to_string(),
        Yaml::Seq(_) => "a list".to_string(),
        Yaml::Map(_) => "a map".to_string(),
    }
}

/// Loads one YAML document. Errors come back as diagnostics at the place they occur.
pub fn load(file: &str, text: &str) -> Result<Node, Vec<Diagnostic>> {
    let file: Arc<str> = Arc::from(file);
    let documents = match MarkedYamlOwned::load_from_str(text) {
        Ok(documents) => documents,
        Err(error) => {
            let marker = error.marker();
            let at = Location::new(&*file, to_u32(marker.line()), to_u32(marker.col() + 1));
            return Err(vec![Diagnostic::error(
                &at,
                format!("invalid YAML: {}", error.info()),
            )]);
        }
    };
    let mut documents = documents.into_iter();
    let Some(first) = documents.next() else {
        return Err(vec![Diagnostic::error(
            &Location::new(&*file, 1, 1),
            "empty file: a TOSCA file is a YAML map that starts with tosca_definitions_version",
        )]);
    };
    let mut diagnostics = Vec::new();
    if let Some(second) = documents.next() {
        diagnostics.push(Diagnostic::error(
            &marked_location(&file, &second),
            "a TOSCA file holds exactly one YAML document; this is a second one",
        ));
    }
    let node = convert(&file, first, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(node)
    } else {
        Err(diagnostics)
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn marked_location(file: &Arc<str>, node: &MarkedYamlOwned) -> Location {
    let start = node.span.start;
    Location::new(&**file, to_u32(start.line()), to_u32(start.col() + 1))
}

fn convert(file: &Arc<str>, node: MarkedYamlOwned, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let start = node.span.start;
    let value = match node.data {
        YamlDataOwned::Value(scalar) => match scalar {
            ScalarOwned::Null => Yaml::Null,
            ScalarOwned::Boolean(b) => Yaml::Bool(b),
            ScalarOwned::Integer(i) => Yaml::Int(i),
            ScalarOwned::FloatingPoint(f) => Yaml::Float(f.into_inner()),
            ScalarOwned::String(s) => Yaml::Str(s),
        },
        YamlDataOwned::Sequence(items) => Yaml::Seq(
            items
                .into_iter()
                .map(|item| convert(file, item, diagnostics))
                .collect(),
        ),
        YamlDataOwned::Mapping(entries) => Yaml::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(file, k, diagnostics), convert(file, v, diagnostics)))
                .collect(),
        ),
        YamlDataOwned::Representation(text, _, _) => Yaml::Str(text),
        YamlDataOwned::Tagged(tag, _) => {
            diagnostics.push(Diagnostic::error(
                &Location::new(&**file, to_u32(start.line()), to_u32(start.col() + 1)),
                format!("unsupported YAML tag {tag}: TOSCA values use the YAML core schema only"),
            ));
            Yaml::Null
        }
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => {
            diagnostics.push(Diagnostic::error(
                &Location::new(&**file, to_u32(start.line()), to_u32(start.col() + 1)),
                "invalid YAML value (an unknown alias, or a scalar that does not match its tag)",
            ));
            Yaml::Null
        }
    };
    Node {
        file: file.clone(),
        line: to_u32(start.line()),
        column: to_u32(start.col() + 1),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let node = load("f.yaml", "a: 1\nb:\n  c: [x, 'y']\n").unwrap();
        let map = node.as_map().unwrap();
        assert_eq!((map[0].0.line, map[0].0.column), (1, 1));
        assert_eq!((map[0].1.line, map[0].1.column), (1, 4));
        let inner = map[1].1.as_map().unwrap();
        assert_eq!((inner[0].0.line, inner[0].0.column), (3, 3));
        let list = inner[0].1.as_seq().unwrap();
        assert_eq!((list[1].line, list[1].column), (3, 10));
        assert_eq!(list[1].value, Yaml::Str("y".into()));
    }

    #[test]
    fn quoted_numbers_are_strings_and_plain_ones_are_not() {
        let node = load("f.yaml", "a: '0.1'\nb: 0.1\nc: 12\nd: true\ne:\n").unwrap();
        let values: Vec<&Yaml> = node
            .as_map()
            .unwrap()
            .iter()
            .map(|(_, v)| &v.value)
            .collect();
        assert_eq!(values[0], &Yaml::Str("0.1".into()));
        assert_eq!(values[1], &Yaml::Float(0.1));
        assert_eq!(values[2], &Yaml::Int(12));
        assert_eq!(values[3], &Yaml::Bool(true));
        assert_eq!(values[4], &Yaml::Null);
    }

    #[test]
    fn aliases_are_expanded() {
        let node = load("f.yaml", "a: &x { k: 1 }\nb: *x\n").unwrap();
        let map = node.as_map().unwrap();
        assert_eq!(map[0].1.to_json(), map[1].1.to_json());
    }

    #[test]
    fn syntax_and_duplicate_key_errors_have_positions() {
        let errors = load("f.yaml", "a: 1\na: 2\n").unwrap_err();
        assert_eq!(errors[0].file, "f.yaml");
        assert!(
            errors[0].message.contains("duplicated key"),
            "{}",
            errors[0]
        );
        let errors = load("f.yaml", "a: [1, 2\n").unwrap_err();
        assert!(errors[0].message.starts_with("invalid YAML"));
        assert!(errors[0].line >= 1);
    }

    #[test]
    fn empty_file_is_an_error() {
        let errors = load("f.yaml", "").unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (1, 1));
    }
}
