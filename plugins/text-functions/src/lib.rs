//! Text functions for TOSCA templates, as a Khutulun plugin.
//!
//! Every function takes its arguments as a list and returns a string (or a list, for
//! `split`). Numbers and booleans are taken as their text (`5` → `"5"`); lists, maps and
//! null are refused with an error naming the function and the argument. Widths and counts
//! are in characters (Unicode scalar values), not bytes. A result may not exceed 1 MiB.
//!
//! | function | arguments | result |
//! |---|---|---|
//! | `upper` | text | the text in upper case |
//! | `lower` | text | the text in lower case |
//! | `trim` | text | the text without leading and trailing white space |
//! | `slug` | text, [max length] | lower-case ASCII letters and digits, every other run of characters turned into one `-`, no `-` at either end; cut to max length (e.g. 63 for a DNS label) |
//! | `repeat` | text, count | the text `count` times |
//! | `pad_left` | text, width, [fill = " "] | the text right-aligned in `width` characters, filled on the left (`pad_left: [7, 3, "0"]` → `"007"`) |
//! | `pad_right` | text, width, [fill = " "] | the text left-aligned in `width` characters, filled on the right |
//! | `truncate` | text, max, [suffix = ""] | the text cut to at most `max` characters, the suffix (e.g. `"…"`) included |
//! | `replace` | text, from, to | the text with every `from` replaced by `to` |
//! | `split` | text, separator | the list of parts |
//! | `join` | list, [separator = ""] | the items (text, numbers, booleans) joined |
//!
//! In a template: `$upper: [ { $get_input: name } ]`.

use khutulun_plugin_sdk::{plugin, Value};

/// The largest result, in bytes.
const MAX_RESULT: usize = 1 << 20;

/// `upper: [text]`
fn upper(args: Vec<Value>) -> Result<Value, String> {
    let [text] = exactly::<1>("upper", "text", args)?;
    Ok(text_of("upper", 1, &text)?.to_uppercase().into())
}

/// `lower: [text]`
fn lower(args: Vec<Value>) -> Result<Value, String> {
    let [text] = exactly::<1>("lower", "text", args)?;
    Ok(text_of("lower", 1, &text)?.to_lowercase().into())
}

/// `trim: [text]`
fn trim(args: Vec<Value>) -> Result<Value, String> {
    let [text] = exactly::<1>("trim", "text", args)?;
    Ok(text_of("trim", 1, &text)?.trim().into())
}

/// `slug: [text, max length?]`
fn slug(args: Vec<Value>) -> Result<Value, String> {
    let (text, max) = one_or_two("slug", "text, [max length]", args)?;
    let text = text_of("slug", 1, &text)?;
    let max = max.map(|max| count_of("slug", 2, &max)).transpose()?;
    let mut slug = String::with_capacity(text.len());
    let mut separate = false;
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            if separate && !slug.is_empty() {
                slug.push('-');
            }
            separate = false;
            slug.push(character.to_ascii_lowercase());
        } else {
            separate = true;
        }
    }
    if let Some(max) = max {
        // ASCII only, so characters are bytes.
        slug.truncate(max);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    Ok(slug.into())
}

/// `repeat: [text, count]`
fn repeat(args: Vec<Value>) -> Result<Value, String> {
    let [text, count] = exactly::<2>("repeat", "text, count", args)?;
    let text = text_of("repeat", 1, &text)?;
    let count = count_of("repeat", 2, &count)?;
    let size = text.len().saturating_mul(count);
    if size > MAX_RESULT {
        return Err(format!(
            "repeat: the result would be {size} bytes, more than the {MAX_RESULT} allowed"
        ));
    }
    Ok(text.repeat(count).into())
}

/// `pad_left: [text, width, fill?]`
fn pad_left(args: Vec<Value>) -> Result<Value, String> {
    pad("pad_left", args, true)
}

/// `pad_right: [text, width, fill?]`
fn pad_right(args: Vec<Value>) -> Result<Value, String> {
    pad("pad_right", args, false)
}

