//! Looking into a container's root directory from the host: paths are resolved the way
//! they would be inside (absolute symbolic links point into the root, `..` stops at it),
//! so checks never wander into the host's own files.

use crate::container::SystemContainerSpec;
use crate::delegate::DelegateError;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The `PATH` nspawn gives the container when the spec sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The init programs `systemd-nspawn --boot` looks for.
const INIT_PROGRAMS: [&str; 3] = [
    "usr/lib/systemd/systemd",
    "lib/systemd/systemd",
    "sbin/init",
];

/// The host path of `path` as seen inside `root`, when it exists. Symbolic links are
/// followed inside the root (at most 40, like the kernel).
pub(crate) fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut pending: VecDeque<OsString> = components(path);
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&component);
        let on_host = root.join(&candidate);
        let meta = std::fs::symlink_metadata(&on_host).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&on_host).ok()?;
            if target.is_absolute() {
                current = PathBuf::new();
            }
            for part in components(&target).into_iter().rev() {
                pending.push_front(part);
            }
        } else {
            current = candidate;
        }
    }
    Some(root.join(current))
}

/// The normal and `..` components of a path (root and `.` dropped).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// An existing directory holding an os-release file, which nspawn requires of an OS tree.
pub(crate) fn check_root(root: &Path, what: &str) -> Result<(), DelegateError> {
    match std::fs::metadata(root) {
        Err(_) => {
            return Err(DelegateError::Invalid(format!(
                "the system container's root {what} {} does not exist",
                root.display()
            )))
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(DelegateError::Invalid(format!(
                "the system container's root {what} {} is not a directory",
                root.display()
            )))
        }
        Ok(_) => {}
    }
    let has_os_release = ["usr/lib/os-release", "etc/os-release"].iter().any(|p| {
        resolve_in_root(root, Path::new(p))
            .map(|p| p.is_file())
            .unwrap_or(false)
    });
    if !has_os_release {
        return Err(DelegateError::Invalid(format!(
            "the system container's root {what} {} has no os-release file (usr/lib/os-release or etc/os-release), which systemd-nspawn requires of an OS tree",
            root.display()
        )));
    }
    Ok(())
}

/// The spec's command (or, without one, an init to boot) exists inside `root`.
pub(crate) fn check_program(root: &Path, spec: &SystemContainerSpec) -> Result<(), DelegateError> {
    let Some(program) = spec.command.first() else {
        if INIT_PROGRAMS
            .iter()
            .any(|p| resolve_in_root(root, Path::new(p)).is_some_and(|p| is_executable_file(&p)))
        {
            return Ok(());
        }
        return Err(DelegateError::MissingExecutable(format!(
            "system container \"{}\" has no command, so it boots the root's init, but {} has none ({}); give a `command` or use a root with an init system",
            spec.name,
            root.display(),
            INIT_PROGRAMS.join(", ")
        )));
    };
    if program.is_empty() {
        return Err(DelegateError::Invalid(format!(
            "system container \"{}\": the command's program is empty",
            spec.name
        )));
    }
    let found = if program.contains('/') {
        if !program.starts_with('/') {
            return Err(DelegateError::Invalid(format!(
                "system container \"{}\": the program {program} must be a name looked up on PATH or an absolute path inside the root",
                spec.name
            )));
        }
        resolve_in_root(root, Path::new(program)).is_some_and(|p| is_executable_file(&p))
    } else {
        // nspawn looks the program up itself; accept it when either its PATH or the one the
        // spec gives the container finds it.
        let spec_path = spec.environment.get("PATH").map(String::as_str);
        [spec_path, Some(DEFAULT_PATH)]
            .into_iter()
            .flatten()
            .flat_map(|path| path.split(':'))
            .filter(|dir| dir.starts_with('/'))
            .any(|dir| {
                resolve_in_root(root, &Path::new(dir).join(program))
                    .is_some_and(|p| is_executable_file(&p))
            })
    };
    if found {
        Ok(())
    } else {
        Err(DelegateError::MissingExecutable(format!(
            "system container \"{}\": the program \"{program}\" is not an executable file inside the root {}",
            spec.name,
            root.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symbolic_links_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), "").unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        // Absolute targets and `..` beyond the top stay inside the root.
        symlink("/usr/bin/tool", root.join("usr/bin/abs")).unwrap();
        symlink("../../../../usr/bin/tool", root.join("usr/bin/up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let tool = root.join("usr/bin/tool");
        assert_eq!(
            resolve_in_root(root, Path::new("/bin/tool")),
            Some(tool.clone())
        );
        assert_eq!(
            resolve_in_root(root, Path::new("bin/abs")),
            Some(tool.clone())
        );
        assert_eq!(resolve_in_root(root, Path::new("/bin/up")), Some(tool));
        assert_eq!(resolve_in_root(root, Path::new("/../../etc/passwd")), None);
        assert_eq!(resolve_in_root(root, Path::new("/loop")), None);
        assert_eq!(resolve_in_root(root, Path::new("/missing")), None);
    }

    #[test]
    fn roots_need_an_os_release() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_root(&dir.path().join("nope"), "directory").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = check_root(dir.path(), "directory").unwrap_err();
        assert!(err.to_string().contains("no os-release"), "{err}");
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/os-release"), "ID=x\n").unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        symlink("../usr/lib/os-release", dir.path().join("etc/os-release")).unwrap();
        check_root(dir.path(), "directory").unwrap();
    }
}
