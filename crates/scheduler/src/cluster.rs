//! The live hosts in name order. Every internal host number is a rank in this order, so
//! the caller's host order never shows in a result.

use rustc_hash::FxHashMap as HashMap;

use crate::error;
use crate::model::{HostState, PlacementError};

pub(crate) struct Cluster<'a> {
    hosts: Vec<&'a HostState>,
    by_name: HashMap<&'a str, u32>,
}

impl<'a> Cluster<'a> {
    pub fn new(hosts: &'a [HostState]) -> Result<Self, PlacementError> {
        if hosts.is_empty() {
            return Err(error::input("no live host to place on"));
        }
        let mut sorted: Vec<&HostState> = hosts.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(error::input(format!(
                "host {} is listed twice; each live host must appear once",
                pair[0].name
            )));
        }
        let by_name = sorted
            .iter()
            .enumerate()
            .map(|(rank, h)| (h.name.as_str(), rank as u32))
            .collect();
        Ok(Cluster {
            hosts: sorted,
            by_name,
        })
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn host(&self, rank: u32) -> &'a HostState {
        self.hosts[rank as usize]
    }

    pub fn name(&self, rank: u32) -> &'a str {
        &self.hosts[rank as usize].name
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn all(&self) -> impl Iterator<Item = (u32, &'a HostState)> + '_ {
        self.hosts.iter().enumerate().map(|(r, h)| (r as u32, *h))
    }
}
