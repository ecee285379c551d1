//! Names that become path components: namespaces, services, nodes, hosts. A [`Name`] can
//! only be made by validation, so a path built from one stays where it is put: it cannot
//! hold `/`, cannot be `.` or `..`, and cannot be empty. Requests are turned into names once,
//! at the edge (deserializing a `Name` validates it); everything behind takes names.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// 1–63 ASCII letters, digits, `-`, `_` or `.`, not starting with `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// A string that is not a valid [`Name`], and what it was meant to name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} name \"{name}\" is not allowed: use 1-63 letters, digits, '-', '_' or '.', not starting with '.' or '-'")]
pub struct BadName {
    pub what: &'static str,
    pub name: String,
}

impl Name {
    /// Validates `name`; `what` says what it names, for the error.
    pub fn parse(what: &'static str, name: &str) -> Result<Name, BadName> {
        if Name::is_valid(name) {
            Ok(Name(name.to_owned()))
        } else {
            Err(BadName {
                what,
                name: name.chars().take(80).collect(),
            })
        }
    }

    pub fn is_valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !name.starts_with(['.', '-'])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for Name {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        *self == other.0
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        let text = String::deserialize(deserializer)?;
        Name::parse("a", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_that_escape_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/b", "/abs", ".hidden", "-flag", "a b", "é", "a\0b",
        ] {
            assert!(Name::parse("node", bad).is_err(), "{bad:?} was accepted");
        }
        let long = "a".repeat(64);
        assert!(Name::parse("node", &long).is_err());
        for good in ["web", "a", "web-1", "db_2", "v1.2", &"a".repeat(63)] {
            assert_eq!(Name::parse("node", good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn deserializing_validates() {
        let ok: Name = serde_json::from_str("\"web\"").unwrap();
        assert_eq!(ok, "web");
        let err = serde_json::from_str::<Name>("\"../etc\"").unwrap_err();
        assert!(err.to_string().contains("is not allowed"), "{err}");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"web\"");
    }

    #[test]
    fn errors_name_what_and_the_rule() {
        let err = Name::parse("service", "a/b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "service name \"a/b\" is not allowed: use 1-63 letters, digits, '-', '_' or '.', not starting with '.' or '-'"
        );
    }
}
