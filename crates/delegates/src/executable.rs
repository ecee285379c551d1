use crate::delegate::DelegateError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Finds the file a command names: a path (relative to `working_dir`) when it contains a
/// `/`, else the first match on `search_path` (a PATH-style list).
pub fn resolve_executable(
    command: &str,
    working_dir: &Path,
    search_path: &str,
) -> Result<PathBuf, DelegateError> {
    if command.is_empty() {
        return Err(DelegateError::Invalid("the command is empty".into()));
    }
    if command.contains('/') {
        let path = working_dir.join(command);
        return if is_executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(DelegateError::MissingExecutable(format!(
                "{} is not an executable file; make it executable (chmod +x) or run it through an interpreter",
                path.display()
            )))
        } else {
            Err(DelegateError::MissingExecutable(format!(
                "executable {} does not exist; check `command` and `working_directory`",
                path.display()
            )))
        };
    }
    std::env::split_paths(search_path)
        .map(|dir| dir.join(command))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            DelegateError::MissingExecutable(format!(
                "executable \"{command}\" was not found on PATH ({search_path}); install it or give its absolute path in `command`"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_on_path_and_reports_missing() {
        let found = resolve_executable("sh", Path::new("/"), "/nonexistent:/bin:/usr/bin").unwrap();
        assert!(found.ends_with("sh"));
        let err = resolve_executable("no-such-program-xyz", Path::new("/"), "/bin").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"no-such-program-xyz\" was not found on PATH"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = resolve_executable("./run.sh", dir.path(), "").unwrap_err();
        assert!(err.to_string().contains("not an executable file"), "{err}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve_executable("./run.sh", dir.path(), "").unwrap(),
            dir.path().join("./run.sh")
        );
    }
}
