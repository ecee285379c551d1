//! The API's Unix socket: this host's own way in, without a token. The socket file is mode
//! 0600 and owned by the agent's user, and every connection's peer is checked again with
//! SO_PEERCRED, so only that user and root get through — never a workload running as
//! another user (see docs/security.md).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::net::{UnixListener, UnixStream};

/// Marks a request that came in on the Unix socket from a trusted peer: the token check
/// lets it through.
#[derive(Debug, Clone, Copy)]
pub struct LocalPeer;

/// Binds `path` with mode 0600. A socket file left by an agent that died is replaced; one
/// that an agent still answers on is not.
pub async fn bind(path: &Path) -> Result<TrustedUnixListener, String> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {} for the API socket: {e}", parent.display()))?;
    if std::fs::symlink_metadata(path).is_ok() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(format!(
                "another agent already serves {}: stop it first, or give this one its own --data-dir or --socket",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the stale socket {}: {e}", path.display()))?;
    }
    // Bound under a temporary name and renamed once it is 0600: the socket is never
    // reachable with wider permissions, and no umask (process-wide) is touched.
    let staging = staging_name(path);
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    let placed = std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&staging, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&staging);
        return Err(format!("cannot set up the socket {}: {e}", path.display()));
    }
    Ok(TrustedUnixListener {
        inner: listener,
        owner: rustix::process::geteuid().as_raw(),
        path: path.to_owned(),
    })
}

fn staging_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.new", std::process::id()));
    path.with_file_name(name)
}

/// Whether a peer with this uid may use the API without a token.
pub fn trusted(peer_uid: u32, owner: u32) -> bool {
    peer_uid == owner || peer_uid == 0
}

/// The Unix listener that hands axum only connections of trusted peers. Its socket file
/// goes with it (an agent that stops, or fails to start after binding, leaves none).
pub struct TrustedUnixListener {
    inner: UnixListener,
    owner: u32,
    path: PathBuf,
}

impl Drop for TrustedUnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl axum::serve::Listener for TrustedUnixListener {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: say so, breathe, go on.
                    tracing::warn!("accepting on the API socket failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if trusted(cred.uid(), self.owner) => return (stream, address),
                Ok(cred) => tracing::warn!(
                    uid = cred.uid(),
                    pid = cred.pid(),
                    "refused a connection on the API socket from a user that is neither root nor the agent's"
                ),
                Err(e) => tracing::warn!("cannot tell who connected to the API socket: {e}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_the_owner_are_trusted() {
        assert!(trusted(0, 1000));
        assert!(trusted(1000, 1000));
        assert!(!trusted(65534, 1000));
        assert!(trusted(0, 0));
        assert!(!trusted(65534, 0));
    }

    #[tokio::test]
    async fn the_socket_is_private_and_a_live_one_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let first = bind(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = bind(&path).await.err().unwrap();
        assert!(err.contains("another agent already serves"), "{err}");
        drop(first);
        assert!(!path.exists(), "the socket file goes with its listener");
        // A socket file left by a process that died (nothing answers on it) is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        bind(&path).await.unwrap();
    }
}
