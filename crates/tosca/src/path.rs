//! TOSCA paths (§10.3): how `$get_property`, `$get_attribute` and friends name the node,
//! relationship or capability they read from.
//!
//! ```text
//! <tosca_path>   ::= <node_name>, <idx>, <node_context> | SELF, <node_context> | SELF, <rel_context>
//! <node_context> ::= RELATIONSHIP, <requirement>, <idx>, <rel_context> | CAPABILITY, <name>, <cap_context> | <empty>
//! <rel_context>  ::= SOURCE, <node_context> | TARGET, <node_context> | CAPABILITY, <cap_context> | <empty>
//! <cap_context>  ::= RELATIONSHIP, <idx>, <rel_context> | <empty>
//! <idx>          ::= <integer> | ALL | <empty>
//! ```
//! The path is followed by the property or attribute name and optional nested keys or
//! indexes, which is why an index never ends a path ambiguously: the name after it is a
//! string.

/// One argument of a path, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PathArg<'a> {
    Str(&'a str),
    Int(i64),
    /// Anything else (a list, a map, a function call): never a valid path element.
    Other,
}

/// Which representation SELF is, or a path step reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Node,
    Relationship,
    Capability,
}

impl EntityKind {
    pub fn label(self) -> &'static str {
        match self {
            EntityKind::Node => "node",
            EntityKind::Relationship => "relationship",
            EntityKind::Capability => "capability",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// SELF: the node or relationship that holds the expression.
    SelfEntity,
    /// A node template by name.
    Node(String),
}

/// `<idx>`: missing means the first (index 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    First,
    At(u64),
    All,
}

