//! Whether a value of one declared type can be used where another is expected — for values
//! given by `$get_input` (whose type is the input's) and for mappings between parameters.
//! Types that a deployment value could still satisfy count as fitting; only clearly different
//! types do not (TOSCA does not convert between types, §9.1.1).

use super::Compiler;
use crate::model::{Builtin, Expr, ExprKind, Schema};

impl Compiler<'_> {
    /// Whether values of schema `given` fit schema `wanted`.
    pub(crate) fn schemas_fit(&self, given: &Schema, wanted: &Schema) -> bool {
        let types = &*self.types;
        let (a, b) = (given.data_type, wanted.data_type);
        if types.data_derives_from(a, b) || types.data_derives_from(b, a) {
            return match (&given.entry, &wanted.entry) {
                (Some(x), Some(y)) => self.schemas_fit(x, y),
                _ => true,
            };
        }
        match (types.data_base(a), types.data_base(b)) {
            (Some(Builtin::Integer), Some(Builtin::Float)) => true,
            // Two scalar types with different units, or two complex types, do not fit.
            (Some(Builtin::Scalar), _) | (_, Some(Builtin::Scalar)) => false,
            (Some(x), Some(y)) if x == y => match (&given.entry, &wanted.entry) {
                (Some(e), Some(f)) => self.schemas_fit(e, f),
                _ => true,
            },
            _ => false,
        }
    }

    /// A value given by `{ $get_input: name }` must have a type that fits `schema`.
    pub(crate) fn check_input_type(&mut self, value: &Expr, schema: &Schema, what: &str) {
        let ExprKind::Call(call) = &value.kind else {
            return;
        };
        if call.function != "get_input" || call.args.len() != 1 {
            return;
        }
        let Some(name) = call.args[0].as_str() else {
            return;
        };
        let Some(input) = self.inputs.iter().find(|i| i.name == name) else {
            return;
        };
        let Some(given) = &input.schema else {
            return;
        };
        if !self.schemas_fit(given, schema) {
            self.diagnostics.error(
                &value.location,
                format!(
                    "{what} has type \"{}\", but input \"{name}\" given to it has type \"{}\" (TOSCA does not convert between types, §9.1.1)",
                    schema.type_name, given.type_name
                ),
            );
        }
    }
}
