//! YAML with source positions.
//!
//! Files are loaded with saphyr's marked YAML and turned into [`Node`]s: a small tree that
//! keeps the 1-based line and column of every value and map key, so that every diagnostic can
//! point at the exact place it is about. Anchors and aliases are expanded by the loader;
//! duplicate keys are a load error (YAML forbids them).
//!
//! Loading is bounded ([`Limits`]): file size, nesting depth, number of values and what
//! aliases may copy, so that no input exhausts memory or the stack.

use crate::diagnostic::{Diagnostic, Location};
use saphyr::{Marker, ScalarOwned, ScalarStyle, ScanError, Tag};
use saphyr_parser::{Event, Parser};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
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

/// Bounds on what one YAML file may cost to load, so that no input (a hostile upload, a
/// fuzzer's output) can exhaust memory or the stack. The defaults are far above any real
/// TOSCA file and far below what hurts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file, in bytes of text.
    pub max_file_bytes: usize,
    /// Deepest nesting of sequences and maps (the root collection is level 1).
    pub max_depth: usize,
    /// Most values (scalars, sequences, maps, keys) in one document, copies included.
    pub max_nodes: usize,
    /// Most values that anchors and aliases may copy in one document: an alias copies its
    /// anchor's value, so nested aliases grow exponentially (the "billion laughs").
    pub max_alias_nodes: usize,
    /// Most bytes of scalar text that anchors and aliases may copy in one document.
    pub max_alias_bytes: usize,
}

impl Limits {
    /// 64 MiB files, 256 levels, 4,000,000 values, 1,000,000 copied values and 64 MiB of
    /// copied text.
    pub const DEFAULT: Limits = Limits {
        max_file_bytes: 64 << 20,
        max_depth: 256,
        max_nodes: 4_000_000,
        max_alias_nodes: 1_000_000,
        max_alias_bytes: 64 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Loads one YAML document within [`Limits::DEFAULT`]. Errors come back as diagnostics at the
/// place they occur.
pub fn load(file: &str, text: &str) -> Result<Node, Vec<Diagnostic>> {
    load_with_limits(file, text, &Limits::DEFAULT)
}

/// Loads one YAML document within [`Limits::DEFAULT`], reading what libyaml-based processors
/// accept and YAML 1.2 does not (see [`crate::yaml_compat`]) with a warning for each.
pub fn load_with_warnings(
    file: &str,
    text: &str,
) -> Result<(Node, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut warnings = Vec::new();
    let mut fixed: Option<String> = None;
    loop {
        let current = fixed.as_deref().unwrap_or(text);
        let errors = match load(file, current) {
            Ok(node) => return Ok((node, warnings)),
            Err(errors) => errors,
        };
        let under_indented = match errors.as_slice() {
            [only] if only.message == crate::yaml_compat::UNDER_INDENTED => only,
            _ => return Err(errors),
        };
        if warnings.len() >= crate::yaml_compat::MAX_FIXES {
            return Err(errors);
        }
        let Some(next) = crate::yaml_compat::indent_quoted_scalar(
            current,
            under_indented.line,
            under_indented.column,
        ) else {
            return Err(errors);
        };
        let at = Location::new(file, under_indented.line, under_indented.column);
        warnings.push(Diagnostic::warning(
            &at,
            "the continuation lines of this quoted scalar are indented less than YAML 1.2 allows (more than the mapping that holds it); read as libyaml reads it — indent them to silence this",
        ));
        fixed = Some(next);
    }
}

/// Loads one YAML document within `limits`.
///
/// The document is built from saphyr's parser events with an explicit stack (saphyr's own
/// loader recurses once per nesting level and copies aliases without a bound on text), so
/// that depth, size and alias expansion are checked as the events arrive.
pub fn load_with_limits(file: &str, text: &str, limits: &Limits) -> Result<Node, Vec<Diagnostic>> {
    let file: Arc<str> = Arc::from(file);
    if text.len() > limits.max_file_bytes {
        return Err(vec![Diagnostic::error(
            &Location::new(&*file, 1, 1),
            format!(
                "the file is {} bytes, more than the limit of {}",
                text.len(),
                describe_bytes(limits.max_file_bytes)
            ),
        )]);
    }
    Builder::new(file, limits).run(text)
}

fn describe_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A collection being built: its place, its anchor, what it holds so far and its size.
struct Open {
    line: u32,
    column: u32,
    anchor: usize,
    kind: OpenKind,
    /// Values in this subtree so far, itself included.
    nodes: usize,
    /// Bytes of scalar text in this subtree so far.
    bytes: usize,
}

enum OpenKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Key hash → indexes of entries, built once the map is large enough that a linear
        /// duplicate check would cost more than hashing.
        index: Option<HashMap<u64, Vec<usize>>>,
    },
}

