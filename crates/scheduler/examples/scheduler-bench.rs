//! Placement throughput on synthetic clusters. Run with
//! `cargo run --release -p khutulun-scheduler --example scheduler-bench`.
//!
//! Inputs come from a fixed-seed generator, so every run places the same thing. An
//! argument runs only the scenarios whose name contains it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use khutulun_scheduler::{
    place, HostState, InstanceId, InstanceRequest, Policy, Request, Resources, Rule,
};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// splitmix64: tiny, seeded, good enough for synthetic inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn cluster(rng: &mut Rng, count: usize, loaded: bool) -> Vec<HostState> {
    (0..count)
        .map(|i| {
            let cores = rng.pick(&[8u64, 16, 16, 32]);
            let capacity = Resources {
                cpu_millis: cores * 1000,
                memory_bytes: cores * 4 * GIB,
            };
            let share = if loaded { rng.next() % 20 } else { 0 };
            HostState {
                name: format!("host-{i:04}"),
                labels: BTreeMap::from([
                    ("zone".to_string(), format!("z{}", i % 3)),
                    ("disk".to_string(), rng.pick(&["ssd", "hdd"]).to_string()),
                ]),
                capacity,
                committed: Resources {
                    cpu_millis: capacity.cpu_millis * share / 100,
                    memory_bytes: capacity.memory_bytes * share / 100,
                },
                instances: (share / 4) as u32,
            }
        })
        .collect()
}

fn policy(name: String, targets: &[&String], rule: Rule) -> Policy {
    Policy {
        name,
        targets: targets.iter().map(|t| t.to_string()).collect(),
        rule,
    }
}

struct Shape {
    nodes: usize,
    per_node: u32,
    resources: bool,
    /// Strict separation of each node's instances.
    separate_nodes: bool,
    /// Per service of 10 nodes: two colocation pairs, a preferred separation over three
    /// nodes and a zone placement.
    service_policies: bool,
}

fn request(rng: &mut Rng, shape: &Shape) -> Request {
    let mut req = Request::default();
    let names: Vec<String> = (0..shape.nodes).map(|n| format!("n{n:05}")).collect();
    for name in &names {
        for index in 0..shape.per_node {
            let resources = if shape.resources {
                Resources {
                    cpu_millis: rng.pick(&[50, 100, 100, 200]),
                    memory_bytes: rng.pick(&[128 * MIB, 256 * MIB, 512 * MIB]),
                }
            } else {
                Resources::ZERO
            };
            req.instances.push(InstanceRequest {
                id: InstanceId::new(name.clone(), index),
                resources,
            });
        }
        if shape.separate_nodes {
            req.policies.push(policy(
                format!("{name}-apart"),
                &[name],
                Rule::Separation { strict: true },
            ));
        }
    }
    if shape.service_policies {
        for (s, service) in names.chunks(10).enumerate() {
            if service.len() < 10 {
                break;
            }
            let n: Vec<&String> = service.iter().collect();
            req.policies.push(policy(
                format!("s{s}-pair-a"),
                &[n[0], n[1]],
                Rule::Colocation,
            ));
            req.policies.push(policy(
                format!("s{s}-pair-b"),
                &[n[2], n[3]],
                Rule::Colocation,
            ));
            req.policies.push(policy(
                format!("s{s}-spread"),
                &[n[4], n[5], n[6]],
                Rule::Separation { strict: false },
            ));
            req.policies.push(policy(
                format!("s{s}-zone"),
                &[n[7], n[8]],
                Rule::Placement {
                    hosts: vec![],
                    labels: BTreeMap::from([("zone".to_string(), format!("z{}", s % 3))]),
                },
            ));
        }
    }
    req
}

struct Scenario {
    name: &'static str,
    hosts: usize,
    loaded: bool,
    shape: Shape,
}

fn main() {
    let plain = |nodes, per_node| Shape {
        nodes,
        per_node,
        resources: false,
        separate_nodes: false,
        service_policies: false,
    };
    let scenarios = [
        Scenario {
            name: "spread only",
            hosts: 100,
            loaded: false,
            shape: plain(2_000, 5),
        },
        Scenario {
            name: "services: separation, colocation, zones, capacity",
            hosts: 100,
            loaded: true,
            shape: Shape {
                resources: true,
                separate_nodes: true,
                service_policies: true,
                ..plain(2_000, 5)
            },
        },
        Scenario {
            name: "spread only",
            hosts: 1_000,
            loaded: false,
            shape: plain(20_000, 5),
        },
        Scenario {
            name: "strict separation per node",
            hosts: 1_000,
            loaded: false,
            shape: Shape {
                separate_nodes: true,
                ..plain(20_000, 5)
            },
        },
        Scenario {
            name: "strict separation per node + capacity",
            hosts: 1_000,
            loaded: true,
            shape: Shape {
                resources: true,
                separate_nodes: true,
                ..plain(20_000, 5)
            },
        },
        Scenario {
            name: "services: separation, colocation, zones, capacity",
            hosts: 1_000,
            loaded: true,
            shape: Shape {
                resources: true,
                separate_nodes: true,
                service_policies: true,
                ..plain(20_000, 5)
            },
        },
        Scenario {
            name: "worst case: one node of 100,000 instances",
            hosts: 1_000,
            loaded: false,
            shape: plain(1, 100_000),
        },
    ];

    let only = std::env::args().nth(1).unwrap_or_default();
    println!("| scenario | instances | hosts | policies | time | instances/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for s in scenarios.iter().filter(|s| s.name.contains(&only)) {
        let mut rng = Rng(0x6b68_7574_756c_756e);
        let hosts = cluster(&mut rng, s.hosts, s.loaded);
        let req = request(&mut rng, &s.shape);
        let start = Instant::now();
        let placement = place(&req, &hosts).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let took = start.elapsed();
        assert_eq!(placement.assignments.len(), req.instances.len());
        println!(
            "| {} | {} | {} | {} | {} | {:.0} |",
            s.name,
            req.instances.len(),
            hosts.len(),
            req.policies.len(),
            millis(took),
            req.instances.len() as f64 / took.as_secs_f64()
        );
    }
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
