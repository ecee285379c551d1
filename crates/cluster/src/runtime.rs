//! The driver: one task that owns foca, the sockets and the timers, and turns what foca
//! says into membership events. Nothing polls: it sleeps until a packet, a command or the
//! next timer.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec};
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::broadcast::{Handler, Seen};
use crate::codec::{Item, MetaItem, KIND_FOCA, KIND_META_PUSH, KIND_SYNC};
use crate::config::Timing;
use crate::error::ClusterError;
use crate::identity::NodeId;
use crate::member::MembershipEvent;
use crate::multicast::Multicast;
use crate::swim::{self, Tuner};
use crate::timers::{Job, Timers};
use crate::transport::Wire;
use crate::Shared;

mod exchange;
mod join;

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

enum Wake {
    Command(Option<Command>),
    Internal(Option<Internal>),
    Gossip(std::io::Result<(usize, SocketAddr)>),
    Multicast(std::io::Result<(usize, SocketAddr)>),
    Timers,
}

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
    timers: Timers,
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
    // Seed addresses that turned out to be this host.
    self_addrs: HashSet<SocketAddr>,
    // How many seed addresses the last join attempt announced to.
    seeds_announced: usize,
    /// A housekeeping pass is scheduled: it runs only while a newcomer waits for its
    /// metadata, so an idle host's gossip sleeps.
    housekeeping_scheduled: bool,
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
            timers: Timers::default(),
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
            self_addrs: HashSet::new(),
            seeds_announced: 0,
            housekeeping_scheduled: false,
        }
    }

    pub(crate) async fn run(mut self) {
        self.broadcast_own_meta();
        self.start_joining();
        self.start_discovery();
        self.schedule(swim::sync_period(self.timing), Job::Sync);
        self.pump().await;
        self.keep_house_when_needed();

        let mut buf = vec![0u8; 65536];
        let mut mbuf = vec![0u8; 4096];
        let mut answer = None;
        loop {
            let deadline = self.timers.next_deadline();
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
                Wake::Internal(Some(Internal::Announce(addrs))) => {
                    self.seeds_announced = self.announce_to(&addrs);
                }
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
            self.keep_house_when_needed();
            if let Some((done, result)) = answer.take() {
                let _ = done.send(result);
            }
        }
    }

    /// Schedules a housekeeping pass when the roster has work for one and none is due.
    fn keep_house_when_needed(&mut self) {
        if self.housekeeping_scheduled {
            return;
        }
        let needed = self
            .shared
            .roster
            .lock()
            .expect("roster lock")
            .needs_housekeeping();
        if needed {
            self.housekeeping_scheduled = true;
            self.schedule(swim::probe_period(self.timing), Job::Housekeeping);
        }
    }

    fn schedule(&mut self, after: Duration, job: Job) {
        self.timers.schedule(after, job);
    }

    async fn run_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(job) = self.timers.pop_due(now) {
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
                    if matches!(err, foca::Error::DataFromOurselves) {
                        self.note_self_announce(payload);
                    }
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
            KIND_META_PUSH => self.on_meta_push(payload, from).await,
            KIND_SYNC => self.on_table(payload, from).await,
            _ => {
                self.wire.count_malformed();
                tracing::debug!(%from, kind, "unexpected packet kind on the gossip socket");
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