/// A finished value with its size (values and bytes of text).
struct Built {
    node: Node,
    nodes: usize,
    bytes: usize,
}

struct Builder<'l> {
    file: Arc<str>,
    limits: &'l Limits,
    stack: Vec<Open>,
    /// Finished anchored values by saphyr's anchor id.
    anchors: HashMap<usize, Built>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    alias_nodes: usize,
    alias_bytes: usize,
    diagnostics: Vec<Diagnostic>,
}

/// Stops the load: a limit was passed or the YAML is malformed.
struct Fatal;

const INDEX_FROM: usize = 16;

impl<'l> Builder<'l> {
    fn new(file: Arc<str>, limits: &'l Limits) -> Self {
        Builder {
            file,
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            nodes: 0,
            alias_nodes: 0,
            alias_bytes: 0,
            diagnostics: Vec::new(),
        }
    }

    fn run(mut self, text: &str) -> Result<Node, Vec<Diagnostic>> {
        let outcome = self.events(text);
        match (outcome, self.root.take()) {
            (Ok(()), Some(root)) if self.diagnostics.is_empty() => Ok(root),
            (Ok(()), None) if self.diagnostics.is_empty() => Err(vec![Diagnostic::error(
                &Location::new(&*self.file, 1, 1),
                "empty file: a TOSCA file is a YAML map that starts with tosca_definitions_version",
            )]),
            _ => Err(self.diagnostics),
        }
    }

    fn location(&self, marker: Marker) -> Location {
        Location::new(&*self.file, to_u32(marker.line()), to_u32(marker.col() + 1))
    }

    fn error(&mut self, marker: Marker, message: impl Into<String>) {
        let at = self.location(marker);
        self.diagnostics.push(Diagnostic::error(&at, message));
    }

    fn fatal(&mut self, marker: Marker, message: impl Into<String>) -> Fatal {
        self.error(marker, message);
        Fatal
    }

