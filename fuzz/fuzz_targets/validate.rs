//! Arbitrary bytes as a TOSCA file: compiled with no profiles and with the Khutulun profile.
//!
//! Besides "no panic, no hang, no out-of-memory", it checks the compiler's promises about its
//! result: a failed compile returns at least one error, every diagnostic has a place, a
//! successful one carries warnings only and serializes.

#![no_main]

use khutulun_tosca::{compile_text, Diagnostic, ProfileRegistry, ServiceTemplate};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn khutulun() -> &'static ProfileRegistry {
    static REGISTRY: OnceLock<ProfileRegistry> = OnceLock::new();
    REGISTRY.get_or_init(khutulun_profile::registry)
}

fn check(result: Result<ServiceTemplate, Vec<Diagnostic>>) {
    let places_ok = |d: &Diagnostic| d.line >= 1 && d.column >= 1 && !d.file.is_empty();
    match result {
        Ok(template) => {
            assert!(template
                .warnings
                .iter()
                .all(|d| !d.is_error() && places_ok(d)));
            serde_json::to_string(&template).expect("a compiled template serializes");
        }
        Err(diagnostics) => {
            assert!(
                diagnostics.iter().any(Diagnostic::is_error),
                "{diagnostics:?}"
            );
            assert!(diagnostics.iter().all(places_ok), "{diagnostics:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Non-UTF-8 bytes become U+FFFD: a file the reader refuses never reaches the compiler, and
    // the replacement keeps the rest of the input useful.
    let text = String::from_utf8_lossy(data);
    check(compile_text("fuzz.yaml", &text, &ProfileRegistry::new()));
    check(compile_text("fuzz.yaml", &text, khutulun()));
});