fn pad(function: &str, args: Vec<Value>, left: bool) -> Result<Value, String> {
    let (text, width, fill) = two_or_three(function, "text, width, [fill]", args)?;
    let text = text_of(function, 1, &text)?;
    let width = count_of(function, 2, &width)?;
    let fill = match fill {
        None => ' ',
        Some(fill) => {
            let fill = text_of(function, 3, &fill)?;
            let mut characters = fill.chars();
            match (characters.next(), characters.next()) {
                (Some(character), None) => character,
                _ => {
                    return Err(format!(
                        "{function}: argument 3 (fill) must be one character, got {fill:?}"
                    ))
                }
            }
        }
    };
    let missing = width.saturating_sub(text.chars().count());
    if text.len() + missing * fill.len_utf8() > MAX_RESULT {
        return Err(format!(
            "{function}: the result would be more than the {MAX_RESULT} bytes allowed"
        ));
    }
    let filling: String = std::iter::repeat_n(fill, missing).collect();
    Ok(if left {
        filling + &text
    } else {
        text + &filling
    }
    .into())
}

/// `truncate: [text, max, suffix?]`
fn truncate(args: Vec<Value>) -> Result<Value, String> {
    let (text, max, suffix) = two_or_three("truncate", "text, max, [suffix]", args)?;
    let text = text_of("truncate", 1, &text)?;
    let max = count_of("truncate", 2, &max)?;
    let suffix = suffix
        .map(|suffix| text_of("truncate", 3, &suffix))
        .transpose()?
        .unwrap_or_default();
    if text.chars().count() <= max {
        return Ok(text.into());
    }
    let suffix_length = suffix.chars().count();
    if suffix_length > max {
        return Err(format!(
            "truncate: the suffix {suffix:?} is longer than the maximum, {max}"
        ));
    }
    let kept: String = text.chars().take(max - suffix_length).collect();
    Ok((kept + &suffix).into())
}

/// `replace: [text, from, to]`
fn replace(args: Vec<Value>) -> Result<Value, String> {
    let [text, from, to] = exactly::<3>("replace", "text, from, to", args)?;
    let text = text_of("replace", 1, &text)?;
    let from = text_of("replace", 2, &from)?;
    let to = text_of("replace", 3, &to)?;
    if from.is_empty() {
        return Err("replace: argument 2 (from) must not be empty".into());
    }
    let size = text.len() + text.matches(from.as_str()).count().saturating_mul(to.len());
    if size > MAX_RESULT {
        return Err(format!(
            "replace: the result would be more than the {MAX_RESULT} bytes allowed"
        ));
    }
    Ok(text.replace(&from, &to).into())
}

/// `split: [text, separator]`
fn split(args: Vec<Value>) -> Result<Value, String> {
    let [text, separator] = exactly::<2>("split", "text, separator", args)?;
    let text = text_of("split", 1, &text)?;
    let separator = text_of("split", 2, &separator)?;
    if separator.is_empty() {
        return Err("split: argument 2 (separator) must not be empty".into());
    }
    Ok(Value::Array(
        text.split(separator.as_str()).map(Value::from).collect(),
    ))
}

/// `join: [list, separator?]`
fn join(args: Vec<Value>) -> Result<Value, String> {
    let (list, separator) = one_or_two("join", "list, [separator]", args)?;
    let Value::Array(items) = list else {
        return Err(format!(
            "join: argument 1 must be a list, got {}",
            kind(&list)
        ));
    };
    let separator = separator
        .map(|separator| text_of("join", 2, &separator))
        .transpose()?
        .unwrap_or_default();
    let mut joined = String::new();
    for (position, item) in items.iter().enumerate() {
        let item = text_of("join", 1, item).map_err(|_| {
            format!(
                "join: item {} of the list must be text, a number or a boolean, got {}",
                position + 1,
                kind(item)
            )
        })?;
        if position > 0 {
            joined.push_str(&separator);
        }
        joined.push_str(&item);
        if joined.len() > MAX_RESULT {
            return Err(format!(
                "join: the result would be more than the {MAX_RESULT} bytes allowed"
            ));
        }
    }
    Ok(joined.into())
}

/// The arguments when there must be exactly `N`.
fn exactly<const N: usize>(
    function: &str,
    names: &str,
    args: Vec<Value>,
) -> Result<[Value; N], String> {
    let count = args.len();
    args.try_into().map_err(|_| {
        format!(
            "{function} takes {N} argument{} ({names}), got {count}",
            if N == 1 { "" } else { "s" }
        )
    })
}

