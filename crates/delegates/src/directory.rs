//! Local directories as storage.

use crate::delegate::{Capabilities, Delegate, DelegateError, Exit, Running, WorkloadSpec};
use crate::user::lookup_user;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct DirectorySpec {
    pub path: PathBuf,
    pub mode: u32,
    pub owner: Option<String>,
    /// Keep the directory when the service is deleted.
    pub keep: bool,
}

#[derive(Debug, Default)]
pub struct DirectoryDelegate;

impl DirectoryDelegate {
    fn spec(spec: &WorkloadSpec) -> Result<&DirectorySpec, DelegateError> {
        match spec {
            WorkloadSpec::Directory(d) => Ok(d),
            other => Err(DelegateError::Invalid(format!(
                "the directory delegate cannot run {other:?}"
            ))),
        }
    }
}

impl DirectoryDelegate {
    pub const CAPABILITIES: Capabilities = Capabilities {
        binds_host_ports: false,
        exec: false,
        adoptable: true,
        needs_root: false,
        needs_host_support: false,
    };
}

#[async_trait::async_trait]
impl Delegate for DirectoryDelegate {
    fn name(&self) -> &'static str {
        "directory"
    }

    fn capabilities(&self) -> Capabilities {
        DirectoryDelegate::CAPABILITIES
    }

    fn check(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::spec(spec)?;
        if !spec.path.is_absolute() {
            return Err(DelegateError::Invalid(format!(
                "directory path \"{}\" must be absolute",
                spec.path.display()
            )));
        }
        if spec.path.exists() && !spec.path.is_dir() {
            return Err(DelegateError::Invalid(format!(
                "{} exists and is not a directory",
                spec.path.display()
            )));
        }
        if let Some(owner) = &spec.owner {
            lookup_user(owner)?;
        }
        Ok(())
    }

    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError> {
        self.check(spec)?;
        let spec = Self::spec(spec)?;
        let path = &spec.path;
        std::fs::create_dir_all(path)
            .map_err(|e| DelegateError::io(format!("create directory {}", path.display()), e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(spec.mode))
            .map_err(|e| DelegateError::io(format!("set mode of {}", path.display()), e))?;
        if let Some(owner) = &spec.owner {
            let ids = lookup_user(owner)?;
            std::os::unix::fs::chown(path, Some(ids.uid), Some(ids.gid))
                .map_err(|e| DelegateError::io(format!("chown {}", path.display()), e))?;
        }
        // Its path is both what the delegate finds it by and an attribute TOSCA reads.
        let path = BTreeMap::from([(
            "path".to_owned(),
            serde_json::Value::String(path.display().to_string()),
        )]);
        Ok(Running {
            pid: None,
            pid_start_time: None,
            handle: path.clone(),
            attributes: path,
            cgroup: None,
        })
    }

    async fn is_alive(&self, running: &Running) -> bool {
        running
            .handle
            .get("path")
            .and_then(|p| p.as_str())
            .is_some_and(|p| std::path::Path::new(p).is_dir())
    }

    async fn wait(&self, _running: &Running) -> Exit {
        std::future::pending().await
    }

    async fn stop(&self, _running: &Running, _grace: Duration) -> Result<(), DelegateError> {
        Ok(())
    }

    async fn remove(&self, spec: &WorkloadSpec) -> Result<(), DelegateError> {
        let spec = Self::spec(spec)?;
        if spec.keep || !spec.path.exists() {
            return Ok(());
        }
        std::fs::remove_dir_all(&spec.path)
            .map_err(|e| DelegateError::io(format!("remove {}", spec.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_with_mode_and_removes_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/a");
        let mut spec = DirectorySpec {
            path: path.clone(),
            mode: 0o750,
            owner: None,
            keep: true,
        };
        let d = DirectoryDelegate;
        let running = d
            .start(&WorkloadSpec::Directory(spec.clone()))
            .await
            .unwrap();
        assert!(d.is_alive(&running).await);
        assert_eq!(path.metadata().unwrap().permissions().mode() & 0o777, 0o750);
        d.remove(&WorkloadSpec::Directory(spec.clone()))
            .await
            .unwrap();
        assert!(path.exists(), "kept");
        spec.keep = false;
        d.remove(&WorkloadSpec::Directory(spec)).await.unwrap();
        assert!(!path.exists());
    }
}
