//! Port reservations of one host (`hosts/<host>/ports.json`). Allocation is pure; the store
//! applies it under the host's ports lock.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ports handed out when an endpoint asks for "any" port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            first: 20000,
            last: 29999,
        }
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("port range \"{s}\" must look like FIRST-LAST, e.g. 20000-29999")
        })?;
        let parse = |x: &str| {
            x.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    format!("\"{x}\" in port range \"{s}\" is not a port number (1-65535)")
                })
        };
        let (first, last) = (parse(a)?, parse(b)?);
        if first > last {
            return Err(format!("port range \"{s}\" is empty: {first} > {last}"));
        }
        Ok(PortRange { first, last })
    }
}

/// Who holds a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortOwner {
    pub namespace: String,
    pub service: String,
    pub node: String,
    pub index: u32,
    pub endpoint: String,
}

/// One port wanted by an endpoint: a fixed number or any free one from the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub owner: PortOwner,
    pub port: Option<u16>,
}

/// The content of `ports.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortReservations {
    pub ports: BTreeMap<u16, PortOwner>,
}

impl PortReservations {
    /// Reserves every request or none. `in_use` says whether something outside Khutulun
    /// already listens on a port; such ports are skipped (or refused when asked for by number).
    /// A request whose owner already holds a port keeps it (a restarted deploy is idempotent).
    pub fn reserve(
        &mut self,
        requests: &[PortRequest],
        range: PortRange,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Result<Vec<u16>, String> {
        let mut taken = self.clone();
        let mut granted = Vec::with_capacity(requests.len());
        for request in requests {
            if let Some((port, _)) = taken.ports.iter().find(|(_, o)| **o == request.owner) {
                if request.port.is_none() || request.port == Some(*port) {
                    granted.push(*port);
                    continue;
                }
            }
            let port = match request.port {
                Some(port) => {
                    if let Some(holder) = taken.ports.get(&port) {
                        return Err(format!(
                            "port {port} wanted by {} is already reserved by {}; choose another port or use 0 for any free one",
                            describe(&request.owner),
                            describe(holder)
                        ));
                    }
                    if in_use(port) {
                        return Err(format!(
                            "port {port} wanted by {} is in use by a program outside Khutulun (see `ss -ltnp`); choose another port or use 0 for any free one",
                            describe(&request.owner)
                        ));
                    }
                    port
                }
                None => (range.first..=range.last)
                    .find(|p| !taken.ports.contains_key(p) && !in_use(*p))
                    .ok_or_else(|| {
                        format!(
                            "no free port left in the range {}-{} for {}; delete services or widen the range with `khutulun agent --port-range`",
                            range.first,
                            range.last,
                            describe(&request.owner)
                        )
                    })?,
            };
            taken.ports.insert(port, request.owner.clone());
            granted.push(port);
        }
        *self = taken;
        Ok(granted)
    }

    /// Releases the ports of one instance; returns how many were released.
    pub fn release_instance(
        &mut self,
        namespace: &str,
        service: &str,
        node: &str,
        index: u32,
    ) -> usize {
        let before = self.ports.len();
        self.ports.retain(|_, o| {
            !(o.namespace == namespace
                && o.service == service
                && o.node == node
                && o.index == index)
        });
        before - self.ports.len()
    }

    /// Releases every port of a service; returns how many were released.
    /// Makes the service's reservations exactly `held` (owner and port, as its instance
    /// records say). A port `held` names that another service holds stays with the other
    /// (first come); returns the owners that could not get theirs.
    pub fn resync_service(
        &mut self,
        namespace: &str,
        service: &str,
        held: &[(PortOwner, u16)],
    ) -> Vec<PortOwner> {
        self.release_service(namespace, service);
        let mut refused = Vec::new();
        for (owner, port) in held {
            match self.ports.get(port) {
                Some(other) if other != owner => refused.push(owner.clone()),
                _ => {
                    self.ports.insert(*port, owner.clone());
                }
            }
        }
        refused
    }

    pub fn release_service(&mut self, namespace: &str, service: &str) -> usize {
        let before = self.ports.len();
        self.ports
            .retain(|_, o| !(o.namespace == namespace && o.service == service));
        before - self.ports.len()
    }
}

fn describe(owner: &PortOwner) -> String {
    format!(
        "{}/{} {}/{} endpoint \"{}\"",
        owner.namespace, owner.service, owner.node, owner.index, owner.endpoint
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(service: &str, node: &str, port: Option<u16>) -> PortRequest {
        PortRequest {
            owner: PortOwner {
                namespace: "default".into(),
                service: service.into(),
                node: node.into(),
                index: 0,
                endpoint: "endpoint".into(),
            },
            port,
        }
    }

    const RANGE: PortRange = PortRange {
        first: 100,
        last: 102,
    };

    #[test]
    fn any_port_skips_reserved_and_busy_ports() {
        let mut r = PortReservations::default();
        let got = r
            .reserve(&[req("a", "x", None), req("a", "y", None)], RANGE, &|p| {
                p == 100
            })
            .unwrap();
        assert_eq!(got, vec![101, 102]);
    }

    #[test]
    fn exhausted_range_reserves_nothing() {
        let mut r = PortReservations::default();
        let err = r
            .reserve(
                &[
                    req("a", "x", None),
                    req("a", "y", None),
                    req("a", "z", None),
                    req("a", "w", None),
                ],
                RANGE,
                &|_| false,
            )
            .unwrap_err();
        assert!(
            err.contains("no free port left in the range 100-102"),
            "{err}"
        );
        assert!(r.ports.is_empty(), "all or nothing");
    }

    #[test]
    fn fixed_port_conflicts_name_the_holder() {
        let mut r = PortReservations::default();
        r.reserve(&[req("a", "x", Some(8080))], RANGE, &|_| false)
            .unwrap();
        let err = r
            .reserve(&[req("b", "y", Some(8080))], RANGE, &|_| false)
            .unwrap_err();
        assert!(err.contains("already reserved by default/a x/0"), "{err}");
    }

    #[test]
    fn same_owner_keeps_its_port_and_release_frees_a_service() {
        let mut r = PortReservations::default();
        let first = r
            .reserve(&[req("a", "x", None)], RANGE, &|_| false)
            .unwrap();
        let again = r
            .reserve(&[req("a", "x", None)], RANGE, &|_| false)
            .unwrap();
        assert_eq!(first, again);
        r.reserve(&[req("b", "x", None)], RANGE, &|_| false)
            .unwrap();
        assert_eq!(r.release_service("default", "a"), 1);
        assert_eq!(r.ports.len(), 1);
    }

    #[test]
    fn parses_ranges() {
        assert_eq!("20000-20010".parse::<PortRange>().unwrap().last, 20010);
        assert!("20-10".parse::<PortRange>().is_err());
        assert!("x".parse::<PortRange>().is_err());
    }
}