fn one_or_two(
    function: &str,
    names: &str,
    args: Vec<Value>,
) -> Result<(Value, Option<Value>), String> {
    let count = args.len();
    let mut args = args.into_iter();
    match (args.next(), args.next(), args.next()) {
        (Some(first), second, None) => Ok((first, second)),
        _ => Err(format!(
            "{function} takes 1 or 2 arguments ({names}), got {count}"
        )),
    }
}

fn two_or_three(
    function: &str,
    names: &str,
    args: Vec<Value>,
) -> Result<(Value, Value, Option<Value>), String> {
    let count = args.len();
    let mut args = args.into_iter();
    match (args.next(), args.next(), args.next(), args.next()) {
        (Some(first), Some(second), third, None) => Ok((first, second, third)),
        _ => Err(format!(
            "{function} takes 2 or 3 arguments ({names}), got {count}"
        )),
    }
}

/// Argument `position` (from 1) as text: a string, or a number's or boolean's JSON text.
fn text_of(function: &str, position: usize, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(boolean) => Ok(boolean.to_string()),
        other => Err(format!(
            "{function}: argument {position} must be text, got {}",
            kind(other)
        )),
    }
}

/// Argument `position` (from 1) as a count: a non-negative integer (or its text).
fn count_of(function: &str, position: usize, value: &Value) -> Result<usize, String> {
    let count = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    count
        .and_then(|count| usize::try_from(count).ok())
        .ok_or_else(|| {
            format!("{function}: argument {position} must be a non-negative integer, got {value}")
        })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

plugin! {
    name: "text-functions",
    functions: [upper, lower, trim, slug, repeat, pad_left, pad_right, truncate, replace, split, join],
    handlers: [],
}

#[cfg(test)]
mod tests {
    use khutulun_plugin_sdk::json;

    use super::*;

    fn call(
        function: fn(Vec<Value>) -> Result<Value, String>,
        args: Value,
    ) -> Result<Value, String> {
        let Value::Array(args) = args else {
            panic!("arguments must be a list")
        };
        function(args)
    }

    #[test]
    fn functions() {
        assert_eq!(call(upper, json!(["Straße"])).unwrap(), "STRASSE");
        assert_eq!(call(lower, json!(["ABC"])).unwrap(), "abc");
        assert_eq!(call(trim, json!(["  a b \n"])).unwrap(), "a b");
        assert_eq!(
            call(slug, json!(["  Hello, World! v2 "])).unwrap(),
            "hello-world-v2"
        );
        assert_eq!(call(slug, json!(["abc def", 4])).unwrap(), "abc");
        assert_eq!(call(repeat, json!(["ab", 3])).unwrap(), "ababab");
        assert_eq!(call(pad_left, json!([7, 3, "0"])).unwrap(), "007");
        assert_eq!(call(pad_right, json!(["ab", 4])).unwrap(), "ab  ");
        assert_eq!(call(truncate, json!(["abcdef", 4, "…"])).unwrap(), "abc…");
        assert_eq!(call(truncate, json!(["abc", 4])).unwrap(), "abc");
        assert_eq!(call(replace, json!(["a.b.c", ".", "-"])).unwrap(), "a-b-c");
        assert_eq!(call(split, json!(["a,b", ","])).unwrap(), json!(["a", "b"]));
        assert_eq!(
            call(join, json!([["a", 1, true], "/"])).unwrap(),
            "a/1/true"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            call(upper, json!([])).unwrap_err(),
            "upper takes 1 argument (text), got 0"
        );
        assert_eq!(
            call(upper, json!([[1]])).unwrap_err(),
            "upper: argument 1 must be text, got a list"
        );
        assert_eq!(
            call(repeat, json!(["a", -1])).unwrap_err(),
            "repeat: argument 2 must be a non-negative integer, got -1"
        );
        assert!(call(repeat, json!(["abc", 1_000_000]))
            .unwrap_err()
            .contains("more than"));
        assert_eq!(
            call(pad_left, json!(["a", 3, "ab"])).unwrap_err(),
            "pad_left: argument 3 (fill) must be one character, got \"ab\""
        );
    }
}
