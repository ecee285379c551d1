//! The TOSCA.meta grammar (TOSCA 2.0, 17.2): `keyname: value` lines; a line starting
//! with a space continues the value above (its leading spaces collapse to one blank);
//! blocks separated by empty lines; block_0 holds the CSAR's own metadata.

use super::list::split_list;
use super::{Meta, CREATED_BY, CSAR_VERSION, ENTRY_DEFINITIONS, OTHER_DEFINITIONS, VERSION};
use crate::error::CsarError;
use crate::name::normalize;

/// One `keyname: value` pair and the line it starts on.
struct Pair {
    key: String,
    value: String,
    line: usize,
}

const NORMATIVE: [&str; 4] = [
    CSAR_VERSION,
    CREATED_BY,
    ENTRY_DEFINITIONS,
    OTHER_DEFINITIONS,
];

/// Parses the text of a TOSCA.meta file. Errors name the line (as `TOSCA.meta:<line>`).
///
/// Required in block_0: `CSAR-Version` (exactly "2.0") and `Created-By`.
/// `Entry-Definitions` and `Other-Definitions` are optional; the paths they give must be
/// relative and stay inside the archive. Keynames are case-sensitive; each may appear once
/// in block_0; the standard keynames may not appear in later blocks.
pub fn parse_meta(text: &str) -> Result<Meta, CsarError> {
    let blocks = blocks(text)?;
    let Some((block0, rest)) = blocks.split_first() else {
        return Err(fail(
            None,
            "TOSCA.meta is empty; it needs at least block_0 with `CSAR-Version: 2.0` and \
             `Created-By: <creator>` (and usually `Entry-Definitions: <file>`)",
        ));
    };
    for pair in rest.iter().flatten() {
        if NORMATIVE.contains(&pair.key.as_str()) {
            return Err(fail(
                Some(pair.line),
                format!(
                    "{} belongs in the first block (block_0), but an empty line above starts \
                     a new block; remove the empty line",
                    pair.key
                ),
            ));
        }
    }

    let mut found: [Option<&Pair>; 4] = [None; 4];
    let mut extra = Vec::new();
    for pair in block0 {
        match NORMATIVE.iter().position(|k| *k == pair.key) {
            Some(i) => {
                if let Some(first) = found[i] {
                    return Err(fail(
                        Some(pair.line),
                        format!(
                            "{} appears again (first on line {}); keep only one",
                            pair.key, first.line
                        ),
                    ));
                }
                found[i] = Some(pair);
            }
            None => extra.push((pair.key.clone(), pair.value.clone())),
        }
    }
    let [version, created_by, entry, others] = found;

    let version = required(version, CSAR_VERSION, "2.0")?;
    if version.value != VERSION {
        return Err(fail(
            Some(version.line),
            format!(
                "CSAR-Version is \"{}\", but TOSCA 2.0 CSARs must declare \"{VERSION}\"; \
                 write `CSAR-Version: {VERSION}`",
                version.value
            ),
        ));
    }
    let created_by = required(created_by, CREATED_BY, "<person or organisation>")?;

    let entry_definitions = match entry {
        Some(pair) => Some(path(pair, &pair.value)?),
        None => None,
    };
    let mut other_definitions = Vec::new();
    if let Some(pair) = others {
        let names = split_list(&pair.value).map_err(|why| {
            fail(
                Some(pair.line),
                format!(
                    "{OTHER_DEFINITIONS} {why}; give file names separated by blanks, and \
                     enclose a name holding blanks in double quotes"
                ),
            )
        })?;
        for name in names {
            other_definitions.push(path(pair, &name)?);
        }
    }

    Ok(Meta {
        csar_version: version.value.clone(),
        created_by: created_by.value.clone(),
        entry_definitions,
        other_definitions,
        extra,
        blocks: rest
            .iter()
            .map(|b| b.iter().map(|p| (p.key.clone(), p.value.clone())).collect())
            .collect(),
    })
}

/// Splits the text into blocks of pairs, joining continuation lines.
fn blocks(text: &str) -> Result<Vec<Vec<Pair>>, CsarError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut blocks: Vec<Vec<Pair>> = Vec::new();
    let mut current: Vec<Pair> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
        } else if raw.starts_with(' ') {
            let Some(pair) = current.last_mut() else {
                return Err(fail(
                    Some(line),
                    "a line starting with a space continues the value of the line above, but \
                     there is no `keyname: value` line above it in this block; remove the \
                     leading spaces",
                ));
            };
            if !pair.value.is_empty() {
                pair.value.push(' ');
            }
            pair.value.push_str(raw.trim());
        } else {
            current.push(pair(raw, line)?);
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    Ok(blocks)
}

/// One `keyname: value` line.
fn pair(raw: &str, line: usize) -> Result<Pair, CsarError> {
    let Some((key, rest)) = raw.split_once(':') else {
        return Err(fail(
            Some(line),
            format!(
                "expected `keyname: value`, found {raw:?}; every line is a keyname, a colon, a \
                 space and the value (or continues the value above if it starts with a space)"
            ),
        ));
    };
    if key.is_empty() {
        return Err(fail(Some(line), "the keyname before the colon is empty"));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(fail(
            Some(line),
            format!("keyname {key:?} contains blanks; write it without blanks, e.g. `Entry-Definitions: main.yaml`"),
        ));
    }
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(fail(
            Some(line),
            format!("the colon after {key} must be followed by a space, as in `{key}: {rest}`"),
        ));
    }
    Ok(Pair {
        key: key.to_string(),
        value: rest.trim().to_string(),
        line,
    })
}

/// A required block_0 key with a non-empty value.
fn required<'a>(pair: Option<&'a Pair>, key: &str, example: &str) -> Result<&'a Pair, CsarError> {
    match pair {
        None => Err(fail(
            None,
            format!("block_0 (the first block) has no {key}; add `{key}: {example}`"),
        )),
        Some(pair) if pair.value.is_empty() => Err(fail(
            Some(pair.line),
            format!("{key} has no value; write `{key}: {example}`"),
        )),
        Some(pair) => Ok(pair),
    }
}

/// A file path given as (part of) a value: relative, inside the archive.
fn path(pair: &Pair, value: &str) -> Result<String, CsarError> {
    let bad = |why: &str| {
        fail(
            Some(pair.line),
            format!(
                "{} \"{value}\" {why}; name the file by its path relative to the archive root",
                pair.key
            ),
        )
    };
    match normalize(value) {
        Ok(Some(path)) => Ok(path),
        Ok(None) => Err(bad(if value.is_empty() {
            "is empty"
        } else {
            "names the archive root, not a file"
        })),
        Err(why) => Err(bad(why)),
    }
}

fn fail(line: Option<usize>, message: impl Into<String>) -> CsarError {
    CsarError::Meta {
        file: "TOSCA.meta".to_string(),
        line,
        message: message.into(),
    }
}
