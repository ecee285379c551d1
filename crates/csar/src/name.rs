//! Entry names: from what an archive says to a safe relative path.

/// Why an entry name is refused.
pub(crate) type Refusal = &'static str;

/// Normalises an archive entry name (or a path named in TOSCA.meta) to components joined
/// by `/`, dropping empty and `.` components. `Ok(None)` is the archive root itself.
///
/// Refused: absolute paths, Windows drive prefixes, backslashes, NUL and `..` anywhere
/// (even where it would stay inside: nothing legitimate needs it).
pub(crate) fn normalize(name: &str) -> Result<Option<String>, Refusal> {
    if name.contains('\0') {
        return Err("contains a NUL byte");
    }
    if name.contains('\\') {
        return Err("contains a backslash (use / to separate directories)");
    }
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("has a `..` component"),
            _ => parts.push(part),
        }
    }
    if let Some(first) = parts.first() {
        let bytes = first.as_bytes();
        if bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err("starts with a drive letter (an absolute Windows path)");
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Whether a file name is a YAML file by its extension (.yaml or .yml, any case).
pub(crate) fn is_yaml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

/// The candidates for the entry of a CSAR without TOSCA.meta: YAML files at the root,
/// hidden files (`.name`, e.g. macOS `._x.yaml` debris) excepted.
pub(crate) fn root_yaml<'a>(files: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    files
        .into_iter()
        .filter(|f| !f.contains('/') && !f.starts_with('.') && is_yaml(f))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses() {
        assert_eq!(normalize("./a//b/./c.yaml"), Ok(Some("a/b/c.yaml".into())));
        assert_eq!(normalize("dir/"), Ok(Some("dir".into())));
        assert_eq!(normalize("./"), Ok(None));
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../b").is_err());
        assert!(normalize("..").is_err());
        assert!(normalize("C:/x").is_err());
        assert!(normalize("a\\b").is_err());
        assert!(normalize("a\0b").is_err());
    }

    #[test]
    fn root_yaml_skips_nested_hidden_and_other_files() {
        let files: Vec<String> = ["a.yaml", "b.YML", "c.txt", "d/e.yaml", "._a.yaml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(root_yaml(&files), vec!["a.yaml", "b.YML"]);
    }
}
