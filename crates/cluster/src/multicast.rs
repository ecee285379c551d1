//! IPv4 multicast discovery: "I am here" announcements on a group, so hosts on one LAN (or
//! one machine) find each other without seeds.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::error::ClusterError;

/// Delays before each announcement after a (re)start of discovery: at once, then backing
/// off; after the last one, discovery rests until the host loses every member.
pub(crate) const ANNOUNCE_DELAYS: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

pub(crate) struct Multicast {
    pub socket: UdpSocket,
    pub group: SocketAddrV4,
}

/// Joins `group` on the interface the gossip socket uses and sets up sending to it (TTL 1,
/// loopback on, so several agents on one machine or network namespace see each other).
pub(crate) fn open(
    group: SocketAddrV4,
    bind: SocketAddr,
    advertise: SocketAddr,
) -> Result<Multicast, ClusterError> {
    if !group.ip().is_multicast() {
        return Err(ClusterError::InvalidConfig(format!(
            "the multicast discovery address {group} is not an IPv4 multicast group \
             (224.0.0.0/4; e.g. 239.255.83.83:8184)"
        )));
    }
    let interface = interface(bind, advertise);
    let socket = setup(group, interface).map_err(|source| ClusterError::Multicast {
        group,
        source,
        hint: "the interface needs IPv4 and multicast (`ip link set dev IFACE multicast on`), \
               or turn multicast discovery off and use seeds",
    })?;
    tracing::info!(%group, %interface, "multicast discovery on");
    Ok(Multicast { socket, group })
}

// The bind address if it names an interface, else the advertised one, else the kernel's
// choice (the interface of the default route).
fn interface(bind: SocketAddr, advertise: SocketAddr) -> Ipv4Addr {
    [bind.ip(), advertise.ip()]
        .into_iter()
        .find_map(|ip| match ip {
            IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn setup(group: SocketAddrV4, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several agents on one host share the group port; each gets its own copy.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Bound to the group address: receives that group's traffic only, not unicast to the port.
    socket.bind(&SocketAddr::V4(group).into())?;
    socket.join_multicast_v4(group.ip(), &interface)?;
    socket.set_multicast_if_v4(&interface)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_multicast_ttl_v4(1)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_prefers_bind_then_advertise() {
        let any: SocketAddr = "0.0.0.0:1".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let lan: SocketAddr = "10.1.2.3:1".parse().unwrap();
        assert_eq!(interface(lan, lo), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(interface(any, lo), Ipv4Addr::LOCALHOST);
        assert_eq!(
            interface(any, "[::1]:1".parse().unwrap()),
            Ipv4Addr::UNSPECIFIED
        );
    }

    #[test]
    fn non_multicast_group_is_refused() {
        let err = open(
            "10.0.0.1:8184".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            "127.0.0.1:1".parse().unwrap(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("multicast group"), "{err}");
    }
}
