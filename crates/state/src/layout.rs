//! Where every piece of state lives. The only place that knows the directory layout.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn cluster(&self) -> PathBuf {
        self.root.join("cluster.json")
    }

    /// Scratch space on the shared filesystem, so a finished upload can be renamed into place.
    /// Registered plugins: `plugins/<name>/<version>.wasm` and `plugins/<name>/current`.
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn hosts(&self) -> PathBuf {
        self.root.join("hosts")
    }

    pub fn host(&self, host: &str) -> PathBuf {
        self.hosts().join(host)
    }

    pub fn host_info(&self, host: &str) -> PathBuf {
        self.host(host).join("host.json")
    }

    pub fn host_alive_lock(&self, host: &str) -> PathBuf {
        self.host(host).join("alive.lock")
    }

    /// The host's lease: epoch and renewals (see `lease`). Also the lock that guards its
    /// read-modify-write, rewritten in place through the locked descriptor (`lease_file`).
    pub fn host_lease(&self, host: &str) -> PathBuf {
        self.host(host).join("lease.json")
    }

    /// Held shared by the host's agent and inherited by its processes: free only when
    /// nothing of the host runs any more.
    pub fn host_workloads_lock(&self, host: &str) -> PathBuf {
        self.host(host).join("workloads.lock")
    }

    pub fn host_drain(&self, host: &str) -> PathBuf {
        self.host(host).join("drain.json")
    }

    pub fn host_ports(&self, host: &str) -> PathBuf {
        self.host(host).join("ports.json")
    }

    /// Guards read-modify-write of `ports.json`.
    pub fn host_ports_lock(&self, host: &str) -> PathBuf {
        self.host(host).join("ports.lock")
    }

    pub fn namespaces(&self) -> PathBuf {
        self.root.join("namespaces")
    }

    pub fn services(&self, namespace: &str) -> PathBuf {
        self.namespaces().join(namespace).join("services")
    }

    pub fn service(&self, namespace: &str, service: &str) -> PathBuf {
        self.services(namespace).join(service)
    }

    /// The service lock lives beside the service directory so that deleting the service
    /// does not pull the lock file out from under a waiter.
    pub fn service_lock(&self, namespace: &str, service: &str) -> PathBuf {
        self.services(namespace).join(format!(".{service}.lock"))
    }

    pub fn service_record(&self, namespace: &str, service: &str) -> PathBuf {
        self.service(namespace, service).join("service.json")
    }

    /// Where a revision's instance records are planned before it is committed: the records
    /// its deploy writes once service.json names it.
    pub fn revision_plan(&self, namespace: &str, service: &str, revision: u64) -> PathBuf {
        self.revision(namespace, service, revision)
            .join("instances.json")
    }

    pub fn revisions(&self, namespace: &str, service: &str) -> PathBuf {
        self.service(namespace, service).join("revisions")
    }

    pub fn revision(&self, namespace: &str, service: &str, revision: u64) -> PathBuf {
        self.service(namespace, service)
            .join("revisions")
            .join(revision.to_string())
    }

    pub fn revision_package(&self, namespace: &str, service: &str, revision: u64) -> PathBuf {
        self.revision(namespace, service, revision).join("package")
    }

    pub fn revision_graph(&self, namespace: &str, service: &str, revision: u64) -> PathBuf {
        self.revision(namespace, service, revision)
            .join("graph.json")
    }

    pub fn instances(&self, namespace: &str, service: &str) -> PathBuf {
        self.service(namespace, service).join("instances")
    }

    pub fn instance(&self, namespace: &str, service: &str, node: &str, index: u32) -> PathBuf {
        self.instances(namespace, service)
            .join(format!("{node}-{index}.json"))
    }

    pub fn events(&self) -> PathBuf {
        self.root.join("events")
    }

    pub fn events_lock(&self) -> PathBuf {
        self.events().join(".lock")
    }

    pub fn event_log(&self, day: &str) -> PathBuf {
        self.events().join(format!("{day}.jsonl"))
    }
}
