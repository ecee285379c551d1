//! The driver: one task that owns foca, the sockets and the timers, and turns what foca
//! says into membership events. Nothing polls: it sleeps until a packet, a command or the
//! next timer.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec, Timer};
use rand::rngs::StdRng;
use rand::RngExt;
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::broadcast::{Handler, Seen};
use crate::codec::{
    self, Discovery, Item, MetaItem, MetaPush, KIND_DISCOVERY, KIND_FOCA, KIND_META_PUSH, KIND_SYNC,
};
use crate::config::{Timing, MAX_METADATA_LEN};
use crate::error::ClusterError;
use crate::identity::NodeId;
use crate::member::{MemberState, MembershipEvent};
use crate::multicast::{Multicast, ANNOUNCE_DELAYS};
use crate::swim::{self, Tuner};
use crate::transport::Wire;
use crate::Shared;

pub(crate) type Swim = Foca<NodeId, PostcardCodec, StdRng, Handler>;

/// Requests from `Cluster` handles.
pub(crate) enum Command {
    SetMetadata(Value, oneshot::Sender<Result<(), ClusterError>>),
    Leave(oneshot::Sender<()>),
}

/// Results of background work the driver started.
enum Internal {
    /// Seed addresses resolved: announce to them.
    Announce(Vec<SocketAddr>),
}

enum Job {
    Foca(Timer<NodeId>),
    // The u64 is the round that scheduled it: a restarted round cancels the old one.
    Join(u64),
    Discover(u64),
    Housekeeping,
    Sync,
    // The exchanges that follow a join, by delay since joining.
    SyncAfterJoin(u64),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    job: Job,
}

// Earliest first in a max-heap.
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Scheduled {}

enum Wake {
    Command(Option<Command>),
    Internal(Option<Internal>),
    Gossip(std::io::Result<(usize, SocketAddr)>),
    Multicast(std::io::Result<(usize, SocketAddr)>),
    Timers,
}

/// Retry delays for joining through seeds: 1, 2, 4 … 30 s, forever while alone.
fn join_backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// Most metadata requests per housekeeping tick, so a big cluster is not flooded.
const META_REQUESTS_PER_TICK: usize = 16;

pub(crate) struct Setup {
    pub id: NodeId,
    pub timing: Timing,
    pub seeds: Vec<String>,
    pub socket: UdpSocket,
    pub multicast: Option<Multicast>,
    pub wire: Wire,
    pub shared: Arc<Shared>,
    pub commands: mpsc::Receiver<Command>,
    pub metadata_json: String,
}

pub(crate) struct Driver {
    foca: Swim,
    rt: AccumulatingRuntime<NodeId>,
    seen: Arc<Mutex<Seen>>,
    timers: BinaryHeap<Scheduled>,
    seq: u64,
    tuner: Tuner,
    timing: Timing,
    socket: UdpSocket,
    multicast: Option<Multicast>,
    wire: Wire,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    seeds: Vec<String>,
    join_round: u64,
    join_attempt: u32,
    discover_round: u64,
    discover_step: usize,
    own_meta: MetaItem,
    // Just joined: exchange tables with someone once this batch is handled.
    sync_soon: bool,
    join_sync_round: u64,
}

