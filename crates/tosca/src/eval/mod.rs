//! Evaluating expressions at compile time, where their arguments are known: validation clauses
//! (§9.11) against literal values, with `$value` (§10.2.1.5) and `$get_property` of SELF, and
//! the built-in functions of [`crate::builtins`], whose meaning lives there.
//!
//! Evaluation answers None ("not known") whenever something is only known at deployment (an
//! input, an attribute, a custom function) or does not fit; only a definite answer is used to
//! report a problem.

pub(crate) mod render;

use crate::builtins::{self, Kind, Typed};
use crate::model::{DataTypeInfo, DataTypeRef, Expr, ExprKind, Schema};
use serde_json::Value;

/// Looks up a property of SELF: its value and schema.
pub(crate) type SelfLookup<'a> = &'a dyn Fn(&str) -> Option<(Expr, Option<Schema>)>;

/// What an expression is evaluated against.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub data_types: &'a [DataTypeInfo],
    /// The value a validation clause validates, and its schema (`$value`).
    pub value: Option<(&'a Expr, &'a Schema)>,
    /// The properties of SELF (`$get_property: [ SELF, ... ]`).
    pub self_properties: Option<SelfLookup<'a>>,
}

impl Context<'_> {
    /// Evaluates `expr`; None when it is not known at compile time.
    pub fn eval(&self, expr: &Expr) -> Option<Typed> {
        match &expr.kind {
            ExprKind::Call(call) => self.call(&call.function, &call.args),
            _ => Some(Typed::plain(self.literal(expr)?)),
        }
    }

    /// A value that may hold calls in its entries (each evaluated).
    fn literal(&self, expr: &Expr) -> Option<Value> {
        Some(match &expr.kind {
            ExprKind::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.eval(i).map(|t| t.value))
                    .collect::<Option<_>>()?,
            ),
            ExprKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.clone(), self.eval(v)?.value)))
                    .collect::<Option<_>>()?,
            ),
            ExprKind::Call(_) => return None,
            _ => expr.to_json()?,
        })
    }

    fn call(&self, function: &str, args: &[Expr]) -> Option<Typed> {
        match function {
            "value" => {
                let (value, schema) = self.value?;
                self.nested(value, Some(schema), args)
            }
            "get_property" => {
                let lookup = self.self_properties?;
                let (first, rest) = args.split_first()?;
                if first.as_str() != Some("SELF") {
                    return None;
                }
                let (name, path) = rest.split_first()?;
                let name = name.as_str()?;
                if matches!(name, "CAPABILITY" | "RELATIONSHIP" | "SOURCE" | "TARGET") {
                    return None;
                }
                let (value, schema) = lookup(name)?;
                self.nested(&value, schema.as_ref(), path)
            }
            _ => self.builtin(function, args),
        }
    }

    /// A built-in computed from its arguments, once they are known; `$and` and `$or` as soon
    /// as one argument decides them.
    fn builtin(&self, function: &str, args: &[Expr]) -> Option<Typed> {
        if !builtins::computes(function) {
            return None;
        }
        let mut values = Vec::with_capacity(args.len());
        let mut unknown = false;
        for arg in args {
            match self.eval(arg) {
                Some(value) => {
                    if let Some(decided) = builtins::decides(function, &value.value) {
                        return Some(Typed::plain(decided));
                    }
                    values.push(value);
                }
                None => unknown = true,
            }
        }
        if unknown {
            return None;
        }
        builtins::call(function, &values).ok().map(Typed::plain)
    }

    /// `value` (of `schema`), descended along `path` (names and indexes).
    fn nested(&self, value: &Expr, schema: Option<&Schema>, path: &[Expr]) -> Option<Typed> {
        let mut value = value.clone();
        let mut schema = schema.cloned();
        for step in path {
            let key = self.eval(step)?.value;
            let (next, next_schema) = match (&value.kind, &key) {
                (ExprKind::List(items), Value::Number(i)) => (
                    items.get(usize::try_from(i.as_u64()?).ok()?)?.clone(),
                    self.entry_schema(schema.as_ref()),
                ),
                (ExprKind::Map(entries), Value::String(k)) => {
                    let item = entries.iter().find(|(name, _)| name == k)?.1.clone();
                    let item_schema = self.member_schema(schema.as_ref(), k);
                    (item, item_schema)
                }
                _ => return None,
            };
            value = next;
            schema = next_schema;
        }
        let evaluated = self.eval(&value)?;
        Some(Typed {
            value: evaluated.value,
            kind: schema.as_ref().and_then(|s| self.kind_of(s)),
        })
    }

    fn entry_schema(&self, schema: Option<&Schema>) -> Option<Schema> {
        let schema = schema?;
        if let Some(entry) = &schema.entry {
            return Some((**entry).clone());
        }
        match schema.data_type {
            DataTypeRef::Defined(i) => self.data_types.get(i)?.entry.clone(),
            DataTypeRef::Builtin(_) => None,
        }
    }

    /// The schema of map entry or complex-type property `key`.
    fn member_schema(&self, schema: Option<&Schema>, key: &str) -> Option<Schema> {
        let schema = schema?;
        if let DataTypeRef::Defined(i) = schema.data_type {
            let info = self.data_types.get(i)?;
            if info.base.is_none() {
                return info
                    .properties
                    .iter()
                    .find(|p| p.name == key)?
                    .schema
                    .clone();
            }
        }
        self.entry_schema(Some(schema))
    }

    /// How values of `schema` compare.
    pub fn kind_of(&self, schema: &Schema) -> Option<Kind> {
        Kind::of(schema, self.data_types)
    }
}
