//! Seeds: resolving them, and how long to wait before trying again.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::DEFAULT_GOSSIP_PORT;

/// Retry delays for joining through seeds: 1, 2, 4 … 30 s, forever while alone.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// Resolves `host:port` seeds (a bare host means the default gossip port). Seeds that do
/// not resolve are logged and skipped: DNS may come up later.
pub(crate) async fn resolve(seeds: &[String]) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    for seed in seeds {
        let seed = with_port(seed);
        let found = tokio::net::lookup_host(seed.as_str()).await;
        match found {
            Ok(found) => addrs.extend(found),
            Err(err) => tracing::warn!(%seed, %err, "cannot resolve seed"),
        }
    }
    addrs
}

fn with_port(seed: &str) -> String {
    let bare_v6 = seed.parse::<std::net::Ipv6Addr>().is_ok();
    if bare_v6 {
        format!("[{seed}]:{DEFAULT_GOSSIP_PORT}")
    } else if seed.contains(':') {
        seed.to_owned()
    } else {
        format!("{seed}:{DEFAULT_GOSSIP_PORT}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let delays: Vec<u64> = (0..8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn bare_hosts_get_the_default_port() {
        assert_eq!(with_port("h1"), "h1:8183");
        assert_eq!(with_port("h1:9000"), "h1:9000");
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:8183");
        assert_eq!(with_port("::1"), "[::1]:8183");
        assert_eq!(with_port("[::1]:9000"), "[::1]:9000");
    }

    #[tokio::test]
    async fn resolves_what_it_can() {
        let seeds = vec![
            "127.0.0.1:9".to_string(),
            "no-such-host.invalid".to_string(),
        ];
        assert_eq!(
            resolve(&seeds).await,
            [SocketAddr::from(([127, 0, 0, 1], 9))]
        );
    }
}
