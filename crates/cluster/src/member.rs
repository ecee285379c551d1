//! Members as the API shows them (by name), derived from foca's identities.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::MetaItem;
use crate::identity::NodeId;

/// The state of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; declared dead unless it answers soon.
    Suspect,
    /// Declared dead by SWIM (failed probes). Fencing and failover start here.
    Dead,
    /// Left on purpose (graceful shutdown).
    Left,
}

impl MemberState {
    /// Alive or suspect: still counted as a member.
    pub fn is_active(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        })
    }
}

/// A host of the cluster, as this host currently sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The host's name.
    pub name: String,
    /// Its gossip socket.
    pub gossip_addr: SocketAddr,
    /// Its state.
    pub state: MemberState,
    /// Its metadata (`null` until learned).
    pub metadata: Value,
    /// The generation of its newest identity: nanoseconds since the epoch at the agent's
    /// start, bumped when it rejoins after having been declared dead. A higher value for
    /// the same name is a newer life (restart) or a rejoin.
    pub incarnation: u64,
}

/// A change in membership. Events are about other members, never about this host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "member", rename_all = "snake_case")]
pub enum MembershipEvent {
    /// A member became alive: joined, came back (new generation), recovered from suspect,
    /// or changed its metadata.
    Alive(Member),
    /// A member missed a probe; it is declared dead unless it answers soon.
    Suspect(Member),
    /// SWIM declared the member dead (it failed probes). Fencing and failover start here.
    Dead(Member),
    /// The member left on purpose (graceful shutdown).
    Left(Member),
}

impl MembershipEvent {
    /// The member the event is about, in its new state.
    pub fn member(&self) -> &Member {
        match self {
            MembershipEvent::Alive(m)
            | MembershipEvent::Suspect(m)
            | MembershipEvent::Dead(m)
            | MembershipEvent::Left(m) => m,
        }
    }

    fn of(member: Member) -> Self {
        match member.state {
            MemberState::Alive => MembershipEvent::Alive(member),
            MemberState::Suspect => MembershipEvent::Suspect(member),
            MemberState::Dead => MembershipEvent::Dead(member),
            MemberState::Left => MembershipEvent::Left(member),
        }
    }
}

struct Meta {
    order: (u64, u64),
    value: Value,
}

struct Entry {
    id: NodeId,
    state: MemberState,
    meta: Option<Meta>,
    // A new member's first `Alive` waits (since then) for its metadata, briefly.
    held: Option<Instant>,
}

impl Entry {
    fn member(&self) -> Member {
        Member {
            name: self.id.name.clone(),
            gossip_addr: self.id.addr,
            state: self.state,
            metadata: self.meta.as_ref().map_or(Value::Null, |m| m.value.clone()),
            incarnation: self.id.generation,
        }
    }
}

/// What observing a foca member taught us.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub event: Option<MembershipEvent>,
    /// A new identity is active: introduce ourselves to it (send our metadata).
    pub met: Option<SocketAddr>,
}

/// Every member ever seen, by name; the state of a name is that of its newest identity.
pub(crate) struct Roster {
    local: String,
    entries: BTreeMap<String, Entry>,
    // Metadata that arrived before its host did.
    pending_meta: HashMap<String, Meta>,
    // Leave notices: name → generation that left.
    left: HashMap<String, u64>,
}

impl Roster {
    pub(crate) fn new(local: NodeId, metadata: Value, meta_order: (u64, u64)) -> Self {
        let name = local.name.clone();
        let entry = Entry {
            id: local,
            state: MemberState::Alive,
            meta: Some(Meta {
                order: meta_order,
                value: metadata,
            }),
            held: None,
        };
        Self {
            entries: BTreeMap::from([(name.clone(), entry)]),
            local: name,
            pending_meta: HashMap::new(),
            left: HashMap::new(),
        }
    }

    pub(crate) fn members(&self) -> Vec<Member> {
        self.entries.values().map(Entry::member).collect()
    }

    pub(crate) fn member(&self, name: &str) -> Option<Member> {
        self.entries.get(name).map(Entry::member)
    }

