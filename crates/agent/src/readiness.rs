//! An instance with reserved ports counts as running once it accepts connections on them,
//! so that whoever depends on it finds it listening.

use std::time::Duration;
use tokio::net::TcpStream;

/// Something outside Khutulun listens on the port (only checkable for this host).
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_err()
}

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
const RETRY: Duration = Duration::from_millis(25);

/// Resolves once every port accepts a TCP connection on loopback or `address`. This is a
/// bounded probe during start-up, not a health check: the caller races it against the
/// process's exit and a timeout.
pub async fn wait_until_listening(address: &str, ports: &[u16]) {
    for port in ports {
        loop {
            if accepts(("127.0.0.1", *port)).await || accepts((address, *port)).await {
                break;
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// How a start's readiness wait ended.
pub enum Readiness {
    Listening,
    /// The workload ended first.
    Ended(khutulun_delegates::Exit),
    /// It did not listen within [`READY_TIMEOUT`].
    TimedOut,
}

/// Races [`wait_until_listening`] against the workload's end (`ended`) and the timeout.
pub async fn ready_or_not(
    address: &str,
    ports: &[u16],
    ended: impl std::future::Future<Output = khutulun_delegates::Exit>,
) -> Readiness {
    tokio::select! {
        () = wait_until_listening(address, ports) => Readiness::Listening,
        exit = ended => Readiness::Ended(exit),
        () = tokio::time::sleep(READY_TIMEOUT) => Readiness::TimedOut,
    }
}

async fn accepts(target: (&str, u16)) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(target)).await,
        Ok(Ok(_))
    )
}
