//! The value of Other-Definitions: file names separated by blanks, a name holding blanks
//! enclosed in double quotes.

/// Splits a list value. Errors say what is wrong with the value.
pub(crate) fn split_list(value: &str) -> Result<Vec<String>, &'static str> {
    let mut names = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ').is_some() {}
        let Some(first) = chars.next() else {
            return Ok(names);
        };
        let mut name = String::new();
        if first == '"' {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => name.push(c),
                    None => return Err("has a double quote that is never closed"),
                }
            }
            if chars.peek().is_some_and(|c| *c != ' ') {
                return Err("has a closing double quote not followed by a blank");
            }
            if name.is_empty() {
                return Err("has an empty quoted file name");
            }
        } else {
            name.push(first);
            while let Some(c) = chars.next_if(|c| *c != ' ') {
                if c == '"' {
                    return Err("has a double quote inside a file name (quote whole names only)");
                }
                name.push(c);
            }
        }
        names.push(name);
    }
}

/// The inverse of [`split_list`].
pub(crate) fn join_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| {
            if n.contains(' ') {
                format!("\"{n}\"")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted_names() {
        assert_eq!(
            split_list(r#"a.yaml  "b c/d.yaml" e.yaml"#).unwrap(),
            vec!["a.yaml", "b c/d.yaml", "e.yaml"]
        );
        assert_eq!(split_list("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refuses_bad_quotes() {
        assert!(split_list(r#""a.yaml"#).is_err());
        assert!(split_list(r#""a"b"#).is_err());
        assert!(split_list(r#"a"b""#).is_err());
        assert!(split_list(r#""""#).is_err());
    }

    #[test]
    fn join_round_trips() {
        let names = vec!["a.yaml".to_string(), "b c.yaml".to_string()];
        assert_eq!(split_list(&join_list(&names)).unwrap(), names);
    }
}
