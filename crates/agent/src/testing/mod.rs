//! In-process flow tests (tests only): an agent on a temporary state and data directory,
//! its process delegate a [`fake::FakeDelegate`], driven through the flows directly. Each
//! agent runs on a runtime of its own; dropping that runtime ends every task of the agent
//! at once, as `kill -9` would, while the fake's workloads run on.

pub mod fake;
mod flows;

use crate::agent::Agent;
use crate::config::{AgentConfig, GossipConfig};
use crate::flow_error::FlowError;
use crate::registry::Delegates;
use crate::workload::DelegateKind;
use fake::FakeDelegate;
use khutulun_state::{InstanceRecord, ServiceRecord, ServiceStatus};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NS: &str = "default";

pub struct TestAgent {
    runtime: Option<tokio::runtime::Runtime>,
    pub agent: Agent,
    pub fake: FakeDelegate,
    dirs: Arc<tempfile::TempDir>,
}

impl TestAgent {
    pub fn start(fake: &FakeDelegate) -> TestAgent {
        TestAgent::start_on(fake, Arc::new(tempfile::tempdir().unwrap()))
    }

    /// An agent on `dirs` (`state/`, `data/`), as `run` starts one: its adoption pass done.
    pub fn start_on(fake: &FakeDelegate, dirs: Arc<tempfile::TempDir>) -> TestAgent {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = config(dirs.path());
        let delegates = Delegates::default()
            .with(DelegateKind::Process, Box::new(fake.clone()))
            .with(
                DelegateKind::Directory,
                Box::new(khutulun_delegates::DirectoryDelegate),
            );
        let agent = runtime.block_on(async {
            let agent = Agent::new(config, delegates).expect("the agent starts");
            crate::adopt::adopt_all(&agent, &Default::default()).await;
            agent
        });
        TestAgent {
            runtime: Some(runtime),
            agent,
            fake: fake.clone(),
            dirs,
        }
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().expect("running").block_on(future)
    }

    /// Deploys `template` (a service.yaml) as service `name`.
    pub fn deploy(&self, name: &str, template: &str) -> Result<ServiceRecord, FlowError> {
        let package = tempfile::tempdir().unwrap();
        std::fs::write(package.path().join("service.yaml"), template).unwrap();
        let staging = self.agent.store.staging_dir().unwrap();
        let archive = crate::package::pack_directory(package.path()).unwrap();
        std::fs::write(staging.join(crate::deploy::ARCHIVE), archive).unwrap();
        let input = crate::deploy::DeployInput {
            namespace: NS.into(),
            name: name.into(),
            entry: "service.yaml".into(),
            inputs: Default::default(),
            staging,
            check_revision: None,
        };
        self.block_on(crate::deploy::deploy(&self.agent, input))
    }

    pub fn delete(&self, name: &str) {
        self.block_on(crate::delete::delete(&self.agent, NS, name))
            .expect("the delete starts");
        self.wait_until(&format!("{name} is gone"), || {
            self.agent.store.service(NS, name).unwrap().is_none()
        });
    }

    pub fn service(&self, name: &str) -> ServiceRecord {
        self.agent.store.require_service(NS, name).unwrap()
    }

    pub fn instances(&self, name: &str) -> Vec<InstanceRecord> {
        self.agent.store.instances(NS, name).unwrap()
    }

    /// Waits until the service's flow ended with `status`.
    pub fn wait_for_status(&self, name: &str, status: ServiceStatus) -> ServiceRecord {
        self.wait_until(&format!("{name} is {status:?}"), || {
            self.service(name).status == status && !self.agent.service_task_running(NS, name)
        });
        self.service(name)
    }

    /// The flows run on the agent's runtime: the test looks at the state until `done`.
    pub fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; {}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What the fake did and what the state holds, for a failure's message.
    fn describe(&self) -> String {
        let services = self.agent.store.services(NS).unwrap_or_default();
        let instances: Vec<_> = services
            .iter()
            .flat_map(|s| self.agent.store.instances(NS, &s.name).unwrap_or_default())
            .collect();
        format!(
            "the fake did {:?}; services: {services:#?}; instances: {instances:#?}",
            self.fake.journal()
        )
    }

    /// Ends the agent as `kill -9` would (every task dropped where it stands); its
    /// workloads run on. Returns what another agent starts on.
    pub fn kill(mut self) -> (FakeDelegate, Arc<tempfile::TempDir>) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
        (self.fake.clone(), self.dirs.clone())
    }

    /// `kill`, then another agent on the same state and data.
    pub fn kill_and_restart(self) -> TestAgent {
        let (fake, dirs) = self.kill();
        TestAgent::start_on(&fake, dirs)
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Ten ports of this agent's own, handed out by the same counter the CLI's integration
/// tests use (`crates/khutulun/tests/common::port_range`: /tmp/khutulun-test-ports under
/// flock, blocks in 30000-39999), so that test processes running side by side never share
/// a port: the fake's workloads really listen on them.
fn own_ports() -> khutulun_state::PortRange {
    use std::io::{Read, Seek, Write};
    const SIZE: u16 = 10;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open("/tmp/khutulun-test-ports")
        .unwrap();
    file.lock().unwrap();
    let mut text = String::new();
    (&file).read_to_string(&mut text).unwrap();
    let next: u16 = text.trim().parse().unwrap_or(0);
    let first = if !(30000..=39999 - SIZE).contains(&next) {
        30000
    } else {
        next
    };
    (&file).seek(std::io::SeekFrom::Start(0)).unwrap();
    file.set_len(0).unwrap();
    write!(&file, "{}", first + SIZE).unwrap();
    file.unlock().unwrap();
    khutulun_state::PortRange {
        first,
        last: first + SIZE - 1,
    }
}

fn config(dir: &Path) -> AgentConfig {
    AgentConfig {
        state_dir: dir.join("state"),
        data_dir: dir.join("data"),
        host: "h1".into(),
        api: None,
        socket: dir.join("data/agent.sock"),
        address: "127.0.0.1".into(),
        token: None,
        port_range: own_ports(),
        systemd_scopes: false,
        labels: Default::default(),
        cpus: Some(4),
        memory_bytes: Some(8 << 30),
        gossip: GossipConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            seeds: Vec::new(),
            multicast: None,
            key: None,
            fast: true,
        },
        docker_socket: None,
        plugin_limits: Default::default(),
        lease_period: Duration::from_secs(30),
        clock_skew: Duration::from_secs(1),
    }
}
