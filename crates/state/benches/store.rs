//! State-directory throughput: prints a table. `cargo bench -p khutulun-state`.
//! Every operation is durable (fsync), so the figures are bounded by the disk.

use chrono::Utc;
use khutulun_state::*;
use std::collections::BTreeMap;
use std::time::Instant;

fn instance(i: u32) -> InstanceRecord {
    InstanceRecord {
        namespace: "default".into(),
        service: "bench".into(),
        node: format!("n{i}"),
        index: 0,
        revision: 1,
        host: "h".into(),
        epoch: 1,
        delegate: "process".into(),
        state: InstanceStatus::Running,
        address: "127.0.0.1".into(),
        pid: Some(1000 + i),
        pid_start_time: Some(1),
        ports: BTreeMap::from([("endpoint".into(), 20000)]),
        attributes: BTreeMap::new(),
        handle: BTreeMap::new(),
        exit_code: None,
        exit_signal: None,
        restarts: 0,
        message: None,
        cpu_millis: 0,
        memory_bytes: 0,
        placement: Vec::new(),
        updated_at: Utc::now(),
    }
}

fn measure(name: &str, count: u32, mut op: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..count {
        op(i);
    }
    let elapsed = start.elapsed();
    println!(
        "{name:<44} {count:>7} {:>10.0} {:>10.1}",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).unwrap();
    println!(
        "{:<44} {:>7} {:>10} {:>10}",
        "operation", "count", "ops/s", "µs/op"
    );
    measure("write instance record (atomic, fsync)", 500, |i| {
        store.write_instance(&instance(i % 50)).unwrap()
    });
    measure("read all 50 instance records", 200, |_| {
        store.instances("default", "bench").unwrap();
    });
    measure("service lock + read-modify-write", 500, |_| {
        let _lock = store.lock_service("default", "bench").unwrap();
        let record = store.service("default", "bench").unwrap();
        if let Some(record) = record {
            store.write_service(&record).unwrap();
        }
    });
    measure("append event (locked, fsync)", 500, |i| {
        store
            .append_event(&Event::now(
                "h",
                EventKind::InstanceRunning {
                    instance: InstanceRef::new("default", "bench", &format!("n{i}"), 0).unwrap(),
                    pid: Some(i),
                },
            ))
            .unwrap()
    });
    let range = PortRange {
        first: 40000,
        last: 49999,
    };
    measure("reserve one port (locked, fsync)", 300, |i| {
        store
            .reserve_ports(
                "h",
                &[PortRequest {
                    owner: PortOwner {
                        namespace: "default".into(),
                        service: format!("s{i}"),
                        node: "n".into(),
                        index: 0,
                        endpoint: "endpoint".into(),
                    },
                    port: None,
                }],
                range,
                &|_| false,
            )
            .unwrap();
    });
}
