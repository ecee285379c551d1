//! Finding a CSAR's TOSCA.meta and its entry TOSCA file (TOSCA 2.0, 17.1-17.3).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::error::CsarError;
use crate::meta::{parse_meta, Meta, ENTRY_DEFINITIONS, META_PATHS, OTHER_DEFINITIONS};
use crate::name::root_yaml;

/// A CSAR's metadata and entry, as found in its list of files.
#[derive(Debug)]
pub(crate) struct Located {
    pub meta: Option<Meta>,
    /// Where TOSCA.meta is (one of [`META_PATHS`]).
    pub meta_path: Option<&'static str>,
    pub entry: String,
}

/// What to tell the user when the entry is ambiguous.
pub(crate) const ADD_META: &str =
    "add TOSCA-Metadata/TOSCA.meta with `Entry-Definitions: <file>`, \
     or keep only one YAML file at the root";

/// Finds the TOSCA.meta (reading it from `root`) and the entry among `files` (relative
/// to `place`, the archive or directory named in messages). `explicit` is an entry the
/// caller insists on (creating a CSAR); it must agree with a TOSCA.meta already present.
pub(crate) fn locate(
    place: &Path,
    root: &Path,
    files: &BTreeSet<String>,
    dirs: &BTreeSet<String>,
    explicit: Option<&str>,
    advice: &'static str,
) -> Result<Located, CsarError> {
    let present: Vec<&'static str> = META_PATHS
        .into_iter()
        .filter(|p| files.contains(*p))
        .collect();
    if present.len() > 1 {
        return Err(CsarError::TwoMetas {
            archive: place.to_path_buf(),
        });
    }
    let Some(meta_path) = present.first().copied() else {
        let entry = match explicit {
            Some(entry) => entry.to_string(),
            None => single_root_yaml(place, files, advice)?,
        };
        return Ok(Located {
            meta: None,
            meta_path: None,
            entry,
        });
    };

    let meta_error = |line, message: String| CsarError::Meta {
        file: format!("{}: {meta_path}", place.display()),
        line,
        message,
    };
    let bytes = fs::read(root.join(meta_path))
        .map_err(|e| CsarError::io(format!("read {meta_path} of {}", place.display()), e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| meta_error(None, format!("is not UTF-8 text ({e}); save it as UTF-8")))?;
    let meta = parse_meta(&text).map_err(|e| match e {
        CsarError::Meta { line, message, .. } => meta_error(line, message),
        other => other,
    })?;

    let check = |key: &'static str, path: &str| -> Result<(), CsarError> {
        if files.contains(path) {
            return Ok(());
        }
        let problem = if dirs.contains(path) {
            "that is a directory, not a file".to_string()
        } else {
            "the archive has no such file".to_string()
        };
        Err(CsarError::MissingDefinitions {
            archive: place.to_path_buf(),
            meta: meta_path.to_string(),
            key,
            path: path.to_string(),
            problem,
        })
    };
    let conflict = |entry: &str, problem: String| CsarError::BadEntry {
        dir: place.to_path_buf(),
        entry: entry.to_string(),
        problem,
    };
    let entry = match (&meta.entry_definitions, explicit) {
        (Some(named), Some(entry)) if named != entry => {
            return Err(conflict(
                entry,
                format!(
                    "its {meta_path} names Entry-Definitions \"{named}\"; drop the explicit \
                     entry or change {meta_path}"
                ),
            ))
        }
        (Some(named), _) => {
            check(ENTRY_DEFINITIONS, named)?;
            named.clone()
        }
        (None, Some(entry)) => match single_root_yaml(place, files, advice) {
            Ok(found) if found == entry => found,
            _ => {
                return Err(conflict(
                    entry,
                    format!(
                        "its {meta_path} has no Entry-Definitions, so readers of the archive \
                         would not take this entry; add `Entry-Definitions: {entry}` to it"
                    ),
                ))
            }
        },
        (None, None) => single_root_yaml(place, files, advice)?,
    };
    for other in &meta.other_definitions {
        check(OTHER_DEFINITIONS, other)?;
    }
    Ok(Located {
        meta: Some(meta),
        meta_path: Some(meta_path),
        entry,
    })
}

/// The one YAML file at the root (TOSCA 2.0, 17.3).
pub(crate) fn single_root_yaml(
    place: &Path,
    files: &BTreeSet<String>,
    advice: &'static str,
) -> Result<String, CsarError> {
    let mut candidates = root_yaml(files);
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => {
            let found: Vec<String> = files.iter().filter(|f| !f.contains('/')).cloned().collect();
            let tops: BTreeSet<&str> = files
                .iter()
                .map(|f| f.split('/').next().unwrap_or(f))
                .collect();
            let wrapped_in = (found.is_empty() && tops.len() == 1)
                .then(|| tops.into_iter().next().unwrap_or_default().to_string());
            Err(CsarError::NoEntry {
                place: place.to_path_buf(),
                found,
                wrapped_in,
            })
        }
        _ => Err(CsarError::AmbiguousEntry {
            place: place.to_path_buf(),
            candidates,
            advice,
        }),
    }
}
