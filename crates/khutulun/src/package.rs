//! Turning PATH (a TOSCA file or a directory) into a package and its entry file.

use crate::failure::{CliResult, Failure};
use std::path::{Path, PathBuf};

pub struct Package {
    /// The directory that is packed.
    pub root: PathBuf,
    /// The entry file, relative to `root`.
    pub entry: String,
    /// An unpacked CSAR that `root` points into: held only so that it is removed when the
    /// package is dropped.
    pub _csar: Option<khutulun_csar::Csar>,
}

/// A file is deployed with its directory (for relative imports and scripts); a directory
/// must hold `service.yaml` (or `service.yml`), or exactly one YAML file; a CSAR (zip, tar.gz
/// or tar) is unpacked and its entry definitions are the entry.
pub fn locate(path: &Path) -> CliResult<Package> {
    let meta = std::fs::metadata(path).map_err(|e| Failure {
        message: format!("cannot read {}: {e}", path.display()),
        diagnostics: Vec::new(),
        code: 2,
    })?;
    if meta.is_file() && khutulun_csar::is_archive(path) {
        let csar = khutulun_csar::open(path, &khutulun_csar::Limits::default())
            .map_err(|e| Failure::new(format!("{}: not a usable CSAR: {e}", path.display())))?;
        return Ok(Package {
            root: csar.root().to_owned(),
            entry: csar.entry.to_string_lossy().into_owned(),
            _csar: Some(csar),
        });
    }
    if meta.is_file() {
        let absolute = std::fs::canonicalize(path)?;
        let root = absolute.parent().unwrap_or(Path::new("/")).to_owned();
        let entry = absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(Package {
            root,
            entry,
            _csar: None,
        });
    }
    let root = std::fs::canonicalize(path)?;
    for name in ["service.yaml", "service.yml"] {
        if root.join(name).is_file() {
            return Ok(Package {
                root,
                entry: name.to_owned(),
                _csar: None,
            });
        }
    }
    let mut yamls: Vec<String> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    yamls.sort();
    match yamls.len() {
        1 => Ok(Package {
            root,
            entry: yamls.remove(0),
            _csar: None,
        }),
        0 => Err(Failure::new(format!(
            "{} holds no service.yaml and no other YAML file; point at the TOSCA file to deploy",
            root.display()
        ))),
        _ => Err(Failure::new(format!(
            "{} holds several YAML files ({}) and no service.yaml; point at the one to deploy",
            root.display(),
            yamls.join(", ")
        ))),
    }
}

/// The service name `up` uses when none is given: the directory's or file's name.
pub fn default_name(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let stem = if absolute.is_file() {
        absolute.file_stem()
    } else {
        absolute.file_name()
    };
    stem.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "service".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `-i KEY=VALUE`: VALUE as JSON when it parses (numbers, booleans, lists), else a string.
pub fn parse_inputs(inputs: &[String]) -> CliResult<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for input in inputs {
        let (key, value) = input
            .split_once('=')
            .ok_or_else(|| Failure::new(format!("input \"{input}\" must look like KEY=VALUE")))?;
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_as_json_or_string() {
        let m = parse_inputs(&[
            "a=3".into(),
            "b=hello".into(),
            "c=[1,2]".into(),
            "d=x=y".into(),
        ])
        .unwrap();
        assert_eq!(m["a"], 3);
        assert_eq!(m["b"], "hello");
        assert_eq!(m["c"][1], 2);
        assert_eq!(m["d"], "x=y");
        assert!(parse_inputs(&["novalue".into()]).is_err());
    }

    #[test]
    fn directories_need_an_obvious_entry() {
        let dir = tempfile::tempdir().unwrap();
        assert!(locate(dir.path()).is_err());
        std::fs::write(dir.path().join("a.yaml"), "").unwrap();
        assert_eq!(locate(dir.path()).unwrap().entry, "a.yaml");
        std::fs::write(dir.path().join("b.yaml"), "").unwrap();
        assert!(locate(dir.path()).is_err());
        std::fs::write(dir.path().join("service.yaml"), "").unwrap();
        assert_eq!(locate(dir.path()).unwrap().entry, "service.yaml");
        assert_eq!(locate(&dir.path().join("b.yaml")).unwrap().entry, "b.yaml");
    }
}
