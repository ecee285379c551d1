//! Structure-aware fuzzing: the input bytes choose a small package of TOSCA files from the
//! grammar (types with parents, properties, capabilities, requirements, templates with
//! requirements by name and by type, values and function calls, imports by path and by
//! profile), with names drawn from small pools so that references mostly resolve. Raw-byte
//! fuzzing rarely gets past the YAML and the first keynames; this reaches types,
//! requirement fulfilment and function checks.

#![no_main]

use arbitrary::Unstructured;
use khutulun_tosca::{compile, Diagnostic, MemoryReader, ProfileRegistry};
use libfuzzer_sys::fuzz_target;
use std::fmt::Write;
use std::path::Path;
use std::sync::OnceLock;

fn registry() -> &'static ProfileRegistry {
    static REGISTRY: OnceLock<ProfileRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = khutulun_profile::registry();
        registry.register_file(
            "ex.org:1.0",
            "tosca_definitions_version: tosca_2_0\nprofile: ex.org:1.0\nnode_types:\n  Base:\n    properties:\n      p:\n        type: string\n        required: false\ncapability_types:\n  Cap: {}\nrelationship_types:\n  Rel: {}\n",
        );
        registry
    })
}

/// A YAML value to emit.
enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V>),
    Map(Vec<(String, V)>),
}

fn s(text: &str) -> V {
    V::Str(text.to_string())
}

const NODE_TYPES: &[&str] = &[
    "A",
    "B",
    "C",
    "Base",
    "Root",
    "Process",
    "Directory",
    "k:Process",
    "ex:Base",
    "Nope",
];
const DATA_TYPES: &[&str] = &[
    "D",
    "E",
    "string",
    "integer",
    "float",
    "boolean",
    "list",
    "map",
    "timestamp",
    "version",
    "range",
    "scalar",
    "bytes",
    "nil",
    "Size",
    "Nope",
];
const CAPABILITY_TYPES: &[&str] = &["Cap", "Cap2", "TcpEndpoint", "DirectoryStorage", "Root"];
const RELATIONSHIP_TYPES: &[&str] = &["Rel", "Rel2", "ConnectsTo", "UsesDirectory", "Root"];
const PROPERTIES: &[&str] = &["p", "q", "name", "port", "size", "command"];
const NODES: &[&str] = &["n0", "n1", "n2", "n3", "n4"];
const REQUIREMENTS: &[&str] = &["r", "s", "host", "dependency", "connection", "storage"];
const CAPABILITIES: &[&str] = &["c", "d", "endpoint", "storage"];
const INPUTS: &[&str] = &["i", "j", "k"];
const FUNCTIONS: &[&str] = &[
    "get_input",
    "get_property",
    "get_attribute",
    "get_artifact",
    "value",
    "node_index",
    "relationship_index",
    "available_allocation",
    "and",
    "or",
    "not",
    "equal",
    "greater_than",
    "less_or_equal",
    "valid_values",
    "matches",
    "has_prefix",
    "contains",
    "has_key",
    "length",
    "concat",
    "join",
    "token",
    "union",
    "sum",
    "product",
    "quotient",
    "round",
    "nope",
];
const WORDS: &[&str] = &[
    "SELF",
    "SOURCE",
    "TARGET",
    "HOST",
    "CAPABILITY",
    "RELATIONSHIP",
    "n0",
    "n1",
    "p",
    "q",
    "c",
    "r",
    "0",
    "1",
    "x",
    "1 MiB",
    "2 GB",
    "1.0.0",
    "2024-01-01",
    "",
    "$x",
    "$$y",
];

struct Gen<'a, 'b> {
    u: &'b mut Unstructured<'a>,
}

impl Gen<'_, '_> {
    fn n(&mut self, max: usize) -> usize {
        self.u.int_in_range(0..=max).unwrap_or(0)
    }

    fn flag(&mut self) -> bool {
        self.u.arbitrary().unwrap_or(false)
    }

    fn pick(&mut self, from: &[&str]) -> String {
        from[self.n(from.len() - 1)].to_string()
    }

    /// Usually one of `from`, sometimes another string of the input.
    fn name(&mut self, from: &[&str]) -> String {
        if self.n(15) == 0 {
            let len = self.n(8);
            (0..len)
                .map(|_| char::from(b'a' + self.n(25) as u8))
                .collect()
        } else {
            self.pick(from)
        }
    }

