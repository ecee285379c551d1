//! The kinds of declared types that compare (and measure) specially, and values that carry
//! one.

use crate::model::{Builtin, DataTypeInfo, DataTypeRef, ScalarUnits, Schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How values of a special type compare and measure (§9.1.2), when the caller knows that a
/// value has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A scalar with the units of its type: compares by its value in the canonical unit.
    Scalar(ScalarUnits),
    /// Compares component by component.
    Version,
    /// Compares as an instant.
    Timestamp,
    /// Base64 text: `$length` counts the bytes it encodes.
    Bytes,
}

/// An argument: its value, and the kind of its declared type when that matters.
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub value: Value,
    pub kind: Option<Kind>,
}

impl Typed {
    /// A value whose type does not change how it compares.
    pub fn plain(value: Value) -> Typed {
        Typed { value, kind: None }
    }
}

impl Kind {
    /// The kind of values of `schema` (a type derived from scalar, version, timestamp or
    /// bytes), or None when its values compare as plain JSON.
    pub fn of(schema: &Schema, data_types: &[DataTypeInfo]) -> Option<Kind> {
        match schema.data_type {
            DataTypeRef::Builtin(b) => builtin_kind(b, None),
            DataTypeRef::Defined(i) => {
                let info = data_types.get(i)?;
                builtin_kind(info.base?, info.scalar.as_ref())
            }
        }
    }
}

fn builtin_kind(builtin: Builtin, scalar: Option<&ScalarUnits>) -> Option<Kind> {
    match builtin {
        // A scalar type without units is abstract: its values cannot be read.
        Builtin::Scalar => scalar.cloned().map(Kind::Scalar),
        Builtin::Version => Some(Kind::Version),
        Builtin::Timestamp => Some(Kind::Timestamp),
        Builtin::Bytes => Some(Kind::Bytes),
        _ => None,
    }
}
