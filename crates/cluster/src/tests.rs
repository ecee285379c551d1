//! Real clusters over UDP on 127.0.0.1, in one process, with the fast timing profile.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::broadcast::Receiver;

use crate::{Cluster, ClusterConfig, ClusterError, MemberState, MembershipEvent, Timing};

const KEY: [u8; 32] = [7; 32];

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn config(name: &str, seeds: &[&Cluster]) -> ClusterConfig {
    init_tracing();
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, lo, lo);
    config.timing = Timing::Fast;
    config.key = Some(KEY);
    config.metadata = json!({ "api": format!("http://{name}:8181") });
    config.seeds = seeds.iter().map(|c| c.local_addr().to_string()).collect();
    config
}

async fn start(name: &str, seeds: &[&Cluster]) -> Cluster {
    Cluster::start(config(name, seeds)).await.unwrap()
}

/// Polls `condition` every 20 ms until it holds or `limit` passes; returns the time it took.
async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition().then(|| started.elapsed())
}

/// Waits for an event about `name`; returns it and the time it took.
async fn event_about(
    events: &mut Receiver<MembershipEvent>,
    name: &str,
    state: MemberState,
    limit: Duration,
) -> Option<(MembershipEvent, Duration)> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if event.member().name == name && event.member().state == state => {
                return Some((event, started.elapsed()));
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => panic!("event stream: {err}"),
            Err(_) => return None,
        }
    }
}

fn states(cluster: &Cluster) -> Vec<(String, MemberState)> {
    cluster
        .members()
        .into_iter()
        .map(|m| (m.name, m.state))
        .collect()
}

fn all_alive(cluster: &Cluster, names: &[&str]) -> bool {
    let members = cluster.members();
    members.len() == names.len()
        && members
            .iter()
            .zip(names)
            .all(|(m, name)| m.name == *name && m.state == MemberState::Alive)
}

fn metadata_known(cluster: &Cluster, names: &[&str]) -> bool {
    names.iter().all(|name| {
        cluster
            .member(name)
            .is_some_and(|m| m.metadata == json!({ "api": format!("http://{name}:8181") }))
    })
}