impl Index {
    /// The single index meant, or None for ALL.
    pub fn single(self) -> Option<u64> {
        match self {
            Index::First => Some(0),
            Index::At(i) => Some(i),
            Index::All => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// From a node: `RELATIONSHIP, <requirement>, <idx>`, its outgoing relationships.
    Relationship { requirement: String, index: Index },
    /// From a node: `CAPABILITY, <name>`.
    Capability(String),
    /// From a relationship: its source node.
    Source,
    /// From a relationship: its target node.
    Target,
    /// From a relationship: `CAPABILITY`, its target capability.
    TargetCapability,
    /// From a capability: `RELATIONSHIP, <idx>`, its incoming relationships.
    Incoming(Index),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToscaPath {
    pub start: Start,
    /// The `<idx>` after a node template name.
    pub node_index: Index,
    pub steps: Vec<Step>,
    /// What the path ends at.
    pub end: EntityKind,
    /// How many arguments the path used; the property or attribute name comes next.
    pub consumed: usize,
}

/// Parses the path at the start of `args`. `self_kind` is what SELF means where the
/// expression is (None where there is no SELF, e.g. in outputs).
pub fn parse(args: &[PathArg], self_kind: Option<EntityKind>) -> Result<ToscaPath, String> {
    let mut i = 0;
    let (start, mut kind, node_index) = match args.first() {
        Some(PathArg::Str("SELF")) => {
            let kind = self_kind.ok_or_else(|| {
                "SELF is used where there is no node or relationship to refer to (e.g. in outputs); name a node template instead".to_string()
            })?;
            i += 1;
            (Start::SelfEntity, kind, Index::First)
        }
        Some(PathArg::Str(name)) if !is_keyword(name) => {
            i += 1;
            let index = index_at(args, &mut i);
            (Start::Node(name.to_string()), EntityKind::Node, index)
        }
        Some(PathArg::Str(keyword)) => {
            return Err(format!(
                "a TOSCA path starts with SELF or a node template name, not {keyword} (TOSCA 2.0 writes SELF, {keyword}, ...)"
            ))
        }
        Some(_) => return Err("a TOSCA path starts with SELF or a node template name".to_string()),
        None => return Err("missing the TOSCA path (SELF or a node template name)".to_string()),
    };
    let mut steps = Vec::new();
    loop {
        let next = args.get(i).copied();
        match (kind, next) {
            (EntityKind::Node, Some(PathArg::Str("RELATIONSHIP"))) => {
                let Some(PathArg::Str(requirement)) = args.get(i + 1).copied() else {
                    return Err(
                        "RELATIONSHIP in a TOSCA path needs a requirement name after it"
                            .to_string(),
                    );
                };
                i += 2;
                let index = index_at(args, &mut i);
                steps.push(Step::Relationship {
                    requirement: requirement.to_string(),
                    index,
                });
                kind = EntityKind::Relationship;
            }
            (EntityKind::Node, Some(PathArg::Str("CAPABILITY"))) => {
                let Some(PathArg::Str(name)) = args.get(i + 1).copied() else {
                    return Err(
                        "CAPABILITY in a TOSCA path needs a capability name after it".to_string(),
                    );
                };
                i += 2;
                steps.push(Step::Capability(name.to_string()));
                kind = EntityKind::Capability;
            }
            (EntityKind::Relationship, Some(PathArg::Str("SOURCE"))) => {
                i += 1;
                steps.push(Step::Source);
                kind = EntityKind::Node;
            }
            (EntityKind::Relationship, Some(PathArg::Str("TARGET"))) => {
                i += 1;
                steps.push(Step::Target);
                kind = EntityKind::Node;
            }
            (EntityKind::Relationship, Some(PathArg::Str("CAPABILITY"))) => {
                i += 1;
                steps.push(Step::TargetCapability);
                kind = EntityKind::Capability;
            }
            (EntityKind::Capability, Some(PathArg::Str("RELATIONSHIP"))) => {
                i += 1;
                let index = index_at(args, &mut i);
                steps.push(Step::Incoming(index));
                kind = EntityKind::Relationship;
            }
            (_, Some(PathArg::Str(word))) if is_keyword(word) => {
                return Err(format!(
                    "{word} cannot follow a {} in a TOSCA path (§10.3)",
                    kind.label()
                ))
            }
            _ => break,
        }
    }
    Ok(ToscaPath {
        start,
        node_index,
        steps,
        end: kind,
        consumed: i,
    })
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "SELF" | "SOURCE" | "TARGET" | "RELATIONSHIP" | "CAPABILITY" | "ALL"
    )
}

fn index_at(args: &[PathArg], i: &mut usize) -> Index {
    match args.get(*i) {
        Some(PathArg::Int(n)) if *n >= 0 => {
            *i += 1;
            Index::At(*n as u64)
        }
        Some(PathArg::Str("ALL")) => {
            *i += 1;
            Index::All
        }
        _ => Index::First,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathArg::{Int, Str};

    #[test]
    fn node_name_then_property() {
        let path = parse(&[Str("frontend"), Str("address")], None).unwrap();
        assert_eq!(path.start, Start::Node("frontend".into()));
        assert!(path.steps.is_empty());
        assert_eq!(path.consumed, 1);
        assert_eq!(path.end, EntityKind::Node);
    }

    #[test]
    fn capability_step() {
        let args = [
            Str("frontend"),
            Str("CAPABILITY"),
            Str("endpoint"),
            Str("port"),
        ];
        let path = parse(&args, None).unwrap();
        assert_eq!(path.steps, vec![Step::Capability("endpoint".into())]);
        assert_eq!(path.consumed, 3);
        assert_eq!(path.end, EntityKind::Capability);
    }

    #[test]
    fn multi_step_traversal_with_indexes() {
        let args = [
            Str("SELF"),
            Str("RELATIONSHIP"),
            Str("db"),
            Int(0),
            Str("TARGET"),
            Str("RELATIONSHIP"),
            Str("host"),
            Str("TARGET"),
            Str("admin"),
        ];
        let path = parse(&args, Some(EntityKind::Node)).unwrap();
        assert_eq!(
            path.steps,
            vec![
                Step::Relationship {
                    requirement: "db".into(),
                    index: Index::At(0)
                },
                Step::Target,
                Step::Relationship {
                    requirement: "host".into(),
                    index: Index::First
                },
                Step::Target,
            ]
        );
        assert_eq!(path.consumed, 8);
    }

    #[test]
    fn relationship_self_and_target_capability() {
        let args = [Str("SELF"), Str("CAPABILITY"), Str("port")];
        let path = parse(&args, Some(EntityKind::Relationship)).unwrap();
        assert_eq!(path.steps, vec![Step::TargetCapability]);
        assert_eq!(path.consumed, 2);
    }

    #[test]
    fn node_index_and_all() {
        let path = parse(&[Str("web"), Int(2), Str("x")], None).unwrap();
        assert_eq!(path.node_index, Index::At(2));
        let path = parse(&[Str("web"), Str("ALL"), Str("x")], None).unwrap();
        assert_eq!(path.node_index, Index::All);
    }

    #[test]
    fn errors() {
        assert!(parse(&[Str("SELF"), Str("x")], None)
            .unwrap_err()
            .contains("SELF"));
        assert!(parse(&[Str("TARGET"), Str("x")], None).is_err());
        assert!(parse(&[Str("n"), Str("RELATIONSHIP")], None).is_err());
        assert!(parse(&[Str("n"), Str("SOURCE"), Str("x")], None).is_err());
    }
}
