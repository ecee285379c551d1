//! Every instance the request mentions, requested or fixed, numbered as "slots"; node names
//! numbered too.

use rustc_hash::FxHashMap as HashMap;

use crate::error;
use crate::model::{InstanceId, PlacementError, Request, Resources};

pub(crate) struct Slot<'a> {
    pub id: &'a InstanceId,
    pub node: u32,
    /// Zero for fixed instances: theirs are already in the hosts' `committed`.
    pub resources: Resources,
    /// The host a fixed instance stays on; None for a requested one.
    pub fixed_on: Option<&'a str>,
}

pub(crate) struct Instances<'a> {
    /// Requested instances first (in request order), then fixed ones.
    pub slots: Vec<Slot<'a>>,
    pub node_names: Vec<&'a str>,
    node_index: HashMap<&'a str, u32>,
    /// Slots of each node.
    pub by_node: Vec<Vec<u32>>,
}

impl<'a> Instances<'a> {
    pub fn new(request: &'a Request) -> Result<Self, PlacementError> {
        let mut this = Instances {
            slots: Vec::with_capacity(request.instances.len() + request.fixed.len()),
            node_names: Vec::new(),
            node_index: HashMap::default(),
            by_node: Vec::new(),
        };
        let mut seen: HashMap<&InstanceId, bool> = HashMap::default();
        let requested = request.instances.iter().map(|i| (&i.id, i.resources, None));
        let fixed = request
            .fixed
            .iter()
            .map(|(id, host)| (id, Resources::ZERO, Some(host.as_str())));
        for (id, resources, fixed_on) in requested.chain(fixed) {
            if let Some(was_fixed) = seen.insert(id, fixed_on.is_some()) {
                let why = if was_fixed || fixed_on.is_some() {
                    "is both fixed and to be placed, or fixed twice"
                } else {
                    "is requested twice"
                };
                return Err(PlacementError {
                    instance: Some(id.clone()),
                    ..error::input(format!("instance {id} {why}"))
                });
            }
            let node = this.intern(&id.node);
            this.by_node[node as usize].push(this.slots.len() as u32);
            this.slots.push(Slot {
                id,
                node,
                resources,
                fixed_on,
            });
        }
        Ok(this)
    }

    fn intern(&mut self, name: &'a str) -> u32 {
        if let Some(&n) = self.node_index.get(name) {
            return n;
        }
        let n = self.node_names.len() as u32;
        self.node_names.push(name);
        self.node_index.insert(name, n);
        self.by_node.push(Vec::new());
        n
    }

    pub fn node(&self, name: &str) -> Option<u32> {
        self.node_index.get(name).copied()
    }

    pub fn nodes(&self) -> usize {
        self.node_names.len()
    }

    pub fn slot(&self, slot: u32) -> &Slot<'a> {
        &self.slots[slot as usize]
    }
}
