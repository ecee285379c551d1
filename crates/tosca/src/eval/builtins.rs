//! The built-in functions that can be evaluated at compile time: boolean logic and comparison
//! (§10.2.2), strings, lists and maps (§10.2.3), sets (§10.2.4) and arithmetic (§10.2.5).

use super::compare::{compare, equal, scalar_value, values_equal};
use super::regex::Regex;
use super::{Context, Kind, Typed, Value};
use crate::model::Expr;
use std::cmp::Ordering;

pub(super) fn call(ctx: &Context, function: &str, args: &[Expr]) -> Option<Typed> {
    match function {
        "and" => logic(ctx, args, false),
        "or" => logic(ctx, args, true),
        "not" => match args {
            [a] => Some(boolean(!as_bool(&ctx.eval(a)?)?)),
            _ => None,
        },
        "xor" => match args {
            [a, b] => Some(boolean(as_bool(&ctx.eval(a)?)? != as_bool(&ctx.eval(b)?)?)),
            _ => None,
        },
        _ => {
            let values: Vec<Typed> = args.iter().map(|a| ctx.eval(a)).collect::<Option<_>>()?;
            eager(function, &values)
        }
    }
}

/// `$and` (`any` false) and `$or` (`any` true): a decisive argument decides even when others
/// are not known.
fn logic(ctx: &Context, args: &[Expr], decisive: bool) -> Option<Typed> {
    let mut unknown = false;
    for arg in args {
        match ctx.eval(arg).as_ref().and_then(as_bool) {
            Some(b) if b == decisive => return Some(boolean(decisive)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    (!unknown).then(|| boolean(!decisive))
}

fn boolean(b: bool) -> Typed {
    Typed::plain(Value::Bool(b))
}

fn as_bool(t: &Typed) -> Option<bool> {
    match t.value {
        Value::Bool(b) => Some(b),
        _ => None,
    }
}

fn eager(function: &str, args: &[Typed]) -> Option<Typed> {
    let ordered = |wanted: &[Ordering]| match args {
        [a, b] => compare(a, b).map(|o| boolean(wanted.contains(&o))),
        _ => None,
    };
    match function {
        "equal" => match args {
            [a, b] => equal(a, b).map(boolean),
            _ => None,
        },
        "greater_than" => ordered(&[Ordering::Greater]),
        "greater_or_equal" => ordered(&[Ordering::Greater, Ordering::Equal]),
        "less_than" => ordered(&[Ordering::Less]),
        "less_or_equal" => ordered(&[Ordering::Less, Ordering::Equal]),
        "valid_values" => match args {
            [a, Typed {
                value: Value::List(items),
                ..
            }] => {
                let mut found = false;
                for item in items {
                    let item = Typed {
                        value: item.clone(),
                        kind: None,
                    };
                    if equal(a, &item)? {
                        found = true;
                        break;
                    }
                }
                Some(boolean(found))
            }
            _ => None,
        },
        "matches" => match args {
            [Typed {
                value: Value::Str(text),
                ..
            }, Typed {
                value: Value::Str(pattern),
                ..
            }] => Regex::new(pattern).ok()?.is_match(text).map(boolean),
            _ => None,
        },
        "has_suffix" | "has_prefix" | "contains" => affix(function, args).map(boolean),
        "has_entry" => match args {
            [collection, item] => Some(boolean(
                entries(&collection.value)?
                    .iter()
                    .any(|e| values_equal(e, &item.value)),
            )),
            _ => None,
        },
        "has_key" => match args {
            [Typed {
                value: Value::Map(map),
                ..
            }, Typed {
                value: Value::Str(key),
                ..
            }] => Some(boolean(map.iter().any(|(k, _)| k == key))),
            _ => None,
        },
        "has_all_entries" | "has_any_entry" => match args {
            [collection, Typed {
                value: Value::List(wanted),
                ..
            }] => {
                let have = entries(&collection.value)?;
                let hit = |w: &Value| have.iter().any(|h| values_equal(h, w));
                Some(boolean(if function == "has_all_entries" {
                    wanted.iter().all(hit)
                } else {
                    wanted.iter().any(hit)
                }))
            }
            _ => None,
        },
        "has_all_keys" | "has_any_key" => match args {
            [Typed {
                value: Value::Map(map),
                ..
            }, Typed {
                value: Value::List(wanted),
                ..
            }] => {
                let hit =
                    |w: &Value| matches!(w, Value::Str(k) if map.iter().any(|(key, _)| key == k));
                Some(boolean(if function == "has_all_keys" {
                    wanted.iter().all(hit)
                } else {
                    wanted.iter().any(hit)
                }))
            }
            _ => None,
        },
        "length" => match args {
            [t] => length(t).map(|n| Typed::plain(Value::Int(n))),
            _ => None,
        },
        "concat" => concat(args),
        "join" => join(args),
        "token" => token(args),
        "union" | "intersection" => sets(function, args),
        "sum" | "difference" | "product" | "quotient" | "remainder" => arithmetic(function, args),
        "round" | "floor" | "ceil" => match args {
            [t] => {
                let x = match t.value {
                    Value::Float(f) => f,
                    Value::Int(i) => i as f64,
                    _ => return None,
                };
                let r = match function {
                    "floor" => x.floor(),
                    "ceil" => x.ceil(),
                    // Half-way values round down (§10.2.5.6).
                    _ => (x - 0.5).ceil(),
                };
                Some(Typed::plain(Value::Int(r as i64)))
            }
            _ => None,
        },
        _ => None,
    }
}

fn entries(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::List(items) => Some(items.clone()),
        Value::Map(map) => Some(map.iter().map(|(_, v)| v.clone()).collect()),
        _ => None,
    }
}

fn affix(function: &str, args: &[Typed]) -> Option<bool> {
    match args {
        [Typed {
            value: Value::Str(a),
            ..
        }, Typed {
            value: Value::Str(b),
            ..
        }] => Some(match function {
            "has_suffix" => a.ends_with(b.as_str()),
            "has_prefix" => a.starts_with(b.as_str()),
            _ => a.contains(b.as_str()),
        }),
        [Typed {
            value: Value::List(a),
            ..
        }, Typed {
            value: Value::List(b),
            ..
        }] => {
            let same = |x: &[Value]| x.iter().zip(b).all(|(p, q)| values_equal(p, q));
            Some(match function {
                "has_suffix" => b.len() <= a.len() && same(&a[a.len() - b.len()..]),
                "has_prefix" => b.len() <= a.len() && same(&a[..b.len()]),
                _ => b.is_empty() || a.windows(b.len()).any(same),
            })
        }
        _ => None,
    }
}

fn length(t: &Typed) -> Option<i64> {
    let n = match (&t.value, &t.kind) {
        (Value::Str(s), Some(Kind::Bytes)) => decoded_len(s)?,
        (Value::Str(s), _) => s.chars().count(),
        (Value::List(items), _) => items.len(),
        (Value::Map(map), _) => map.len(),
        _ => return None,
    };
    i64::try_from(n).ok()
}

/// The number of bytes a base64 text decodes to.
fn decoded_len(text: &str) -> Option<usize> {
    let data: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if data.len() & 3 != 0 {
        return None;
    }
    let padding = data.iter().rev().take_while(|&&b| b == b'=').count();
    Some(data.len() / 4 * 3 - padding)
}

fn concat(args: &[Typed]) -> Option<Typed> {
    if args.iter().all(|a| matches!(a.value, Value::Str(_))) {
        let text: String = args
            .iter()
            .map(|a| match &a.value {
                Value::Str(s) => s.as_str(),
                _ => "",
            })
            .collect();
        return Some(Typed::plain(Value::Str(text)));
    }
    let mut out = Vec::new();
    for arg in args {
        match &arg.value {
            Value::List(items) => out.extend(items.iter().cloned()),
            _ => return None,
        }
    }
    Some(Typed::plain(Value::List(out)))
}

fn join(args: &[Typed]) -> Option<Typed> {
    let (list, delimiter) = match args {
        [list] => (list, ""),
        [list, Typed {
            value: Value::Str(d),
            ..
        }] => (list, d.as_str()),
        _ => return None,
    };
    let Value::List(items) = &list.value else {
        return None;
    };
    let parts: Vec<&str> = items
        .iter()
        .map(|i| match i {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(Typed::plain(Value::Str(parts.join(delimiter))))
}

fn token(args: &[Typed]) -> Option<Typed> {
    let [Typed {
        value: Value::Str(text),
        ..
    }, Typed {
        value: Value::Str(chars),
        ..
    }, Typed {
        value: Value::Int(index),
        ..
    }] = args
    else {
        return None;
    };
    let tokens: Vec<&str> = text
        .split(|c| chars.contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    let token = tokens.get(usize::try_from(*index).ok()?)?;
    Some(Typed::plain(Value::Str(token.to_string())))
}

fn sets(function: &str, args: &[Typed]) -> Option<Typed> {
    let lists: Vec<&Vec<Value>> = args
        .iter()
        .map(|a| match &a.value {
            Value::List(items) => Some(items),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (first, rest) = lists.split_first()?;
    let mut out: Vec<Value> = Vec::new();
    let candidates: Vec<&Value> = if function == "union" {
        lists.iter().flat_map(|l| l.iter()).collect()
    } else {
        first
            .iter()
            .filter(|v| rest.iter().all(|l| l.iter().any(|w| values_equal(v, w))))
            .collect()
    };
    for candidate in candidates {
        if !out.iter().any(|o| values_equal(o, candidate)) {
            out.push(candidate.clone());
        }
    }
    Some(Typed::plain(Value::List(out)))
}

/// A number, or a scalar's value in its canonical unit with the unit to write results in.
enum Quantity {
    Int(i64),
    Float(f64),
}

fn quantity(t: &Typed) -> Option<Quantity> {
    match (&t.value, &t.kind) {
        (Value::Int(i), _) => Some(Quantity::Int(*i)),
        (Value::Float(f), _) => Some(Quantity::Float(*f)),
        (Value::Str(s), Some(Kind::Scalar(units))) => {
            scalar_value(s, units).ok().map(Quantity::Float)
        }
        _ => None,
    }
}

/// Arithmetic on numbers (scalar results are not built: their unit is a choice of the
/// orchestrator's; such calls stay unknown).
fn arithmetic(function: &str, args: &[Typed]) -> Option<Typed> {
    if args.iter().any(|a| a.kind.is_some()) {
        return None;
    }
    let numbers: Vec<Quantity> = args.iter().map(quantity).collect::<Option<_>>()?;
    let all_int = numbers.iter().all(|n| matches!(n, Quantity::Int(_)));
    let as_f64 = |n: &Quantity| match n {
        Quantity::Int(i) => *i as f64,
        Quantity::Float(f) => *f,
    };
    let ints: Vec<i64> = numbers
        .iter()
        .filter_map(|n| match n {
            Quantity::Int(i) => Some(*i),
            Quantity::Float(_) => None,
        })
        .collect();
    let value = match (function, numbers.as_slice()) {
        ("sum", [_, ..]) if all_int => {
            Value::Int(ints.iter().try_fold(0i64, |a, b| a.checked_add(*b))?)
        }
        ("sum", [_, ..]) => Value::Float(numbers.iter().map(as_f64).sum()),
        ("difference", [_, _]) if all_int => Value::Int(ints[0].checked_sub(ints[1])?),
        ("difference", [a, b]) => Value::Float(as_f64(a) - as_f64(b)),
        ("product", [_, ..]) if all_int => {
            Value::Int(ints.iter().try_fold(1i64, |a, b| a.checked_mul(*b))?)
        }
        ("product", [_, ..]) => Value::Float(numbers.iter().map(as_f64).product()),
        ("quotient", [a, b]) if as_f64(b) != 0.0 => Value::Float(as_f64(a) / as_f64(b)),
        ("remainder", [Quantity::Int(a), Quantity::Int(b)]) if *b != 0 => Value::Int(a % b),
        _ => return None,
    };
    Some(Typed::plain(value))
}
