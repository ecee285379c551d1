//! Values, and the function calls in them (§10.1).
//!
//! A string starting with `$` is a call without arguments; a map whose only key starts with
//! `$` is a call whose arguments are the value (a list, or a single argument). `$$` at the
//! start of a string or key escapes a literal `$`.

use super::Parser;
use crate::ast::Named;
use crate::model::{Call, Expr, ExprKind};
use crate::yaml::{Node, Yaml};

impl Parser<'_> {
    /// A value as an expression, with every function call recognized.
    /// A call written as a map is located at its `$name` key.
    pub fn value(&mut self, node: &Node) -> Expr {
        let mut location = node.location();
        let kind = match &node.value {
            Yaml::Null => ExprKind::Null,
            Yaml::Bool(b) => ExprKind::Bool(*b),
            Yaml::Int(i) => ExprKind::Integer(*i),
            Yaml::Float(f) => ExprKind::Float(*f),
            Yaml::Str(s) => match unescape(s) {
                Unescaped::Literal(text) => ExprKind::String(text),
                Unescaped::Function(name) => self.call(node, name, Vec::new()),
            },
            Yaml::Seq(items) => ExprKind::List(items.iter().map(|i| self.value(i)).collect()),
            Yaml::Map(entries) => {
                let (kind, key_location) = self.map_value(entries);
                if let Some(key_location) = key_location {
                    location = key_location;
                }
                kind
            }
        };
        Expr::new(location, kind)
    }

    /// A condition clause (§9.11, §8.6, §13.2.1, §16.5): a Boolean expression, so `true`,
    /// `false`, or a function call whose result can be a boolean.
    pub fn condition(&mut self, node: &Node, what: &str) -> Expr {
        let expr = self.value(node);
        match &expr.kind {
            ExprKind::Bool(_) => {}
            ExprKind::Call(call) if crate::functions::is_non_boolean(&call.function) => self.error(
                &expr.location,
                format!(
                    "{what} must be a Boolean expression, but ${} does not return a boolean (§10.2.2)",
                    call.function
                ),
            ),
            ExprKind::Call(_) => {}
            _ => self.error(
                &expr.location,
                format!(
                    "{what} must be a Boolean expression (a function such as $and, $equal or $greater_than, or true/false), not {}",
                    expr.describe()
                ),
            ),
        }
        expr
    }

    fn map_value(
        &mut self,
        entries: &[(Node, Node)],
    ) -> (ExprKind, Option<crate::diagnostic::Location>) {
        let function_key = entries.iter().find_map(|(key, value)| match key.as_str() {
            Some(text) => match unescape(text) {
                Unescaped::Function(name) => Some((key, name, value)),
                Unescaped::Literal(_) => None,
            },
            None => None,
        });
        if let Some((key, name, value)) = function_key {
            if entries.len() > 1 {
                self.error(
                    &key.location(),
                    format!(
                        "malformed function call: a map with the function key \"${name}\" must have no other key (escape a literal \"$\" as \"$$\")"
                    ),
                );
            }
            let args = match &value.value {
                Yaml::Seq(items) => items.iter().map(|i| self.value(i)).collect(),
                Yaml::Null => Vec::new(),
                _ => vec![self.value(value)],
            };
            return (self.call(key, name, args), Some(key.location()));
        }
        let mut map = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            // A key may be a function call whose result is the key (§10.1, #s91); it is kept
            // as written, to be evaluated with the value.
            if let Yaml::Map(_) = key.value {
                let key_expr = self.value(key);
                if key_expr.as_call().is_some() {
                    map.push((crate::eval::render::render(&key_expr), self.value(value)));
                    continue;
                }
            }
            let Some(text) = key.key_text() else {
                self.error(
                    &key.location(),
                    format!("map keys in values must be strings, not {}", key.describe()),
                );
                continue;
            };
            if !matches!(key.value, Yaml::Str(_)) {
                self.error(
                    &key.location(),
                    format!(
                        "map keys in values must be strings (§9.1.3.2), not {}; quote it: \"{text}\"",
                        key.describe()
                    ),
                );
            }
            let text = match key.as_str() {
                Some(s) => match unescape(s) {
                    Unescaped::Literal(t) => t,
                    Unescaped::Function(_) => text,
                },
                None => text,
            };
            map.push((text, self.value(value)));
        }
        (ExprKind::Map(map), None)
    }

    fn call(&mut self, at: &Node, name: &str, args: Vec<Expr>) -> ExprKind {
        // `$name$suffix` varies a key that is used more than once in a map (§10.1).
        let name = name.split('$').next().unwrap_or_default();
        if name.is_empty() {
            self.error(&at.location(), "a function call needs a name after \"$\"");
        }
        self.calls.push(crate::ast::CallSite {
            name: Named {
                name: name.to_string(),
                location: at.location(),
            },
            args: args.clone(),
        });
        ExprKind::Call(Call {
            function: name.to_string(),
            args,
        })
    }
}

enum Unescaped<'a> {
    Literal(String),
    /// The text after the `$`.
    Function(&'a str),
}

fn unescape(text: &str) -> Unescaped<'_> {
    if let Some(rest) = text.strip_prefix("$$") {
        Unescaped::Literal(format!("${rest}"))
    } else if let Some(rest) = text.strip_prefix('$') {
        Unescaped::Function(rest)
    } else {
        Unescaped::Literal(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;
    use crate::yaml::load;

    fn parse(text: &str) -> (Expr, Vec<String>) {
        let node = load("v.yaml", text).unwrap();
        let mut diagnostics = Diagnostics::default();
        let mut parser = Parser::new(&mut diagnostics);
        let expr = parser.value(&node);
        let messages = diagnostics
            .into_sorted()
            .into_iter()
            .map(|d| d.to_string())
            .collect();
        (expr, messages)
    }

    #[test]
    fn calls_in_map_and_string_form() {
        let (expr, errors) = parse("{ $concat: [ a, { $get_input: x }, $node_index ] }");
        assert!(errors.is_empty());
        let call = expr.as_call().unwrap();
        assert_eq!(call.function, "concat");
        assert_eq!(call.args.len(), 3);
        assert_eq!(call.args[1].as_call().unwrap().function, "get_input");
        assert_eq!(call.args[1].as_call().unwrap().args[0].as_str(), Some("x"));
        assert_eq!(call.args[2].as_call().unwrap().function, "node_index");
        assert!(call.args[2].as_call().unwrap().args.is_empty());
    }

    #[test]
    fn dollar_dollar_escapes() {
        let (expr, errors) = parse("{ $$key: $$value, plain: $$$x }");
        assert!(errors.is_empty());
        assert_eq!(
            expr.to_json().unwrap(),
            serde_json::json!({ "$key": "$value", "plain": "$$x" })
        );
    }

    #[test]
    fn function_key_with_siblings_is_malformed() {
        let (_, errors) = parse("{ $get_input: x, other: 1 }");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("v.yaml:1:3: error: malformed function call"));
    }

    #[test]
    fn key_suffix_is_dropped_from_the_function_name() {
        let (expr, _) = parse("{ $keygen$1: [ UUID ] }");
        assert_eq!(expr.as_call().unwrap().function, "keygen");
    }
}
