//! Listing a directory to pack: sorted, without `.git` and the output file, refusing
//! links and special files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::CsarError;

/// One thing to pack, in archive order.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Dir(String),
    File {
        name: String,
        path: PathBuf,
        len: u64,
        executable: bool,
    },
}

impl Item {
    pub fn name(&self) -> &str {
        match self {
            Item::Dir(name) | Item::File { name, .. } => name,
        }
    }
}

/// Lists `root` (canonical) depth-first, siblings sorted by name bytes, directories before
/// their contents. `skip` (canonical) is left out, as is anything named `.git`.
pub(crate) fn walk(root: &Path, skip: &Path) -> Result<Vec<Item>, CsarError> {
    let mut items = Vec::new();
    walk_dir(root, "", skip, &mut items)?;
    Ok(items)
}

fn walk_dir(dir: &Path, prefix: &str, skip: &Path, items: &mut Vec<Item>) -> Result<(), CsarError> {
    let read_error = |e| CsarError::io(format!("list directory {}", dir.display()), e);
    let mut children = fs::read_dir(dir)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let file_name = child.file_name();
        if file_name == ".git" || path == skip {
            continue;
        }
        let Some(file_name) = file_name.to_str() else {
            return Err(CsarError::Unpackable {
                path,
                problem: "has a name that is not valid UTF-8",
                advice: "rename it (TOSCA names files in UTF-8)",
            });
        };
        let name = format!("{prefix}{file_name}");
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| CsarError::io(format!("inspect {}", path.display()), e))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(CsarError::Unpackable {
                path,
                problem: "is a symbolic link",
                advice: "links are not allowed in a CSAR: replace it with a copy of its target",
            });
        } else if kind.is_dir() {
            items.push(Item::Dir(name.clone()));
            walk_dir(&path, &format!("{name}/"), skip, items)?;
        } else if kind.is_file() {
            items.push(Item::File {
                name,
                path,
                len: meta.len(),
                executable: meta.permissions().mode() & 0o111 != 0,
            });
        } else {
            return Err(CsarError::Unpackable {
                path,
                problem: "is neither a regular file nor a directory (a device, FIFO or socket)",
                advice: "remove it from the directory or move it elsewhere",
            });
        }
    }
    Ok(())
}