    pub(crate) fn is_active(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|e| e.state.is_active())
    }

    /// Alive members whose metadata we have not received yet.
    pub(crate) fn lacking_metadata(&self) -> Vec<SocketAddr> {
        self.entries
            .values()
            .filter(|e| e.state == MemberState::Alive && e.meta.is_none())
            .map(|e| e.id.addr)
            .collect()
    }

    /// True while a newcomer is held back or an alive member lacks metadata: the work of
    /// the runtime's housekeeping pass.
    pub(crate) fn needs_housekeeping(&self) -> bool {
        self.entries
            .values()
            .any(|e| e.held.is_some() || (e.state == MemberState::Alive && e.meta.is_none()))
    }

    /// Our own identity changed (renewal after being declared down).
    pub(crate) fn set_local_id(&mut self, id: NodeId) {
        if let Some(entry) = self.entries.get_mut(&self.local) {
            entry.id = id;
        }
    }

    pub(crate) fn set_local_state(&mut self, state: MemberState) {
        if let Some(entry) = self.entries.get_mut(&self.local) {
            entry.state = state;
        }
    }

    /// Folds in foca's view of one identity.
    pub(crate) fn observe(&mut self, id: &NodeId, state: foca::State) -> Observed {
        // Foca may list our own past identities (as down) and never lists placeholders.
        if id.name == self.local || id.name.is_empty() {
            return Observed::default();
        }
        let left = self.left.get(&id.name).is_some_and(|g| *g >= id.generation);
        let state = match state {
            _ if left => MemberState::Left,
            foca::State::Alive => MemberState::Alive,
            foca::State::Suspect => MemberState::Suspect,
            foca::State::Down => MemberState::Dead,
        };
        let Some(entry) = self.entries.get_mut(&id.name) else {
            let meta = self.pending_meta.remove(&id.name);
            // Announce a newcomer with its metadata: usually one round trip away.
            let held = (state == MemberState::Alive && meta.is_none()).then(Instant::now);
            let entry = Entry {
                id: id.clone(),
                state,
                meta,
                held,
            };
            let member = entry.member();
            self.entries.insert(id.name.clone(), entry);
            // Someone already gone when we first hear of it is history, not news.
            return if state.is_active() {
                Observed {
                    event: held.is_none().then(|| MembershipEvent::of(member)),
                    met: Some(id.addr),
                }
            } else {
                Observed::default()
            };
        };
        if id.generation < entry.id.generation {
            return Observed::default();
        }
        let newer = id.generation > entry.id.generation;
        let moved = entry.id.addr != id.addr;
        let was = entry.state;
        entry.id = id.clone();
        entry.state = state;
        // A new generation of a live host is news too: it restarted, or rejoined.
        let changed = was != state || (state.is_active() && (moved || newer));
        let still_held = entry.held.is_some() && state == MemberState::Alive;
        let event = (changed && !still_held).then(|| {
            entry.held = None;
            MembershipEvent::of(entry.member())
        });
        let met = (newer && state.is_active()).then_some(id.addr);
        Observed { event, met }
    }

    /// Foca replaced `old` by `new` at the same address. When the name changed, the old
    /// name's host is gone.
    pub(crate) fn renamed(&mut self, old: &NodeId, new: &NodeId) -> Option<MembershipEvent> {
        if old.name == new.name {
            return None;
        }
        let entry = self.entries.get_mut(&old.name)?;
        if entry.id != *old || !entry.state.is_active() {
            return None;
        }
        entry.state = MemberState::Dead;
        Some(MembershipEvent::of(entry.member()))
    }

    /// A leave notice for `name` up to `generation`.
    pub(crate) fn mark_left(&mut self, name: &str, generation: u64) -> Option<MembershipEvent> {
        let known = self.left.entry(name.to_owned()).or_insert(generation);
        *known = (*known).max(generation);
        if name == self.local {
            return None;
        }
        let entry = self.entries.get_mut(name)?;
        if entry.id.generation > generation || entry.state == MemberState::Left {
            return None;
        }
        entry.state = MemberState::Left;
        entry.held = None;
        Some(MembershipEvent::of(entry.member()))
    }

    /// New metadata for a host. An alive member with changed metadata is announced again.
    pub(crate) fn apply_meta(&mut self, item: MetaItem) -> Option<MembershipEvent> {
        let value = serde_json::from_str(&item.json).unwrap_or(Value::Null);
        let meta = Meta {
            order: item.order(),
            value,
        };
        let Some(entry) = self.entries.get_mut(&item.name) else {
            let newer = self
                .pending_meta
                .get(&item.name)
                .is_none_or(|known| known.order < meta.order);
            if newer {
                self.pending_meta.insert(item.name, meta);
            }
            return None;
        };
        if entry
            .meta
            .as_ref()
            .is_some_and(|known| known.order >= meta.order)
        {
            return None;
        }
        let changed = entry.meta.as_ref().is_none_or(|m| m.value != meta.value);
        entry.meta = Some(meta);
        let first = entry.held.take().is_some();
        ((changed || first) && item.name != self.local && entry.state == MemberState::Alive)
            .then(|| MembershipEvent::Alive(entry.member()))
    }

    /// Announces newcomers whose metadata has not come within `grace` (with `null`).
    pub(crate) fn release_held(&mut self, grace: Duration) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        for entry in self.entries.values_mut() {
            if entry.held.is_some_and(|since| since.elapsed() >= grace) {
                entry.held = None;
                tracing::debug!(member = %entry.id.name, "no metadata yet; announcing without");
                events.push(MembershipEvent::of(entry.member()));
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(name: &str, port: u16, generation: u64) -> NodeId {
        NodeId {
            name: name.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            generation,
        }
    }

    fn roster() -> Roster {
        Roster::new(id("self", 1, 1), json!({"me": true}), (1, 1))
    }

    fn meta(name: &str, epoch: u64, version: u64, value: Value) -> MetaItem {
        MetaItem {
            name: name.into(),
            epoch,
            version,
            json: value.to_string(),
        }
    }

    fn state_of(event: Option<MembershipEvent>) -> Option<MemberState> {
        event.map(|e| e.member().state)
    }

    #[test]
    fn lifecycle_of_one_member() {
        let mut r = roster();
        let a = id("a", 2, 10);
        let seen = r.observe(&a, foca::State::Alive);
        assert!(seen.event.is_none(), "waits for metadata");
        assert_eq!(seen.met, Some(a.addr));
        let events = r.release_held(Duration::ZERO);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].member().metadata, Value::Null);
        assert!(r.release_held(Duration::ZERO).is_empty());
        assert!(r.observe(&a, foca::State::Alive).event.is_none());
        assert_eq!(
            state_of(r.observe(&a, foca::State::Suspect).event),
            Some(MemberState::Suspect)
        );
        assert_eq!(
            state_of(r.observe(&a, foca::State::Alive).event),
            Some(MemberState::Alive)
        );
        assert_eq!(
            state_of(r.observe(&a, foca::State::Down).event),
            Some(MemberState::Dead)
        );
        // An older identity says nothing about the newest.
        assert!(r
            .observe(&id("a", 2, 9), foca::State::Alive)
            .event
            .is_none());
        // A rejoin (new generation) brings it back.
        let back = r.observe(&id("a", 2, 11), foca::State::Alive);
        assert_eq!(state_of(back.event), Some(MemberState::Alive));
        assert_eq!(back.met, Some(a.addr));
        assert_eq!(r.member("a").unwrap().incarnation, 11);
        // A restart noticed before anyone declared the old life dead.
        let restarted = r.observe(&id("a", 2, 12), foca::State::Alive);
        assert_eq!(state_of(restarted.event), Some(MemberState::Alive));
        assert_eq!(r.member("a").unwrap().incarnation, 12);
        let names: Vec<_> = r.members().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["a", "self"]);
    }

    #[test]
    fn leave_notice_turns_down_into_left() {
        let mut r = roster();
        let a = id("a", 2, 10);
        r.observe(&a, foca::State::Alive);
        assert_eq!(state_of(r.mark_left("a", 10)), Some(MemberState::Left));
        assert!(r.release_held(Duration::ZERO).is_empty());
        assert!(r.observe(&a, foca::State::Down).event.is_none());
        assert_eq!(r.member("a").unwrap().state, MemberState::Left);
        // It comes back after a restart.
        assert_eq!(
            state_of(r.observe(&id("a", 2, 20), foca::State::Alive).event),
            Some(MemberState::Alive)
        );
        // A late notice for a dead member still says it left.
        let b = id("b", 3, 5);
        r.observe(&b, foca::State::Alive);
        assert_eq!(
            state_of(r.observe(&b, foca::State::Down).event),
            Some(MemberState::Dead),
            "a held newcomer's death is still news"
        );
        assert_eq!(state_of(r.mark_left("b", 5)), Some(MemberState::Left));
    }

    #[test]
    fn first_heard_of_as_dead_is_not_an_event() {
        let mut r = roster();
        let seen = r.observe(&id("ghost", 9, 1), foca::State::Down);
        assert!(seen.event.is_none() && seen.met.is_none());
        assert_eq!(r.member("ghost").unwrap().state, MemberState::Dead);
        assert!(r
            .observe(&id("self", 1, 0), foca::State::Down)
            .event
            .is_none());
        assert_eq!(r.member("self").unwrap().state, MemberState::Alive);
    }

    #[test]
    fn metadata_newest_wins_and_changes_are_events() {
        let mut r = roster();
        // Metadata before the member: kept for later.
        assert!(r.apply_meta(meta("a", 10, 1, json!({"v": 1}))).is_none());
        let seen = r.observe(&id("a", 2, 10), foca::State::Alive);
        assert_eq!(seen.event.unwrap().member().metadata, json!({"v": 1}));
        assert!(r.lacking_metadata().is_empty());
        let changed = r.apply_meta(meta("a", 10, 2, json!({"v": 2}))).unwrap();
        assert_eq!(changed, MembershipEvent::Alive(r.member("a").unwrap()));
        assert!(r.apply_meta(meta("a", 10, 1, json!({"v": 0}))).is_none());
        assert!(r.apply_meta(meta("a", 10, 3, json!({"v": 2}))).is_none());
        assert_eq!(r.member("a").unwrap().metadata, json!({"v": 2}));
        r.observe(&id("b", 3, 1), foca::State::Alive);
        assert_eq!(
            r.lacking_metadata(),
            vec![SocketAddr::from(([127, 0, 0, 1], 3))]
        );
    }

    #[test]
    fn a_new_name_at_the_same_address_buries_the_old_one() {
        let mut r = roster();
        let old = id("old", 2, 1);
        r.observe(&old, foca::State::Alive);
        let new = id("new", 2, 2);
        assert_eq!(state_of(r.renamed(&old, &new)), Some(MemberState::Dead));
        assert!(r.renamed(&id("x", 2, 1), &id("x", 2, 2)).is_none());
    }

    #[test]
    fn states_print_lowercase_and_serialize_snake_case() {
        assert_eq!(MemberState::Suspect.to_string(), "suspect");
        assert_eq!(
            serde_json::to_string(&MemberState::Left).unwrap(),
            "\"left\""
        );
    }
}
