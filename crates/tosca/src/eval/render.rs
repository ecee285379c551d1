//! Expressions written back as compact YAML flow text, for messages.

use crate::model::{Expr, ExprKind};

/// `{ $less_or_equal: [ { $length: [ $value ] }, 5 ] }` — at most `limit` characters.
pub(crate) fn render(expr: &Expr) -> String {
    const LIMIT: usize = 160;
    let mut text = String::new();
    write(expr, &mut text);
    if text.chars().count() > LIMIT {
        let cut: String = text.chars().take(LIMIT - 3).collect();
        return format!("{cut}...");
    }
    text
}

fn write(expr: &Expr, out: &mut String) {
    match &expr.kind {
        ExprKind::Null => out.push_str("null"),
        ExprKind::Bool(b) => out.push_str(&b.to_string()),
        ExprKind::Integer(i) => out.push_str(&i.to_string()),
        ExprKind::Float(f) => out.push_str(&format!("{f:?}")),
        ExprKind::String(s) => write_string(s, out),
        ExprKind::List(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push_str(if items.is_empty() { "]" } else { " ]" });
        }
        ExprKind::Map(entries) => {
            out.push_str("{ ");
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                write(value, out);
            }
            out.push_str(if entries.is_empty() { "}" } else { " }" });
        }
        ExprKind::Call(call) if call.args.is_empty() => {
            out.push('$');
            out.push_str(&call.function);
        }
        ExprKind::Call(call) => {
            out.push_str("{ $");
            out.push_str(&call.function);
            out.push_str(": [ ");
            for (i, arg) in call.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(arg, out);
            }
            out.push_str(" ] }");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    let plain = !s.is_empty()
        && !s.starts_with('$')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' '))
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(s, "true" | "false" | "null");
    if plain {
        out.push_str(s);
    } else {
        out.push_str(&format!("{s:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;
    use crate::model::Call;

    fn e(kind: ExprKind) -> Expr {
        Expr::new(Location::default(), kind)
    }

    #[test]
    fn calls_and_values_render_as_flow_yaml() {
        let value = e(ExprKind::Call(Call {
            function: "value".into(),
            args: vec![],
        }));
        let length = e(ExprKind::Call(Call {
            function: "length".into(),
            args: vec![value],
        }));
        let clause = e(ExprKind::Call(Call {
            function: "less_or_equal".into(),
            args: vec![length, e(ExprKind::Integer(5))],
        }));
        assert_eq!(
            render(&clause),
            "{ $less_or_equal: [ { $length: [ $value ] }, 5 ] }"
        );
        let list = e(ExprKind::List(vec![
            e(ExprKind::String("a b".into())),
            e(ExprKind::String("1.0".into())),
        ]));
        assert_eq!(render(&list), "[ a b, \"1.0\" ]");
    }
}
