//! Arithmetic (§10.2.5) on integers and floats: integers give integers (an overflow is an
//! error), anything with a float gives a float, `$quotient` always a float.
//!
//! Scalars are not computed: the unit of a scalar result is the orchestrator's choice, which
//! Khutulun has not made.

use super::{describe, Typed};
use serde_json::{Number, Value};

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn number(function: &str, arg: &Typed) -> Result<Num, String> {
    let unsupported = || {
        format!(
            "${function} computes with integers and floats, not {} (arithmetic on scalars is not supported)",
            describe(&arg.value)
        )
    };
    if arg.kind.is_some() {
        return Err(unsupported());
    }
    match &arg.value {
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().ok_or_else(unsupported)?),
        }),
        _ => Err(unsupported()),
    }
}

/// The arguments' shapes and count are already checked.
pub(super) fn call(function: &str, args: &[Typed]) -> Result<Value, String> {
    let numbers: Vec<Num> = args
        .iter()
        .map(|a| number(function, a))
        .collect::<Result<_, _>>()?;
    let overflow = || format!("${function} overflows the integers");
    let ints: Option<Vec<i64>> = numbers
        .iter()
        .map(|n| match n {
            Num::Int(i) => Some(*i),
            Num::Float(_) => None,
        })
        .collect();
    let floats: Vec<f64> = numbers.iter().map(|n| n.as_f64()).collect();
    match (function, ints.as_deref(), floats.as_slice()) {
        ("sum", Some(ints), _) => ints
            .iter()
            .try_fold(0i64, |a, b| a.checked_add(*b))
            .map(Value::from)
            .ok_or_else(overflow),
        ("sum", None, all) => float(function, all.iter().sum()),
        ("difference", Some([a, b]), _) => a.checked_sub(*b).map(Value::from).ok_or_else(overflow),
        ("difference", None, [a, b]) => float(function, a - b),
        ("product", Some(ints), _) => ints
            .iter()
            .try_fold(1i64, |a, b| a.checked_mul(*b))
            .map(Value::from)
            .ok_or_else(overflow),
        ("product", None, all) => float(function, all.iter().product()),
        ("quotient", _, [_, b]) if *b == 0.0 => Err("$quotient divides by zero".to_string()),
        ("quotient", _, [a, b]) => float(function, a / b),
        ("remainder", Some([_, 0]), _) => Err("$remainder divides by zero".to_string()),
        ("remainder", Some([a, b]), _) => Ok(Value::from(a % b)),
        ("remainder", None, _) => Err("$remainder computes with integers only".to_string()),
        ("round" | "floor" | "ceil", _, [x]) => {
            let rounded = match function {
                "floor" => x.floor(),
                "ceil" => x.ceil(),
                // Half-way values round down (§10.2.5.6).
                _ => (x - 0.5).ceil(),
            };
            if !rounded.is_finite() || rounded.abs() > i64::MAX as f64 {
                return Err(format!("${function}: {x} has no integer value"));
            }
            Ok(Value::from(rounded as i64))
        }
        _ => Err(format!("${function} cannot compute this")),
    }
}

fn float(function: &str, x: f64) -> Result<Value, String> {
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| format!("${function} gives {x}, which is not a finite number"))
}
