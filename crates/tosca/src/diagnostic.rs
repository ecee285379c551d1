//! Diagnostics: what the compiler reports, each with the file, line and column it is about.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a diagnostic is. Errors make a compile fail; warnings do not.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A place in a source file. `line` and `column` are 1-based.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl Location {
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One message about a TOSCA source: which rule was broken, where, and what was expected.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn error(at: &Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, at, message)
    }

    pub fn warning(at: &Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, at, message)
    }

    pub fn new(severity: Severity, at: &Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            file: at.file.clone(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn location(&self) -> Location {
        Location::new(self.file.clone(), self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )
    }
}

/// Collects diagnostics while compiling, so that every error is reported, not only the first.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, at: &Location, message: impl Into<String>) {
        self.items.push(Diagnostic::error(at, message));
    }

    pub fn warning(&mut self, at: &Location, message: impl Into<String>) {
        self.items.push(Diagnostic::warning(at, message));
    }

    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(diagnostics);
    }

    /// How many diagnostics there are (a mark for [`Diagnostics::downgrade_from`]).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Turns the errors reported since `mark` into warnings, with `note` added to each.
    pub fn downgrade_from(&mut self, mark: usize, note: &str) {
        for item in self.items.iter_mut().skip(mark) {
            if item.severity == Severity::Error {
                item.severity = Severity::Warning;
                item.message.push_str(note);
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics sorted by place, without duplicates (a definition inherited by several
    /// templates can otherwise be reported once per template).
    pub fn into_sorted(self) -> Vec<Diagnostic> {
        let mut items = self.items;
        items.sort_by(|a, b| {
            (&a.file, a.line, a.column, a.severity, &a.message)
                .cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
        });
        items.dedup();
        items
    }
}

/// Formats a list of known names for a message: sorted, at most `MAX_LISTED` of them.
pub(crate) fn known_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const MAX_LISTED: usize = 20;
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return "none".to_string();
    }
    let total = names.len();
    let mut text = names
        .iter()
        .take(MAX_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if total > MAX_LISTED {
        text.push_str(&format!(", ... ({} more)", total - MAX_LISTED));
    }
    text
}

/// Suggests the known name closest to `name` when it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let distance = edit_distance(&name.to_lowercase(), &candidate.to_lowercase());
        let limit = (candidate.chars().count() / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    match best {
        Some((_, candidate)) => format!(" (did you mean \"{candidate}\"?)"),
        None => String::new(),
    }
}

/// Edit distance where swapping two adjacent characters counts as one edit (optimal string
/// alignment), so that "nmae" is one edit from "name".
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_column_severity_message() {
        let d = Diagnostic::error(&Location::new("a.yaml", 3, 7), "bad thing");
        assert_eq!(d.to_string(), "a.yaml:3:7: error: bad thing");
        let w = Diagnostic::warning(&Location::new("a.yaml", 1, 1), "meh");
        assert_eq!(w.to_string(), "a.yaml:1:1: warning: meh");
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            did_you_mean("Procss", ["Process", "Directory"]),
            " (did you mean \"Process\"?)"
        );
        assert_eq!(did_you_mean("Zebra", ["Process", "Directory"]), "");
        assert_eq!(did_you_mean("nmae", ["name"]), " (did you mean \"name\"?)");
    }

    #[test]
    fn known_list_is_sorted_and_bounded() {
        assert_eq!(known_list(["b", "a", "b"]), "a, b");
        assert_eq!(known_list([]), "none");
        let many: Vec<String> = (0..25).map(|i| format!("n{i:02}")).collect();
        assert!(known_list(many.iter().map(String::as_str)).ends_with("(5 more)"));
    }
}
