use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "khutulun",
    version,
    about = "A distributed orchestrator for services that speaks TOSCA 2.0"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The agent to talk to: its Unix socket (`unix:/path`) or its URL (`http://host:port`,
    /// with a token) [default: the local agent's socket, `agent.sock` in its data directory].
    #[arg(long, global = true, env = "KHUTULUN_AGENT")]
    pub agent: Option<String>,
    /// Bearer token for the agent's API (and, for `agent`, the token it requires). On the
    /// command line every user sees it in `ps`: prefer --token-file or KHUTULUN_TOKEN.
    #[arg(long, global = true, env = "KHUTULUN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token (its first line), instead of --token.
    #[arg(
        long,
        global = true,
        env = "KHUTULUN_TOKEN_FILE",
        conflicts_with = "token"
    )]
    pub token_file: Option<std::path::PathBuf>,
    /// Namespace of the services.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent of this host (every host runs one; every agent is a master).
    Agent(Box<AgentArgs>),
    /// Make sure a local agent runs, deploy PATH, wait until it runs, print its outputs.
    Up {
        /// A TOSCA file, or a directory holding `service.yaml`.
        path: PathBuf,
        /// Service name; defaults to the directory's (or file's) name.
        #[arg(long)]
        name: Option<String>,
        /// Input value, KEY=VALUE (VALUE is read as JSON when it parses, else as a string).
        #[arg(short = 'i', long = "input", value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Deploy a TOSCA service template (a file or a directory) as service NAME.
    Deploy {
        name: String,
        path: PathBuf,
        #[arg(short = 'i', long = "input", value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// Wait until every instance runs (or the deploy fails).
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Print what the deploy would change, node by node, against the current revision,
        /// and change nothing.
        #[arg(long, conflicts_with_all = ["wait", "check_revision"])]
        plan: bool,
        /// Deploy only if the service is at this revision now (0: if it does not exist),
        /// e.g. the one a plan was made against; otherwise change nothing and fail.
        #[arg(long, value_name = "REVISION")]
        check_revision: Option<u64>,
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the services of the namespace.
    Services {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show one service.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Print a service's outputs.
    Outputs {
        name: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// List instances, of one service or of the whole namespace.
    Instances {
        name: Option<String>,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Print an instance's output (stdout and stderr).
    Logs {
        name: String,
        /// NODE or NODE/INDEX (index 0 when omitted).
        instance: String,
        /// Keep printing what is written.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Which stream to print.
        #[arg(long, value_parser = ["stdout", "stderr", "both"], default_value = "both")]
        stream: String,
    },
    /// Run a command in an instance: inside its container, pod or system container, or
    /// beside its process (same user, environment and directory). Exits with the
    /// command's exit code (125 when Khutulun itself fails).
    Exec {
        name: String,
        /// NODE or NODE/INDEX (index 0 when omitted).
        instance: String,
        /// Run the command under a pseudo-terminal (and pass standard input).
        #[arg(short = 't', long)]
        tty: bool,
        /// Pass standard input to the command (without it, the command reads nothing).
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Run an interface operation of an instance (e.g. Standard.configure, or any operation
    /// the template defines) on its host, print its output as it comes, and exit with its
    /// exit code (125 when Khutulun itself fails).
    Run {
        name: String,
        /// NODE or NODE/INDEX (index 0 when omitted).
        instance: String,
        /// INTERFACE.OPERATION.
        operation: String,
        /// An input for the operation, KEY=VALUE (VALUE as JSON, else as text); repeatable.
        #[arg(short = 'i', long = "input", value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// `json`: print no output lines, only the outcome ({code, outputs}) as JSON.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Register, list and remove Wasm plugins (custom TOSCA functions, event handlers).
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Publish events.
    Event {
        #[command(subcommand)]
        command: EventCommand,
    },
    /// Delete a service: stop its instances (dependants first), free its ports.
    Delete {
        name: String,
        /// Wait until the service is gone.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// List the hosts of the cluster: membership state, labels, instance count.
    Hosts {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Act on one host: drain it, or end a drain.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Show this agent's gossip: address, encryption, members, packet counters.
    Gossip {
        #[command(flatten)]
        output: OutputArg,
    },
    /// The TOSCA processor on its own (offline, no agent): validate or compile a template.
    Tosca {
        #[command(subcommand)]
        command: ToscaCommand,
    },
    /// Package TOSCA as a CSAR (Cloud Service Archive).
    Csar {
        #[command(subcommand)]
        command: CsarCommand,
    },
    /// Print a new cluster key for `khutulun agent --key-file` (give every host the same one).
    Keygen,
    /// Print the event log, or follow new events.
    Events {
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only events of this service.
        #[arg(long)]
        service: Option<String>,
        /// Only events since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        output: OutputArg,
    },
}

impl Command {
    /// The command's `--timeout`, in seconds, for those that have one: every call it makes
    /// to the agent is bounded by it.
    pub fn timeout(&self) -> Option<u64> {
        match self {
            Command::Up { timeout, .. }
            | Command::Deploy { timeout, .. }
            | Command::Delete { timeout, .. } => Some(*timeout),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Show a service, its status and its instances.
    Show {
        name: String,
        /// Explain where each instance went and why.
        #[arg(long)]
        placement: bool,
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Register FILE (a Wasm component built with khutulun-plugin-sdk) as plugin NAME for
    /// every host of the cluster. It is checked (it must load and give its manifest) first.
    Add {
        name: String,
        file: PathBuf,
        #[command(flatten)]
        output: OutputArg,
    },
    /// List the registered plugins with their functions and handlers.
    List {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Unregister plugin NAME.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Emit a user event: it goes to the event log, and policy triggers whose event is
    /// NAME run (on the host of the instance it is about).
    Emit {
        /// The event's name (letters, digits, `_ . : -`).
        name: String,
        /// The service it is about.
        #[arg(long)]
        service: Option<String>,
        /// The instance it is about, NODE or NODE/INDEX (needs --service).
        #[arg(long)]
        instance: Option<String>,
        /// Data carried with the event, as JSON.
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Move every instance off host NAME and give it no new ones (until `host undrain`).
    Drain {
        name: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Let host NAME take new instances again (nothing moves back by itself).
    Undrain { name: String },
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// How long one call of a Wasm plugin may run, in milliseconds; a call past it is stopped.
    #[arg(long, env = "KHUTULUN_PLUGIN_TIMEOUT_MS", default_value_t = 2000)]
    pub plugin_timeout_ms: u64,
    /// How much memory one call of a Wasm plugin may use, e.g. "64 MiB".
    #[arg(long, env = "KHUTULUN_PLUGIN_MEMORY", default_value = "64 MiB")]
    pub plugin_memory: String,
    /// The shared state directory [default: /var/lib/khutulun/state as root, else $XDG_STATE_HOME/khutulun/state].
    #[arg(long, env = "KHUTULUN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// This host's data directory: logs, instance directories [default: beside the state directory's default].
    #[arg(long, env = "KHUTULUN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// This host's name [default: the system's host name].
    #[arg(long, env = "KHUTULUN_HOST")]
    pub host: Option<String>,
    /// Address and port of the HTTP API on TCP, which needs a token [default: 127.0.0.1:8181
    /// when a token is given; without a token, only the Unix socket is served].
    #[arg(long, env = "KHUTULUN_API")]
    pub api: Option<SocketAddr>,
    /// The API's Unix socket, for this host's own users (mode 0600, no token)
    /// [default: agent.sock in the data directory].
    #[arg(long, env = "KHUTULUN_SOCKET")]
    pub socket: Option<PathBuf>,
    /// The address workloads on this host are reached at [default: the API's address, or 127.0.0.1].
    #[arg(long)]
    pub address: Option<String>,
    /// Ports handed out to endpoints that ask for any port.
    #[arg(long, default_value = "20000-29999")]
    pub port_range: khutulun_state::PortRange,
    /// Run each process in a transient systemd user scope (`systemd-run --user --scope`) when
    /// a systemd user manager answers; without one, processes are supervised directly.
    #[arg(long, env = "KHUTULUN_SYSTEMD_SCOPES")]
    pub systemd_scopes: bool,
    /// UDP address of the gossip socket [default: the API's IP, port 8183].
    #[arg(long, env = "KHUTULUN_GOSSIP")]
    pub gossip: Option<SocketAddr>,
    /// Join the cluster through this member's gossip address, HOST:PORT (repeatable; any
    /// live member will do).
    #[arg(
        long = "seed",
        value_name = "HOST:PORT",
        env = "KHUTULUN_SEEDS",
        value_delimiter = ','
    )]
    pub seeds: Vec<String>,
    /// Find members by UDP multicast on the local network.
    #[arg(long)]
    pub multicast: bool,
    /// Multicast group and port for --multicast.
    #[arg(long, default_value = "239.255.83.83:8184")]
    pub multicast_group: std::net::SocketAddrV4,
    /// File with the cluster key (from `khutulun keygen`); gossip is encrypted and
    /// authenticated with it, and packets with another key are dropped.
    #[arg(long, env = "KHUTULUN_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// A label of this host for placement policies, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// CPUs this host offers to workloads [default: all of the machine's].
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Memory this host offers to workloads, e.g. "8 GiB" [default: all of the machine's].
    #[arg(long)]
    pub memory: Option<String>,
    /// Failure detection timing: `lan` (default) or `fast` (quicker, more traffic; small
    /// clusters on a reliable network, tests).
    #[arg(long, value_parser = ["lan", "fast"], default_value = "lan")]
    pub gossip_profile: String,
    /// The Docker Engine's unix socket, for containers given to docker [default: DOCKER_HOST,
    /// else /var/run/docker.sock].
    #[arg(long, value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,
    /// The host lease, in seconds: the agent renews it on the shared state; when it cannot
    /// for three quarters of it, it stops its workloads; other hosts take them over once it
    /// has gone unrenewed for the whole of it plus --clock-skew. On NFS, no shorter than the
    /// server's lease (nfsv4leasetime). See docs/cluster.md.
    #[arg(long, env = "KHUTULUN_LEASE_PERIOD", default_value_t = 30, value_parser = clap::value_parser!(u64).range(4..=3600))]
    pub lease_period: u64,
    /// How far the hosts' clocks may disagree, in seconds (added to every lease wait).
    #[arg(long, env = "KHUTULUN_CLOCK_SKEW", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub clock_skew: u64,
}

#[derive(Debug, Subcommand)]
pub enum ToscaCommand {
    /// Check a TOSCA file (or a directory's service.yaml): exit 0 valid, 1 invalid, 2 unreadable.
    Validate {
        path: PathBuf,
        /// Directory where profiles that are not built in are looked for by name (after the
        /// template's own directory); repeat it, or set KHUTULUN_PROFILE_PATH (DIR:DIR...).
        #[arg(
            long = "profile-path",
            value_name = "DIR",
            env = "KHUTULUN_PROFILE_PATH",
            value_delimiter = ':'
        )]
        profile_path: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: crate::commands::tosca::DiagnosticFormat,
    },
    /// Compile and resolve a template with inputs; print its representation (nodes with
    /// their relationships, evaluated values, inputs, outputs).
    Compile {
        path: PathBuf,
        /// Directory where profiles that are not built in are looked for by name (after the
        /// template's own directory); repeat it, or set KHUTULUN_PROFILE_PATH (DIR:DIR...).
        #[arg(
            long = "profile-path",
            value_name = "DIR",
            env = "KHUTULUN_PROFILE_PATH",
            value_delimiter = ':'
        )]
        profile_path: Vec<PathBuf>,
        /// Input value, KEY=VALUE (VALUE is read as JSON when it parses, else as a string).
        #[arg(short = 'i', long = "input", value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
        output: crate::commands::tosca::CompileFormat,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: crate::commands::tosca::DiagnosticFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum CsarCommand {
    /// Pack DIR into a CSAR: zip for .csar/.zip, tar.gz for .tar.gz/.tgz, tar for .tar, with
    /// TOSCA-Metadata/TOSCA.meta naming the entry. Reproducible: the same tree gives the same
    /// bytes.
    Create {
        dir: PathBuf,
        /// The archive to write.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: PathBuf,
        /// The entry TOSCA file (relative to DIR) [default: DIR's only root YAML file].
        #[arg(long)]
        entry: Option<PathBuf>,
    },
}