    fn value(&mut self, depth: usize) -> V {
        let top = if depth == 0 { 6 } else { 9 };
        match self.n(top) {
            0 => V::Null,
            1 => V::Bool(self.flag()),
            2 => V::Int(self.u.arbitrary::<i8>().unwrap_or(0).into()),
            3 => V::Float(f64::from(self.u.arbitrary::<i8>().unwrap_or(0)) / 4.0),
            4..=6 => V::Str(self.name(WORDS)),
            7 => {
                let len = self.n(3);
                V::List((0..len).map(|_| self.value(depth - 1)).collect())
            }
            8 => {
                let len = self.n(3);
                V::Map(
                    (0..len)
                        .map(|_| (self.name(PROPERTIES), self.value(depth - 1)))
                        .collect(),
                )
            }
            _ => self.function(depth - 1),
        }
    }

    fn function(&mut self, depth: usize) -> V {
        let name = format!("${}", self.name(FUNCTIONS));
        let args = match self.n(3) {
            0 => V::Str(self.name(WORDS)),
            1 => V::List(vec![s("SELF"), V::Str(self.name(PROPERTIES))]),
            _ => {
                let len = self.n(3);
                V::List((0..len).map(|_| self.value(depth)).collect())
            }
        };
        V::Map(vec![(name, args)])
    }

    fn property_definitions(&mut self) -> V {
        let len = self.n(3);
        V::Map(
            (0..len)
                .map(|_| {
                    let mut def = vec![("type".to_string(), V::Str(self.name(DATA_TYPES)))];
                    if self.flag() {
                        def.push(("required".into(), V::Bool(self.flag())));
                    }
                    if self.n(2) == 0 {
                        def.push(("default".into(), self.value(2)));
                    }
                    if self.n(3) == 0 {
                        def.push(("entry_schema".into(), V::Str(self.name(DATA_TYPES))));
                    }
                    if self.n(4) == 0 {
                        def.push(("validation".into(), self.function(1)));
                    }
                    (self.name(PROPERTIES), V::Map(def))
                })
                .collect(),
        )
    }

    fn types(&mut self, names: &[&str], parents: &[&str], kind: usize) -> V {
        let len = self.n(3);
        V::Map(
            (0..len)
                .map(|_| {
                    let mut def = Vec::new();
                    if self.flag() {
                        def.push(("derived_from".to_string(), V::Str(self.name(parents))));
                    }
                    if self.flag() {
                        def.push(("properties".into(), self.property_definitions()));
                    }
                    if self.n(2) == 0 {
                        def.push(("attributes".into(), self.property_definitions()));
                    }
                    match kind {
                        // node types
                        0 => {
                            if self.flag() {
                                let len = self.n(2);
                                let caps = (0..len)
                                    .map(|_| {
                                        let t = V::Str(self.name(CAPABILITY_TYPES));
                                        let def = if self.flag() {
                                            t
                                        } else {
                                            V::Map(vec![("type".into(), t)])
                                        };
                                        (self.name(CAPABILITIES), def)
                                    })
                                    .collect();
                                def.push(("capabilities".into(), V::Map(caps)));
                            }
                            if self.flag() {
                                let len = self.n(2);
                                let reqs = (0..len)
                                    .map(|_| {
                                        let mut r = vec![
                                            (
                                                "capability".to_string(),
                                                V::Str(self.name(CAPABILITY_TYPES)),
                                            ),
                                            (
                                                "relationship".to_string(),
                                                V::Str(self.name(RELATIONSHIP_TYPES)),
                                            ),
                                        ];
                                        if self.flag() {
                                            r.push(("node".into(), V::Str(self.name(NODE_TYPES))));
                                        }
                                        if self.n(3) == 0 {
                                            r.push((
                                                "count_range".into(),
                                                V::List(vec![
                                                    V::Int(self.n(2) as i64),
                                                    if self.flag() {
                                                        s("UNBOUNDED")
                                                    } else {
                                                        V::Int(self.n(3) as i64)
                                                    },
                                                ]),
                                            ));
                                        }
                                        V::Map(vec![(self.name(REQUIREMENTS), V::Map(r))])
                                    })
                                    .collect();
                                def.push(("requirements".into(), V::List(reqs)));
                            }
                        }
                        // data types
                        1 => {
                            if self.n(3) == 0 {
                                def.push(("validation".into(), self.function(1)));
                            }
                        }
                        // relationship types
                        2 => {
                            if self.flag() {
                                def.push((
                                    "valid_capability_types".into(),
                                    V::List(vec![V::Str(self.name(CAPABILITY_TYPES))]),
                                ));
                            }
                            if self.n(2) == 0 {
                                def.push((
                                    "valid_target_node_types".into(),
                                    V::List(vec![V::Str(self.name(NODE_TYPES))]),
                                ));
                            }
                        }
                        _ => {}
                    }
                    (self.name(names), V::Map(def))
                })
                .collect(),
        )
    }

