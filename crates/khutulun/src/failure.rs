//! How the CLI reports a failure: a message on stderr, diagnostics one per line, and an
//! exit code (1 for everything the user can fix, 2 for "cannot read the input").

use khutulun_tosca::Diagnostic;

#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            diagnostics: Vec::new(),
            code: 1,
        }
    }

    /// Exit with `code` and print nothing: what `exec` does with its command's exit code.
    pub fn exit_quietly(code: u8) -> Failure {
        Failure {
            message: String::new(),
            diagnostics: Vec::new(),
            code,
        }
    }

    pub fn print(&self) {
        if self.message.is_empty() && self.diagnostics.is_empty() {
            return;
        }
        for d in &self.diagnostics {
            eprintln!("{d}");
        }
        eprintln!("error: {}", self.message);
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::new(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, Failure>;