impl Driver {
    pub(crate) fn new(setup: Setup) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tuner = Tuner::new(setup.timing);
        let foca = Foca::with_custom_broadcast(
            setup.id.clone(),
            tuner.initial(),
            rand::make_rng(),
            PostcardCodec,
            Handler::new(seen.clone()),
        );
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let own_meta = MetaItem {
            name: setup.id.name.clone(),
            epoch: setup.id.generation,
            version: 1,
            json: setup.metadata_json,
        };
        Self {
            foca,
            rt: AccumulatingRuntime::new(),
            seen,
            timers: BinaryHeap::new(),
            seq: 0,
            tuner,
            timing: setup.timing,
            socket: setup.socket,
            multicast: setup.multicast,
            wire: setup.wire,
            shared: setup.shared,
            commands: setup.commands,
            internal_tx,
            internal_rx,
            seeds: setup.seeds,
            join_round: 0,
            join_attempt: 0,
            discover_round: 0,
            discover_step: 0,
            own_meta,
            sync_soon: false,
            join_sync_round: 0,
        }
    }

    pub(crate) async fn run(mut self) {
        self.broadcast_own_meta();
        self.start_joining();
        self.start_discovery();
        self.schedule(swim::probe_period(self.timing), Job::Housekeeping);
        self.schedule(swim::sync_period(self.timing), Job::Sync);
        self.pump().await;

        let mut buf = vec![0u8; 65536];
        let mut mbuf = vec![0u8; 4096];
        let mut answer = None;
        loop {
            let deadline = self.timers.peek().map(|s| s.at);
            let wake = tokio::select! {
                cmd = self.commands.recv() => Wake::Command(cmd),
                msg = self.internal_rx.recv() => Wake::Internal(msg),
                got = self.socket.recv_from(&mut buf) => Wake::Gossip(got),
                got = recv_multicast(self.multicast.as_ref(), &mut mbuf) => Wake::Multicast(got),
                () = sleep_until_some(deadline) => Wake::Timers,
            };
            match wake {
                Wake::Command(None) => {
                    tracing::debug!("every cluster handle dropped: gossip stops without leaving");
                    return;
                }
                Wake::Command(Some(Command::Leave(done))) => {
                    self.leave().await;
                    let _ = done.send(());
                    return;
                }
                Wake::Command(Some(Command::SetMetadata(value, done))) => {
                    // Answered once the roster shows it (after the pump below).
                    answer = Some((done, self.set_metadata(&value)));
                }
                Wake::Internal(Some(Internal::Announce(addrs))) => self.announce_to(&addrs),
                Wake::Internal(None) => {}
                Wake::Gossip(Ok((len, from))) => self.on_gossip(&mut buf[..len], from).await,
                Wake::Multicast(Ok((len, from))) => self.on_multicast(&mut mbuf[..len], from),
                Wake::Gossip(Err(err)) | Wake::Multicast(Err(err)) => {
                    // E.g. ICMP port unreachable reported on the next receive: harmless.
                    tracing::trace!(%err, "receive error");
                }
                Wake::Timers => self.run_due_timers().await,
            }
            self.pump().await;
            if let Some((done, result)) = answer.take() {
                let _ = done.send(result);
            }
        }
    }

    fn schedule(&mut self, after: Duration, job: Job) {
        self.seq += 1;
        self.timers.push(Scheduled {
            at: Instant::now() + after,
            seq: self.seq,
            job,
        });
    }

    async fn run_due_timers(&mut self) {
        let now = Instant::now();
        while self.timers.peek().is_some_and(|s| s.at <= now) {
            let job = self.timers.pop().expect("peeked").job;
            match job {
                Job::Foca(timer) => {
                    if let Err(err) = self.foca.handle_timer(timer, &mut self.rt) {
                        tracing::debug!(%err, "foca timer");
                    }
                }
                Job::Join(round) if round == self.join_round => self.join_tick(),
                Job::Discover(round) if round == self.discover_round => self.discover_tick().await,
                Job::Join(_) | Job::Discover(_) => {}
                Job::Housekeeping => self.housekeeping().await,
                Job::Sync => {
                    self.sync_with_someone().await;
                    self.schedule(swim::sync_period(self.timing), Job::Sync);
                }
                Job::SyncAfterJoin(round) if round == self.join_sync_round => {
                    self.sync_with_someone().await;
                }
                Job::SyncAfterJoin(_) => {}
            }
        }
    }

    async fn on_gossip(&mut self, datagram: &mut [u8], from: SocketAddr) {
        let Some((kind, payload)) = self.wire.open(datagram, from) else {
            return;
        };
        match kind {
            KIND_FOCA => {
                if let Err(err) = self.foca.handle_data(payload, &mut self.rt) {
                    if matches!(
                        err,
                        foca::Error::Decode(_)
                            | foca::Error::MalformedPacket
                            | foca::Error::DataTooBig
                    ) {
                        self.wire.count_malformed();
                    }
                    tracing::debug!(%from, %err, "gossip packet not used");
                }
            }
            KIND_META_PUSH => match codec::decode::<MetaPush>(payload) {
                Ok(push) => {
                    self.seen.lock().expect("seen lock").accept_meta(push.item);
                    if let Some(reply_to) = push.reply_to {
                        self.send_own_meta(reply_to, false).await;
                    }
                }
                Err(err) => {
                    self.wire.count_malformed();
                    tracing::debug!(%from, %err, "bad metadata packet");
                }
            },
            KIND_SYNC => match swim::decode_sync(payload) {
                Ok(chunk) => {
                    let members = chunk.members.into_iter();
                    // Not re-gossiped: the sender has it, and so, most likely, do others.
                    if let Err(err) = self.foca.apply_many(members, false, &mut self.rt) {
                        tracing::debug!(%from, %err, "membership table not applied");
                    }
                    if let Some(reply_to) = chunk.reply_to {
                        self.send_table(reply_to, false).await;
                    }
                }
                Err(err) => {
                    self.wire.count_malformed();
                    tracing::debug!(%from, %err, "bad membership table packet");
                }
            },
            _ => {
                self.wire.count_malformed();
                tracing::debug!(%from, kind, "unexpected packet kind on the gossip socket");
            }
        }
    }

    fn on_multicast(&mut self, datagram: &mut [u8], from: SocketAddr) {
        let Some((kind, payload)) = self.wire.open(datagram, from) else {
            return;
        };
        let discovery = match (kind, codec::decode::<Discovery>(payload)) {
            (KIND_DISCOVERY, Ok(discovery)) => discovery,
            _ => {
                self.wire.count_malformed();
                return;
            }
        };
        if discovery.name == self.own_meta.name {
            return;
        }
        let known = self
            .shared
            .roster
            .lock()
            .expect("roster lock")
            .is_active(&discovery.name);
        if !known {
            tracing::info!(
                member = %discovery.name,
                addr = %discovery.gossip,
                "discovered a host by multicast; joining through it"
            );
            self.announce_to(&[discovery.gossip]);
        }
    }

    fn announce_to(&mut self, addrs: &[SocketAddr]) {
        let local = self.shared.local_addr;
        let own = self.foca.identity().addr;
        for &addr in addrs {
            if addr == own || addr == local || addr.is_ipv4() != local.is_ipv4() {
                continue;
            }
            if let Err(err) = self.foca.announce(NodeId::placeholder(addr), &mut self.rt) {
                tracing::debug!(%addr, %err, "cannot announce");
            }
        }
    }

    /// Drains what foca produced: packets, timers, notifications; then brings the roster
    /// up to date and publishes the events.
    async fn pump(&mut self) {
        // Handling one batch can make foca produce more (e.g. a retune); loop until quiet.
        loop {
            self.pump_once().await;
            if self.rt.backlog() == 0 {
                return;
            }
        }
    }

    async fn pump_once(&mut self) {
        while let Some((to, data)) = self.rt.to_send() {
            self.wire
                .send(&self.socket, to.addr, KIND_FOCA, &data)
                .await;
        }
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.schedule(after, Job::Foca(timer));
        }
        let mut events = Vec::new();
        while let Some(notification) = self.rt.to_notify() {
            self.on_notification(notification, &mut events);
        }
        let items = self.seen.lock().expect("seen lock").take_inbox();
        let mut met = Vec::new();
        {
            let mut roster = self.shared.roster.lock().expect("roster lock");
            // Leave notices first, so that the down that came with them reads as "left".
            for item in items {
                events.extend(match item {
                    Item::Meta(meta) => roster.apply_meta(meta),
                    Item::Leave { name, generation } => roster.mark_left(&name, generation),
                });
            }
            for member in self.foca.iter_membership_state() {
                let observed = roster.observe(member.id(), member.state());
                events.extend(observed.event);
                met.extend(observed.met);
            }
        }
        self.publish(events);
        if std::mem::take(&mut self.sync_soon) {
            self.sync_with_someone().await;
        }
        for addr in met {
            self.send_own_meta(addr, true).await;
        }
        if let Some(config) = self.tuner.retune(self.foca.num_members() + 1) {
            tracing::debug!(
                members = self.foca.num_members() + 1,
                "retuning SWIM for cluster size"
            );
            if let Err(err) = self.foca.set_config(config) {
                tracing::warn!(%err, "cannot retune SWIM");
            }
        }
    }

    fn publish(&self, events: Vec<MembershipEvent>) {
        for event in events {
            let m = event.member();
            tracing::info!(
                member = %m.name,
                addr = %m.gossip_addr,
                state = %m.state,
                incarnation = m.incarnation,
                "membership change"
            );
            // No subscriber is fine.
            let _ = self.shared.events.send(event);
        }
    }

    fn on_notification(
        &mut self,
        notification: OwnedNotification<NodeId>,
        events: &mut Vec<MembershipEvent>,
    ) {
        match notification {
            OwnedNotification::Rename(old, new) => {
                let mut roster = self.shared.roster.lock().expect("roster lock");
                events.extend(roster.renamed(&old, &new));
            }
            OwnedNotification::Rejoin(id) => {
                tracing::info!(
                    incarnation = id.generation,
                    "the cluster had declared this host down; rejoined with a new identity"
                );
                self.shared
                    .roster
                    .lock()
                    .expect("roster lock")
                    .set_local_id(id);
            }
            OwnedNotification::Active => {
                tracing::info!(members = self.foca.num_members() + 1, "joined the cluster");
                self.sync_soon = true;
                self.join_sync_round += 1;
                for delay in swim::sync_after_join(self.timing) {
                    self.schedule(delay, Job::SyncAfterJoin(self.join_sync_round));
                }
            }
            OwnedNotification::Idle => {
                tracing::warn!("lost contact with every other member; trying to rejoin");
                self.start_joining();
                self.start_discovery();
            }
            OwnedNotification::Defunct => {
                tracing::debug!("this identity is down");
            }
            OwnedNotification::MemberUp(_) | OwnedNotification::MemberDown(_) => {}
        }
    }

    fn start_joining(&mut self) {
        if self.seeds.is_empty() {
            return;
        }
        self.join_round += 1;
        self.join_attempt = 0;
        self.schedule(Duration::ZERO, Job::Join(self.join_round));
    }

    fn join_tick(&mut self) {
        if self.foca.num_members() > 0 {
            return;
        }
        if self.join_attempt > 0 {
            tracing::warn!(
                seeds = ?self.seeds,
                attempt = self.join_attempt,
                "no seed has answered yet; announcing again"
            );
        }
        let seeds = self.seeds.clone();
        let results = self.internal_tx.clone();
        // Resolution may wait on DNS: off the driver, which keeps answering probes.
        tokio::spawn(async move {
            let mut addrs = Vec::new();
            for seed in &seeds {
                match tokio::net::lookup_host(seed.as_str()).await {
                    Ok(found) => addrs.extend(found),
                    Err(err) => tracing::warn!(%seed, %err, "cannot resolve seed"),
                }
            }
            let _ = results.send(Internal::Announce(addrs));
        });
        let delay = join_backoff(self.join_attempt);
        self.join_attempt += 1;
        self.schedule(delay, Job::Join(self.join_round));
    }

    fn start_discovery(&mut self) {
        if self.multicast.is_none() {
            return;
        }
        self.discover_round += 1;
        self.schedule(ANNOUNCE_DELAYS[0], Job::Discover(self.discover_round));
        self.discover_step = 1;
    }

    async fn discover_tick(&mut self) {
        let Some(multicast) = &self.multicast else {
            return;
        };
        let announcement = Discovery {
            name: self.own_meta.name.clone(),
            gossip: self.foca.identity().addr,
        };
        let group = SocketAddr::V4(multicast.group);
        self.wire
            .send(
                &multicast.socket,
                group,
                KIND_DISCOVERY,
                &codec::encode(&announcement),
            )
            .await;
        if let Some(&delay) = ANNOUNCE_DELAYS.get(self.discover_step) {
            self.discover_step += 1;
            self.schedule(delay, Job::Discover(self.discover_round));
        }
    }

    async fn housekeeping(&mut self) {
        let period = swim::probe_period(self.timing);
        let (lacking, released) = {
            let mut roster = self.shared.roster.lock().expect("roster lock");
            (roster.lacking_metadata(), roster.release_held(period))
        };
        self.publish(released);
        for addr in lacking.into_iter().take(META_REQUESTS_PER_TICK) {
            self.send_own_meta(addr, true).await;
        }
        self.schedule(period, Job::Housekeeping);
    }

    /// Push-pull with one random active member.
    async fn sync_with_someone(&mut self) {
        let active: Vec<SocketAddr> = self.foca.iter_members().map(|m| m.id().addr).collect();
        if active.is_empty() {
            return;
        }
        let peer = active[rand::rng().random_range(0..active.len())];
        self.send_table(peer, true).await;
    }

    async fn send_table(&mut self, to: SocketAddr, want_reply: bool) {
        let me = self.foca.identity().clone();
        let reply_to = want_reply.then_some(me.addr);
        // Ourselves first: the peer may not have heard of us yet.
        let myself = foca::Member::alive(me);
        let table = std::iter::once(&myself).chain(self.foca.iter_membership_state());
        for chunk in swim::sync_chunks(table, reply_to) {
            self.wire.send(&self.socket, to, KIND_SYNC, &chunk).await;
        }
    }

    async fn send_own_meta(&mut self, to: SocketAddr, want_reply: bool) {
        let push = MetaPush {
            item: self.own_meta.clone(),
            reply_to: want_reply.then(|| self.foca.identity().addr),
        };
        self.wire
            .send(&self.socket, to, KIND_META_PUSH, &codec::encode(&push))
            .await;
    }

    fn broadcast_own_meta(&mut self) {
        let data = codec::encode(&Item::Meta(self.own_meta.clone()));
        if let Err(err) = self.foca.add_broadcast(&data) {
            tracing::warn!(%err, "cannot gossip this host's metadata");
        }
    }

    fn set_metadata(&mut self, value: &Value) -> Result<(), ClusterError> {
        let json = value.to_string();
        if json.len() > MAX_METADATA_LEN {
            return Err(ClusterError::MetadataTooLarge {
                len: json.len(),
                limit: MAX_METADATA_LEN,
            });
        }
        self.own_meta.version += 1;
        self.own_meta.json = json;
        self.broadcast_own_meta();
        // Push it to a few members now rather than at the next gossip round.
        if let Err(err) = self.foca.broadcast(&mut self.rt) {
            tracing::debug!(%err, "cannot broadcast metadata");
        }
        Ok(())
    }

    /// Graceful exit: a leave notice and our own "down", gossiped together, twice (to
    /// different random members), so that others record `Left` and not `Dead`.
    async fn leave(&mut self) {
        let me = self.foca.identity().clone();
        let notice = codec::encode(&Item::Leave {
            name: me.name.clone(),
            generation: me.generation,
        });
        if let Err(err) = self.foca.add_broadcast(&notice) {
            tracing::warn!(%err, "cannot queue the leave notice");
        }
        if let Err(err) = self.foca.leave_cluster(&mut self.rt) {
            tracing::warn!(%err, "cannot leave the cluster cleanly");
        }
        if let Err(err) = self.foca.gossip(&mut self.rt) {
            tracing::debug!(%err, "second leave round");
        }
        while let Some((to, data)) = self.rt.to_send() {
            self.wire
                .send(&self.socket, to.addr, KIND_FOCA, &data)
                .await;
        }
        self.shared
            .roster
            .lock()
            .expect("roster lock")
            .set_local_state(MemberState::Left);
        tracing::info!("left the cluster");
    }
}

async fn recv_multicast(
    multicast: Option<&Multicast>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match multicast {
        Some(m) => m.socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_backoff_doubles_up_to_thirty_seconds() {
        let delays: Vec<u64> = (0..8).map(|a| join_backoff(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn earliest_timer_comes_first() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        for (seq, ms) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            heap.push(Scheduled {
                at: now + Duration::from_millis(ms),
                seq,
                job: Job::Housekeeping,
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|s| s.seq)).collect();
        assert_eq!(order, [2, 4, 3, 1]);
    }
}