async fn three() -> (Cluster, Cluster, Cluster) {
    let a = start("a", &[]).await;
    let b = start("b", &[&a]).await;
    let c = start("c", &[&a]).await;
    let names = ["a", "b", "c"];
    let took = eventually(Duration::from_secs(5), || {
        [&a, &b, &c]
            .iter()
            .all(|x| all_alive(x, &names) && metadata_known(x, &names))
    })
    .await;
    assert!(
        took.is_some(),
        "no convergence: a={:?} b={:?} c={:?}",
        a.members(),
        b.members(),
        c.members()
    );
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_join_through_a_seed_and_learn_metadata() {
    let (a, b, c) = three().await;
    for x in [&a, &b, &c] {
        let me = x.members();
        assert!(me.iter().all(|m| m.incarnation > 0));
        assert_eq!(
            x.member("b").unwrap().gossip_addr,
            b.local_addr(),
            "advertised port 0 means the bound port"
        );
    }
    let stats = a.stats();
    assert!(stats.packets_in > 0 && stats.packets_out > 0, "{stats:?}");
    assert_eq!(
        stats.dropped_bad_key + stats.dropped_malformed,
        0,
        "{stats:?}"
    );
    assert_eq!(c.member("nobody"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_stops_abruptly_is_declared_dead_quickly() {
    let (a, b, c) = three().await;
    let (mut ea, mut eb) = (a.subscribe(), b.subscribe());
    let killed = Instant::now();
    drop(c);
    let limit = Duration::from_secs(4);
    let (dead, _) = event_about(&mut ea, "c", MemberState::Dead, limit)
        .await
        .expect("a never saw c dead");
    let at_a = killed.elapsed();
    event_about(&mut eb, "c", MemberState::Dead, limit)
        .await
        .expect("b never saw c dead");
    // The later of the two (b's event may have been waiting in its queue).
    let at_b = killed.elapsed();
    eprintln!("dead after {at_a:?} at a, {at_b:?} at b");
    assert_eq!(dead.member().metadata["api"], "http://c:8181");
    assert!(
        at_a.max(at_b) <= Duration::from_secs(3),
        "{at_a:?} {at_b:?}"
    );
    assert_eq!(a.member("c").unwrap().state, MemberState::Dead);
    assert_eq!(a.members().len(), 3, "dead members stay listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_leave_is_left_not_dead() {
    let (a, b, c) = three().await;
    let (mut ea, mut eb) = (a.subscribe(), b.subscribe());
    c.leave().await;
    assert_eq!(c.member("c").unwrap().state, MemberState::Left);
    for (events, who) in [(&mut ea, "a"), (&mut eb, "b")] {
        let (_, took) = event_about(events, "c", MemberState::Left, Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("{who} never saw c leave"));
        eprintln!("{who} saw c leave after {took:?}");
    }
    // Long enough for a failure to have been detected, had it been taken for one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for events in [&mut ea, &mut eb] {
        while let Ok(event) = events.try_recv() {
            assert_ne!(event.member().state, MemberState::Dead, "{event:?}");
        }
    }
    assert_eq!(a.member("c").unwrap().state, MemberState::Left);
    assert_eq!(b.member("c").unwrap().state, MemberState::Left);
    // Leaving twice, or using a left cluster, is harmless.
    c.leave().await;
    assert!(matches!(
        c.try_set_metadata(json!(1)).await,
        Err(ClusterError::Stopped)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_does_not_join_and_is_counted() {
    let a = start("a", &[]).await;
    let mut wrong = config("wrong", &[&a]);
    wrong.key = Some([8; 32]);
    let wrong = Cluster::start(wrong).await.unwrap();
    let mut keyless = config("keyless", &[&a]);
    keyless.key = None;
    let keyless = Cluster::start(keyless).await.unwrap();
    let dropped = eventually(Duration::from_secs(3), || a.stats().dropped_bad_key >= 2).await;
    assert!(dropped.is_some(), "{:?}", a.stats());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(states(&a), [("a".to_string(), MemberState::Alive)]);
    assert_eq!(wrong.members().len(), 1);
    assert_eq!(keyless.members().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_updates_propagate() {
    let (a, b, c) = three().await;
    let (mut eb, mut ec) = (b.subscribe(), c.subscribe());
    let new = json!({ "api": "http://a:9999", "labels": { "zone": "z1" } });
    a.set_metadata(new.clone()).await;
    assert_eq!(a.member("a").unwrap().metadata, new);
    for events in [&mut eb, &mut ec] {
        let (event, took) = event_about(events, "a", MemberState::Alive, Duration::from_secs(2))
            .await
            .expect("no metadata event");
        assert_eq!(event.member().metadata, new);
        eprintln!("metadata update seen after {took:?}");
    }
    let too_big = Value::String("x".repeat(crate::MAX_METADATA_LEN));
    assert!(matches!(
        a.try_set_metadata(too_big).await,
        Err(ClusterError::MetadataTooLarge { .. })
    ));
    assert_eq!(b.member("a").unwrap().metadata, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_host_is_dead_then_comes_back_after_healing() {
    let (a, b, c) = three().await;
    let (mut ea, mut eb) = (a.subscribe(), b.subscribe());
    let before = a.member("c").unwrap().incarnation;
    c.set_partitioned(true);
    for events in [&mut ea, &mut eb] {
        event_about(events, "c", MemberState::Dead, Duration::from_secs(4))
            .await
            .expect("c not declared dead");
    }
    let c_alone = eventually(Duration::from_secs(4), || {
        c.members()
            .iter()
            .filter(|m| m.name != "c")
            .all(|m| m.state == MemberState::Dead)
    })
    .await;
    assert!(c_alone.is_some(), "c still sees {:?}", c.members());

    c.set_partitioned(false);
    let names = ["a", "b", "c"];
    let healed = eventually(Duration::from_secs(10), || {
        [&a, &b, &c].iter().all(|x| all_alive(x, &names))
    })
    .await;
    assert!(
        healed.is_some(),
        "not healed: a={:?} b={:?} c={:?}",
        states(&a),
        states(&b),
        states(&c)
    );
    eprintln!("healed {:?} after the partition ended", healed.unwrap());
    event_about(&mut ea, "c", MemberState::Alive, Duration::from_secs(1))
        .await
        .expect("no alive event for c at a");
    assert!(
        a.member("c").unwrap().incarnation > before,
        "c came back renewed"
    );
    assert!(metadata_known(&a, &names) && metadata_known(&c, &names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_that_starts_later_is_retried() {
    // Reserve a port, release it, and start the seed there only later.
    let port = StdUdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut early = config("early", &[]);
    early.seeds = vec![
        format!("127.0.0.1:{port}"),
        "no-such-host.invalid:8183".into(),
    ];
    let early = Cluster::start(early).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut late = config("late", &[]);
    late.bind = SocketAddr::from(([127, 0, 0, 1], port));
    let late = Cluster::start(late).await.unwrap();
    let joined = eventually(Duration::from_secs(6), || {
        all_alive(&early, &["early", "late"]) && all_alive(&late, &["early", "late"])
    })
    .await;
    assert!(joined.is_some(), "{:?}", states(&early));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_rejoins_as_a_newer_incarnation() {
    let (a, b, c) = three().await;
    let old = a.member("c").unwrap().incarnation;
    let mut events = a.subscribe();
    drop(c);
    event_about(&mut events, "c", MemberState::Dead, Duration::from_secs(4))
        .await
        .expect("c not dead");
    let c = start("c", &[&b]).await;
    let (event, _) = event_about(&mut events, "c", MemberState::Alive, Duration::from_secs(4))
        .await
        .expect("c not back");
    assert!(event.member().incarnation > old);
    assert_eq!(event.member().gossip_addr, c.local_addr());
}

/// Whether a datagram sent to a group on 127.0.0.1 comes back here (it does on Linux with
/// loopback multicast; some sandboxes forbid it).
fn loopback_multicast_works(group: SocketAddrV4) -> bool {
    let probe = || -> std::io::Result<bool> {
        let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        rx.set_reuse_address(true)?;
        rx.set_reuse_port(true)?;
        rx.bind(&SocketAddr::V4(group).into())?;
        rx.join_multicast_v4(group.ip(), &Ipv4Addr::LOCALHOST)?;
        rx.set_read_timeout(Some(Duration::from_millis(500)))?;
        let tx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
        tx.set_multicast_loop_v4(true)?;
        tx.send_to(b"probe", &SocketAddr::V4(group).into())?;
        let rx: StdUdpSocket = rx.into();
        let mut buf = [0u8; 16];
        rx.recv_from(&mut buf).map(|(n, _)| &buf[..n] == b"probe")
    };
    probe().unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multicast_discovery_finds_hosts_without_seeds() {
    // A group and port of our own, so parallel test runs do not meet.
    let port = StdUdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 255, 83, (port % 250) as u8 + 1), port);
    if !loopback_multicast_works(group) {
        eprintln!("SKIPPED: multicast on the loopback interface does not work in this environment");
        return;
    }
    let mut nodes = Vec::new();
    for name in ["m1", "m2", "m3"] {
        let mut config = config(name, &[]);
        config.multicast = Some(group);
        nodes.push(Cluster::start(config).await.unwrap());
    }
    let names = ["m1", "m2", "m3"];
    let found = eventually(Duration::from_secs(5), || {
        nodes
            .iter()
            .all(|n| all_alive(n, &names) && metadata_known(n, &names))
    })
    .await;
    assert!(
        found.is_some(),
        "{:?}",
        nodes.iter().map(states).collect::<Vec<_>>()
    );
    eprintln!("multicast discovery converged in {:?}", found.unwrap());
}

#[tokio::test]
async fn bind_errors_say_which_address_and_what_to_do() {
    let taken = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = config("x", &[]);
    config.bind = taken.local_addr().unwrap();
    let err = Cluster::start(config).await.err().unwrap().to_string();
    assert!(
        err.contains(&taken.local_addr().unwrap().to_string()),
        "{err}"
    );
    assert!(err.contains("another process"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_list_naming_this_host_is_harmless() {
    // Bound on every address, so 127.0.0.2 reaches this very socket.
    let mut alone = config("alone", &[]);
    alone.bind = "0.0.0.0:0".parse().unwrap();
    alone.advertise = "127.0.0.1:0".parse().unwrap();
    let port = StdUdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    alone.bind.set_port(port);
    alone.seeds = vec![format!("127.0.0.2:{port}")];
    let alone = Cluster::start(alone).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(states(&alone), [("alone".to_string(), MemberState::Alive)]);
    let mut other = config("other", &[]);
    other.seeds = vec![format!("127.0.0.1:{port}")];
    let other = Cluster::start(other).await.unwrap();
    let joined = eventually(Duration::from_secs(3), || {
        all_alive(&alone, &["alone", "other"]) && all_alive(&other, &["alone", "other"])
    })
    .await;
    assert!(joined.is_some());
}
