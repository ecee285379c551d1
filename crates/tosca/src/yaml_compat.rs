//! Compatibility with what libyaml-based processors accept.
//!
//! YAML 1.2 wants the continuation lines of a multi-line quoted scalar indented more than the
//! block that holds it; libyaml (PyYAML, go-yaml and so most TOSCA tools) does not check, and
//! TOSCA files in the wild (the standard's own `bytes` example among them) start continuation
//! lines at column 1. Such a scalar is read as libyaml reads it, with a warning: its
//! continuation lines are indented before parsing, which changes nothing in its value since
//! leading white space of those lines is folded away.

/// The message saphyr gives for a quoted scalar whose continuation is under-indented.
pub(crate) const UNDER_INDENTED: &str = "invalid YAML: invalid indentation in quoted scalar";

/// Most under-indented scalars fixed in one file; each costs a parse of the file.
pub(crate) const MAX_FIXES: usize = 64;

/// `text` with the continuation lines of the quoted scalar that opens at `line`:`column`
/// (1-based, column in characters) indented past the opening quote, or `None` when no quoted
/// scalar opens there or it never closes.
pub(crate) fn indent_quoted_scalar(text: &str, line: u32, column: u32) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let first = usize::try_from(line).ok()?.checked_sub(1)?;
    let quote_at = usize::try_from(column).ok()?.checked_sub(1)?;
    let opening = lines.get(first)?;
    let (byte, quote) = opening.char_indices().nth(quote_at)?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let closing = closing_line(&lines, first, byte + quote.len_utf8(), quote)?;
    let padding = " ".repeat(quote_at + 1);
    let mut out = String::with_capacity(text.len() + padding.len() * (closing - first));
    for (index, text_line) in lines.iter().enumerate() {
        if index > first && index <= closing && !text_line.trim().is_empty() {
            out.push_str(&padding);
        }
        out.push_str(text_line);
    }
    Some(out)
}

/// The index of the line where the quoted scalar opened on `lines[first]` (its content
/// starting at byte `from`) closes.
fn closing_line(lines: &[&str], first: usize, from: usize, quote: char) -> Option<usize> {
    let mut start = from;
    for (index, line) in lines.iter().enumerate().skip(first) {
        let mut chars = line[start..].chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if quote == '"' => {
                    chars.next();
                }
                '\'' if quote == '\'' && chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                c if c == quote => return Some(index),
                _ => {}
            }
        }
        start = 0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_are_indented_past_the_quote() {
        let text = "a:\n  b: \"x\\\ny\\\nz\"\nc: 1\n";
        let fixed = indent_quoted_scalar(text, 2, 6).unwrap();
        assert_eq!(fixed, "a:\n  b: \"x\\\n      y\\\n      z\"\nc: 1\n");
    }

    #[test]
    fn escaped_quotes_do_not_close_the_scalar() {
        let text = "k: 'it''s\nstill' \nn: \"a\\\"\nb\"\n";
        let fixed = indent_quoted_scalar(text, 1, 4).unwrap();
        assert_eq!(fixed, "k: 'it''s\n    still' \nn: \"a\\\"\nb\"\n");
        let fixed = indent_quoted_scalar(text, 3, 4).unwrap();
        assert_eq!(fixed, "k: 'it''s\nstill' \nn: \"a\\\"\n    b\"\n");
    }

    #[test]
    fn nothing_is_changed_without_a_closed_quoted_scalar_there() {
        assert_eq!(indent_quoted_scalar("k: v\n", 1, 4), None);
        assert_eq!(indent_quoted_scalar("k: \"open\nforever\n", 1, 4), None);
        assert_eq!(indent_quoted_scalar("k: v\n", 9, 1), None);
        assert_eq!(indent_quoted_scalar("k: v\n", 1, 0), None);
    }

    #[test]
    fn an_under_indented_scalar_loads_as_libyaml_reads_it_with_a_warning() {
        let text = "a:\n  b: \"one\\\ntwo\\\nthree\"\n  c: 'x\ny'\n";
        let (node, warnings) = crate::yaml::load_with_warnings("f.yaml", text).unwrap();
        let json = node.to_json();
        assert_eq!(json["a"]["b"], "onetwothree");
        assert_eq!(json["a"]["c"], "x y");
        let places: Vec<(u32, u32)> = warnings.iter().map(|w| (w.line, w.column)).collect();
        assert_eq!(places, vec![(2, 6), (5, 6)]);
        assert!(warnings[0]
            .message
            .contains("indented less than YAML 1.2 allows"));
        // Other YAML errors stay errors.
        assert!(crate::yaml::load_with_warnings("f.yaml", "a: [\n").is_err());
    }
}