    fn node_template(&mut self) -> V {
        let mut t = vec![("type".to_string(), V::Str(self.name(NODE_TYPES)))];
        if self.flag() {
            let len = self.n(3);
            let props = (0..len)
                .map(|_| (self.name(PROPERTIES), self.value(2)))
                .collect();
            t.push(("properties".into(), V::Map(props)));
        }
        if self.flag() {
            let len = self.n(3);
            let reqs = (0..len)
                .map(|_| {
                    let target = match self.n(3) {
                        0 => V::Str(self.name(NODES)),
                        1 => V::Map(vec![
                            ("node".into(), V::Str(self.name(NODES))),
                            ("capability".into(), V::Str(self.name(CAPABILITIES))),
                        ]),
                        2 => V::Map(vec![
                            ("capability".into(), V::Str(self.name(CAPABILITY_TYPES))),
                            ("relationship".into(), V::Str(self.name(RELATIONSHIP_TYPES))),
                        ]),
                        _ => {
                            let mut m = vec![("node".to_string(), V::Str(self.name(NODE_TYPES)))];
                            if self.flag() {
                                m.push(("count".into(), V::Int(self.n(3) as i64)));
                            }
                            if self.flag() {
                                m.push(("node_filter".into(), self.function(1)));
                            }
                            V::Map(m)
                        }
                    };
                    V::Map(vec![(self.name(REQUIREMENTS), target)])
                })
                .collect();
            t.push(("requirements".into(), V::List(reqs)));
        }
        if self.n(3) == 0 {
            let name = self.name(CAPABILITIES);
            let props = V::Map(vec![(self.name(PROPERTIES), self.value(1))]);
            t.push((
                "capabilities".into(),
                V::Map(vec![(name, V::Map(vec![("properties".into(), props)]))]),
            ));
        }
        if self.n(4) == 0 {
            t.push(("count".into(), V::Int(self.n(3) as i64)));
        }
        if self.n(5) == 0 {
            t.push(("directives".into(), V::List(vec![s("select")])));
        }
        if self.n(6) == 0 {
            t.push(("copy".into(), V::Str(self.name(NODES))));
        }
        V::Map(t)
    }