    fn events(&mut self, text: &str) -> Result<(), Fatal> {
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = match next {
                Ok(next) => next,
                Err(error) => return Err(self.scan_error(&error)),
            };
            let at = span.start;
            match event {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => self.documents += 1,
                _ if self.documents > 1 => {
                    return Err(self.fatal(
                        at,
                        "a TOSCA file holds exactly one YAML document; this is a second one",
                    ));
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let node = self.scalar(value, style, tag.as_deref(), at);
                    let bytes = match &node.value {
                        Yaml::Str(s) => s.len(),
                        _ => 0,
                    };
                    self.count(1, at)?;
                    self.finish(
                        Built {
                            node,
                            nodes: 1,
                            bytes,
                        },
                        anchor,
                        at,
                    )?;
                }
                Event::Alias(id) => {
                    let built = self.alias(id, at)?;
                    self.finish(built, 0, at)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open(anchor, tag.as_deref(), at, OpenKind::Seq(Vec::new()))?;
                }
                Event::MappingStart(anchor, tag) => {
                    let kind = OpenKind::Map {
                        entries: Vec::new(),
                        key: None,
                        index: None,
                    };
                    self.open(anchor, tag.as_deref(), at, kind)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = self.stack.pop() else {
                        return Err(self.fatal(at, "invalid YAML: unbalanced collection end"));
                    };
                    let value = match open.kind {
                        OpenKind::Seq(items) => Yaml::Seq(items),
                        OpenKind::Map { entries, .. } => Yaml::Map(entries),
                    };
                    let built = Built {
                        node: Node {
                            file: self.file.clone(),
                            line: open.line,
                            column: open.column,
                            value,
                        },
                        nodes: open.nodes,
                        bytes: open.bytes,
                    };
                    self.finish(built, open.anchor, at)?;
                }
            }
        }
        Ok(())
    }

    fn scan_error(&mut self, error: &ScanError) -> Fatal {
        let marker = *error.marker();
        if error.info() == "recursion limit exceeded" {
            // saphyr's scanner stops flow collections ([ ] and { }) at 255 levels.
            return self.fatal(
                marker,
                "nesting deeper than 255 levels of [ ] and { }; the file is probably malformed or hostile",
            );
        }
        self.fatal(marker, format!("invalid YAML: {}", error.info()))
    }

    fn count(&mut self, nodes: usize, at: Marker) -> Result<(), Fatal> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > self.limits.max_nodes {
            let max = self.limits.max_nodes;
            return Err(self.fatal(
                at,
                format!("the document holds more than {max} values (copies by aliases included); TOSCA files are far smaller"),
            ));
        }
        Ok(())
    }

    fn open(
        &mut self,
        anchor: usize,
        tag: Option<&Tag>,
        at: Marker,
        kind: OpenKind,
    ) -> Result<(), Fatal> {
        if self.stack.len() >= self.limits.max_depth {
            let max = self.limits.max_depth;
            return Err(self.fatal(
                at,
                format!(
                    "nesting deeper than {max} levels; the file is probably malformed or hostile"
                ),
            ));
        }
        if let Some(tag) = tag {
            if !tag.is_yaml_core_schema() {
                self.error(
                    at,
                    format!(
                        "unsupported YAML tag {tag}: TOSCA values use the YAML core schema only"
                    ),
                );
            }
        }
        self.count(1, at)?;
        let location = self.location(at);
        self.stack.push(Open {
            line: location.line,
            column: location.column,
            anchor,
            kind,
            nodes: 1,
            bytes: 0,
        });
        Ok(())
    }

    fn scalar(
        &mut self,
        value: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Marker,
    ) -> Node {
        let location = self.location(at);
        let value = match tag {
            Some(tag) if !tag.is_yaml_core_schema() => {
                self.error(
                    at,
                    format!(
                        "unsupported YAML tag {tag}: TOSCA values use the YAML core schema only"
                    ),
                );
                Yaml::Null
            }
            _ => {
                let tag = tag.map(|t| Cow::Owned(t.clone()));
                let shown = (tag.is_some()).then(|| value.to_string());
                match ScalarOwned::parse_from_cow_and_metadata(value, style, tag.as_ref()) {
                    Some(ScalarOwned::Null) => Yaml::Null,
                    Some(ScalarOwned::Boolean(b)) => Yaml::Bool(b),
                    Some(ScalarOwned::Integer(i)) => Yaml::Int(i),
                    Some(ScalarOwned::FloatingPoint(f)) => Yaml::Float(f.into_inner()),
                    Some(ScalarOwned::String(s)) => Yaml::Str(s),
                    None => {
                        let suffix = tag.as_ref().map(|t| t.suffix.clone()).unwrap_or_default();
                        let shown = shown.unwrap_or_default();
                        self.error(
                            at,
                            format!(
                                "invalid YAML value: {} does not match its tag !!{suffix}",
                                describe_yaml(&Yaml::Str(shown))
                            ),
                        );
                        Yaml::Null
                    }
                }
            }
        };
        Node {
            file: self.file.clone(),
            line: location.line,
            column: location.column,
            value,
        }
    }

    /// A copy of an anchor's value, placed at the alias, within the alias budget.
    fn alias(&mut self, id: usize, at: Marker) -> Result<Built, Fatal> {
        let Some(anchored) = self.anchors.get(&id) else {
            // saphyr rejects unknown names; an id without a value is an alias inside the
            // value of its own anchor.
            return Err(self.fatal(
                at,
                "invalid YAML: an alias inside the value of its own anchor (a cycle)",
            ));
        };
        let (nodes, bytes) = (anchored.nodes, anchored.bytes);
        self.charge_copy(nodes, bytes, at, "alias expansion exceeds")?;
        self.count(nodes, at)?;
        let anchored = &self.anchors[&id];
        let mut node = anchored.node.clone();
        let location = self.location(at);
        node.line = location.line;
        node.column = location.column;
        Ok(Built { node, nodes, bytes })
    }

    fn charge_copy(
        &mut self,
        nodes: usize,
        bytes: usize,
        at: Marker,
        what: &str,
    ) -> Result<(), Fatal> {
        self.alias_nodes = self.alias_nodes.saturating_add(nodes);
        self.alias_bytes = self.alias_bytes.saturating_add(bytes);
        if self.alias_nodes > self.limits.max_alias_nodes {
            let max = self.limits.max_alias_nodes;
            return Err(self.fatal(
                at,
                format!("{what} {max} nodes; the file is probably an alias bomb"),
            ));
        }
        if self.alias_bytes > self.limits.max_alias_bytes {
            let max = describe_bytes(self.limits.max_alias_bytes);
            return Err(self.fatal(
                at,
                format!("{what} {max} of text; the file is probably an alias bomb"),
            ));
        }
        Ok(())
    }

    /// Puts a finished value into the collection being built (or makes it the root), keeping
    /// a copy for a later alias when it carries an anchor.
    fn finish(&mut self, built: Built, anchor: usize, at: Marker) -> Result<(), Fatal> {
        if anchor != 0 {
            // Keeping the value for aliases copies it: anchors nested in anchors would
            // otherwise multiply memory by the depth without a single alias.
            self.charge_copy(built.nodes, built.bytes, at, "anchored values exceed")?;
            let copy = Built {
                node: built.node.clone(),
                nodes: built.nodes,
                bytes: built.bytes,
            };
            self.anchors.insert(anchor, copy);
        }
        let Some(parent) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(built.node);
            }
            return Ok(());
        };
        parent.nodes = parent.nodes.saturating_add(built.nodes);
        parent.bytes = parent.bytes.saturating_add(built.bytes);
        match &mut parent.kind {
            OpenKind::Seq(items) => items.push(built.node),
            OpenKind::Map {
                entries,
                key,
                index,
            } => match key.take() {
                None => *key = Some(built.node),
                Some(k) => {
                    let duplicate = find_key(entries, index.as_ref(), &k.value);
                    if entries.len() + 1 >= INDEX_FROM && index.is_none() {
                        let mut map: HashMap<u64, Vec<usize>> = HashMap::new();
                        for (i, (key, _)) in entries.iter().enumerate() {
                            map.entry(hash_value(&key.value)).or_default().push(i);
                        }
                        *index = Some(map);
                    }
                    match duplicate {
                        Some(first) => {
                            let first = &entries[first].0;
                            let message = format!(
                                "invalid YAML: duplicated key in mapping ({} repeats the key at line {}, column {})",
                                describe_yaml(&k.value),
                                first.line,
                                first.column
                            );
                            let location = k.location();
                            self.diagnostics.push(Diagnostic::error(&location, message));
                        }
                        None => {
                            if let Some(index) = index {
                                index
                                    .entry(hash_value(&k.value))
                                    .or_default()
                                    .push(entries.len());
                            }
                            entries.push((k, built.node));
                        }
                    }
                }
            },
        }
        Ok(())
    }
}

