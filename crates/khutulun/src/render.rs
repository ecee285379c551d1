//! Diagnostics for humans: `file:line:col: error: message`, then the source line with a
//! marker under the column (miette's graphical report), when the file can be read.

use khutulun_tosca::{Diagnostic, Severity};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use std::collections::HashMap;

/// Renders diagnostics, reading each source file once.
pub struct Renderer {
    sources: HashMap<String, Option<String>>,
    handler: GraphicalReportHandler,
}

impl Renderer {
    pub fn new() -> Renderer {
        let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        Renderer {
            sources: HashMap::new(),
            handler: GraphicalReportHandler::new_themed(theme).with_context_lines(1),
        }
    }

    /// The graphical report when the source can be read (it names file:line:col), else the
    /// one-line form.
    pub fn render(&mut self, diagnostic: &Diagnostic) -> String {
        let out = format!("{diagnostic}\n");
        let source = self
            .sources
            .entry(diagnostic.file.clone())
            .or_insert_with(|| std::fs::read_to_string(&diagnostic.file).ok());
        let Some(text) = source else {
            return out;
        };
        let Some(offset) = offset_of(text, diagnostic.line, diagnostic.column) else {
            return out;
        };
        let report = MietteDiagnostic::new(diagnostic.message.clone())
            .with_severity(match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
            .with_label(LabeledSpan::at_offset(offset, "here"));
        let report = miette::Report::new(report)
            .with_source_code(NamedSource::new(&diagnostic.file, text.clone()));
        let mut snippet = String::new();
        match self.handler.render_report(&mut snippet, report.as_ref()) {
            Ok(()) => snippet,
            Err(_) => out,
        }
    }
}

/// Byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: u32, column: u32) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line.max(1) {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = text[start..].split('\n').next().unwrap_or("");
    let within: usize = line_text
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map(|(i, _)| i)
        .unwrap_or(line_text.len());
    Some(start + within)
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_count_lines_and_characters() {
        let text = "a: 1\nbé: x\n";
        assert_eq!(super::offset_of(text, 1, 1), Some(0));
        assert_eq!(super::offset_of(text, 2, 1), Some(5));
        assert_eq!(super::offset_of(text, 2, 4), Some(9));
        assert_eq!(super::offset_of(text, 9, 1), None);
    }
}