    fn file(&mut self, entry: bool) -> V {
        let mut f = Vec::new();
        let version = match self.n(15) {
            0 => s("tosca_1_3"),
            1 => V::Float(2.0),
            _ => s("tosca_2_0"),
        };
        f.push(("tosca_definitions_version".to_string(), version));
        if !entry && self.flag() {
            f.push(("profile".into(), s("my.files:1")));
        }
        if self.flag() {
            let len = self.n(3);
            let imports = (0..len)
                .map(|_| {
                    let mut m = match self.n(4) {
                        0 => vec![("profile".to_string(), s("io.khutulun:0.1"))],
                        1 => vec![("profile".to_string(), s("ex.org:1.0"))],
                        2 => vec![("url".to_string(), s("other.yaml"))],
                        3 => vec![("url".to_string(), s("main.yaml"))],
                        _ => vec![("url".to_string(), s("missing.yaml"))],
                    };
                    if self.flag() {
                        m.push(("namespace".into(), V::Str(self.pick(&["k", "ex", "o"]))));
                    }
                    V::Map(m)
                })
                .collect();
            f.push(("imports".into(), V::List(imports)));
        }
        if self.n(3) == 0 {
            f.push(("metadata".into(), V::Map(vec![("m".into(), self.value(2))])));
        }
        if self.flag() {
            let v = self.types(&["D", "E"], DATA_TYPES, 1);
            f.push(("data_types".into(), v));
        }
        if self.flag() {
            let v = self.types(&["Cap", "Cap2"], CAPABILITY_TYPES, 3);
            f.push(("capability_types".into(), v));
        }
        if self.flag() {
            let v = self.types(&["Rel", "Rel2"], RELATIONSHIP_TYPES, 2);
            f.push(("relationship_types".into(), v));
        }
        if self.flag() {
            let v = self.types(&["A", "B", "C"], NODE_TYPES, 0);
            f.push(("node_types".into(), v));
        }
        if entry || self.n(4) == 0 {
            let mut st = Vec::new();
            if self.flag() {
                st.push((
                    "inputs".to_string(),
                    self.property_definitions_named(INPUTS),
                ));
            }
            let len = self.n(5);
            let nodes = (0..len)
                .map(|_| (self.name(NODES), self.node_template()))
                .collect();
            st.push(("node_templates".into(), V::Map(nodes)));
            if self.flag() {
                let value = self.function(2);
                st.push((
                    "outputs".into(),
                    V::Map(vec![("o".into(), V::Map(vec![("value".into(), value)]))]),
                ));
            }
            if self.n(3) == 0 {
                let policy = V::Map(vec![
                    (
                        "type".into(),
                        V::Str(self.name(&["Redundancy", "Placement", "Colocation", "Nope"])),
                    ),
                    ("targets".into(), V::List(vec![V::Str(self.name(NODES))])),
                    ("properties".into(), self.value(1)),
                ]);
                st.push((
                    "policies".into(),
                    V::List(vec![V::Map(vec![("pol".into(), policy)])]),
                ));
            }
            f.push(("service_template".into(), V::Map(st)));
        }
        V::Map(f)
    }

    fn property_definitions_named(&mut self, names: &[&str]) -> V {
        let len = self.n(2);
        V::Map(
            (0..len)
                .map(|_| {
                    let mut def = vec![("type".to_string(), V::Str(self.name(DATA_TYPES)))];
                    if self.flag() {
                        def.push(("default".into(), self.value(1)));
                    }
                    (self.name(names), V::Map(def))
                })
                .collect(),
        )
    }
}

/// Block-style YAML; strings are always double-quoted (JSON escapes are YAML escapes).
fn emit(value: &V, indent: usize, out: &mut String) {
    match value {
        V::Null => out.push_str(" null\n"),
        V::Bool(b) => {
            let _ = writeln!(out, " {b}");
        }
        V::Int(i) => {
            let _ = writeln!(out, " {i}");
        }
        V::Float(f) => {
            let _ = writeln!(out, " {f:?}");
        }
        V::Str(text) => {
            let _ = writeln!(out, " {}", serde_json::to_string(text).unwrap());
        }
        V::List(items) if items.is_empty() => out.push_str(" []\n"),
        V::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        V::List(items) => {
            out.push('\n');
            for item in items {
                let _ = write!(out, "{:indent$}-", "");
                emit(item, indent + 2, out);
            }
        }
        V::Map(entries) => {
            out.push('\n');
            for (key, item) in entries {
                let _ = write!(
                    out,
                    "{:indent$}{}:",
                    "",
                    serde_json::to_string(key).unwrap()
                );
                emit(item, indent + 2, out);
            }
        }
    }
}

fn to_yaml(file: &V) -> String {
    let mut out = String::new();
    emit(file, 0, &mut out);
    out.trim_start().to_string()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut gen = Gen { u: &mut u };
    let main = to_yaml(&gen.file(true));
    let other = to_yaml(&gen.file(false));
    let reader = MemoryReader::new()
        .with("main.yaml", main)
        .with("other.yaml", other);
    let places_ok = |d: &Diagnostic| d.line >= 1 && d.column >= 1 && !d.file.is_empty();
    match compile(Path::new("main.yaml"), &reader, registry()) {
        Ok(template) => {
            assert!(template
                .warnings
                .iter()
                .all(|d| !d.is_error() && places_ok(d)));
            serde_json::to_string(&template).expect("a compiled template serializes");
        }
        Err(diagnostics) => {
            assert!(
                diagnostics.iter().any(Diagnostic::is_error),
                "{diagnostics:?}"
            );
            assert!(diagnostics.iter().all(places_ok), "{diagnostics:?}");
        }
    }
});