/// The entry whose key equals `key` (as YAML values: positions do not matter).
fn find_key(
    entries: &[(Node, Node)],
    index: Option<&HashMap<u64, Vec<usize>>>,
    key: &Yaml,
) -> Option<usize> {
    match index {
        Some(index) => index
            .get(&hash_value(key))?
            .iter()
            .copied()
            .find(|&i| same_value(&entries[i].0.value, key)),
        None => entries.iter().position(|(k, _)| same_value(&k.value, key)),
    }
}

/// Equality of YAML values without positions; floats compare as saphyr's keys do (NaN equals
/// NaN, 0.0 equals -0.0).
fn same_value(a: &Yaml, b: &Yaml) -> bool {
    match (a, b) {
        (Yaml::Null, Yaml::Null) => true,
        (Yaml::Bool(a), Yaml::Bool(b)) => a == b,
        (Yaml::Int(a), Yaml::Int(b)) => a == b,
        (Yaml::Float(a), Yaml::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Yaml::Str(a), Yaml::Str(b)) => a == b,
        (Yaml::Seq(a), Yaml::Seq(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(&a.value, &b.value))
        }
        (Yaml::Map(a), Yaml::Map(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|((ak, av), (bk, bv))| {
                    same_value(&ak.value, &bk.value) && same_value(&av.value, &bv.value)
                })
        }
        _ => false,
    }
}

fn hash_value(value: &Yaml) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_into(value, &mut hasher);
    hasher.finish()
}

fn hash_into(value: &Yaml, hasher: &mut impl Hasher) {
    match value {
        Yaml::Null => 0u8.hash(hasher),
        Yaml::Bool(b) => (1u8, b).hash(hasher),
        Yaml::Int(i) => (2u8, i).hash(hasher),
        Yaml::Float(f) => {
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else if *f == 0.0 {
                0
            } else {
                f.to_bits()
            };
            (3u8, bits).hash(hasher);
        }
        Yaml::Str(s) => (4u8, s).hash(hasher),
        Yaml::Seq(items) => {
            (5u8, items.len()).hash(hasher);
            for item in items {
                hash_into(&item.value, hasher);
            }
        }
        Yaml::Map(entries) => {
            (6u8, entries.len()).hash(hasher);
            for (k, v) in entries {
                hash_into(&k.value, hasher);
                hash_into(&v.value, hasher);
            }
        }
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
