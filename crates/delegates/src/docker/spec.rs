//! The pure decisions of the docker delegate: which socket, which ulimits, what the Engine
//! API's create request holds, and how an exit status reads. Kept free of I/O so that unit
//! tests cover them without an engine.

use crate::container::{ContainerSpec, Network, HOST_ALIAS};
use crate::delegate::{DelegateError, Exit};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, ResourcesUlimits};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where dockerd listens when neither the agent nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The label that tells [`super::DockerDelegate::wait`] where the container's output goes:
/// `wait` only has the [`crate::Running`] record, and a label survives agent restarts.
pub const LOG_DIRECTORY_LABEL: &str = "io.khutulun.log-directory";

/// The socket to talk to: the explicit one, else `DOCKER_HOST` (only `unix://` URLs or bare
/// paths: the agent talks to a local engine), else [`DEFAULT_SOCKET`].
pub fn socket_path(
    explicit: Option<&Path>,
    docker_host: Option<&str>,
) -> Result<PathBuf, DelegateError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    match docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
        Some(host) => {
            if let Some(path) = host.strip_prefix("unix://") {
                Ok(PathBuf::from(path))
            } else if host.starts_with('/') {
                Ok(PathBuf::from(host))
            } else {
                Err(DelegateError::Invalid(format!(
                    "DOCKER_HOST={host} is not a unix socket: the docker delegate only talks to a local engine (unix:///path/to/docker.sock)"
                )))
            }
        }
    }
}

/// True when the capability set (the `CapEff` mask of /proc/self/status) holds
/// CAP_SYS_RESOURCE.
pub fn has_sys_resource(cap_eff: u64) -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    cap_eff & (1 << CAP_SYS_RESOURCE) != 0
}

/// The agent's effective capabilities, from /proc/self/status (all of them when unreadable:
/// then the engine's defaults are kept).
pub fn own_effective_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// The per-container ulimits to ask for.
///
/// Why: an OCI runtime applies the rlimits of the container's spec with setrlimit, and
/// RAISING a hard limit above the runtime's own needs CAP_SYS_RESOURCE. When the engine (or
/// an administrator's `default-ulimits` in daemon.json) asks for more than the host allows,
/// runc fails with "error setting rlimit type 7: operation not permitted" — this happens in
/// unprivileged CI containers and nested sandboxes, which drop CAP_SYS_RESOURCE. The
/// delegate cannot see dockerd's configuration, so when the agent lacks the capability (a
/// dockerd beside it is in the same boat) it pins `nofile` and `nproc` to the agent's own
/// hard limits: never a raise, and it overrides any daemon default. With the capability
/// (or infinite hard limits, which cannot be raised) the engine's defaults stay.
///
/// `None` for a hard limit means RLIM_INFINITY.
pub fn container_ulimits(
    can_raise: bool,
    nofile_hard: Option<u64>,
    nproc_hard: Option<u64>,
) -> Option<Vec<ResourcesUlimits>> {
    if can_raise {
        return None;
    }
    let limits: Vec<ResourcesUlimits> = [("nofile", nofile_hard), ("nproc", nproc_hard)]
        .into_iter()
        .filter_map(|(name, hard)| {
            // An infinite hard limit is never exceeded: nothing to pin.
            let hard = i64::try_from(hard?).ok()?;
            Some(ResourcesUlimits {
                name: Some(name.to_string()),
                soft: Some(hard),
                hard: Some(hard),
            })
        })
        .collect();
    (!limits.is_empty()).then_some(limits)
}

/// [`container_ulimits`] for this process.
pub fn own_container_ulimits() -> Option<Vec<ResourcesUlimits>> {
    use rustix::process::{getrlimit, Resource};
    container_ulimits(
        has_sys_resource(own_effective_capabilities()),
        getrlimit(Resource::Nofile).maximum,
        getrlimit(Resource::Nproc).maximum,
    )
}

/// The Engine API's create request for `spec`.
pub fn create_body(
    spec: &ContainerSpec,
    ulimits: Option<Vec<ResourcesUlimits>>,
) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(
        LOG_DIRECTORY_LABEL.to_string(),
        spec.log_directory.display().to_string(),
    );
    let env: Vec<String> = spec
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let binds: Vec<String> = spec
        .mounts
        .iter()
        .map(|m| {
            let mut bind = format!("{}:{}", m.source.display(), m.target);
            if m.read_only {
                bind.push_str(":ro");
            }
            bind
        })
        .collect();
    // With the host's network the workload listens on its ports itself: docker would
    // discard published ports (with a warning), so none are sent.
    let (network_mode, exposed_ports, port_bindings) = match spec.network {
        Network::Host => ("host", None, None),
        Network::Bridge => {
            let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
            for port in &spec.ports {
                bindings
                    .entry(format!("{}/tcp", port.container_port))
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: None,
                        host_port: Some(port.host_port.to_string()),
                    });
            }
            let mut exposed: Vec<String> = bindings.keys().cloned().collect();
            exposed.sort();
            (
                "bridge",
                (!exposed.is_empty()).then_some(exposed),
                (!bindings.is_empty()).then_some(bindings),
            )
        }
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // An empty entrypoint list resets the image's entrypoint; the API spells that [""].
        entrypoint: spec.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                e.clone()
            }
        }),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        env: (!env.is_empty()).then_some(env),
        labels: Some(labels),
        exposed_ports,
        tty: Some(false),
        open_stdin: Some(false),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        host_config: Some(HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            network_mode: Some(network_mode.to_string()),
            // Connections to services on the host's loopback are given by this name.
            extra_hosts: (spec.network == Network::Bridge)
                .then(|| vec![format!("{HOST_ALIAS}:host-gateway")]),
            port_bindings,
            ulimits,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// How a container ended, from its exit code and what the engine saw.
///
/// Docker reports a container whose main process died of signal N as exit code 128+N (137
/// for SIGKILL, 143 for SIGTERM), exactly like a program that calls `exit(128+N)`. The code
/// is read as a signal (`Exit { code: None, signal: Some(N) }`, as the process delegate
/// reports signals) only with evidence: the engine sent signal N itself (a `kill` event from
/// `docker kill`/`docker stop`, or the API) or the kernel's OOM killer ended it (`OOMKilled`,
/// 137). Any other code, 137 after a `kill -9` from the host included, stays an exit code.
pub fn exit_from(code: i64, oom_killed: bool, signals_sent: &[i32]) -> Exit {
    let code = i32::try_from(code).unwrap_or(i32::MAX);
    let signal = code - 128;
    if (1..=64).contains(&signal)
        && (signals_sent.contains(&signal) || (oom_killed && signal == libc::SIGKILL))
    {
        Exit {
            code: None,
            signal: Some(signal),
        }
    } else {
        Exit {
            code: Some(code),
            signal: None,
        }
    }
}

/// The signal number of a `kill` event's `signal` attribute ("9", "15", or a name such as
/// "SIGTERM"/"KILL").
pub fn signal_number(attribute: &str) -> Option<i32> {
    if let Ok(n) = attribute.parse() {
        return Some(n);
    }
    let name = attribute.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{ImageSource, Mount, PortMapping};
    use std::collections::BTreeMap;

    #[test]
    fn socket_path_prefers_explicit_then_docker_host_then_default() {
        let explicit = Path::new("/run/x.sock");
        assert_eq!(
            socket_path(Some(explicit), Some("unix:///y.sock")).unwrap(),
            explicit
        );
        assert_eq!(
            socket_path(None, Some("unix:///y.sock")).unwrap(),
            Path::new("/y.sock")
        );
        assert_eq!(
            socket_path(None, Some("/z.sock")).unwrap(),
            Path::new("/z.sock")
        );
        assert_eq!(socket_path(None, None).unwrap(), Path::new(DEFAULT_SOCKET));
        assert_eq!(
            socket_path(None, Some("")).unwrap(),
            Path::new(DEFAULT_SOCKET)
        );
        let err = socket_path(None, Some("tcp://10.0.0.1:2375")).unwrap_err();
        assert!(err.to_string().contains("not a unix socket"), "{err}");
    }

    #[test]
    fn ulimits_are_pinned_to_own_hard_limits_only_without_cap_sys_resource() {
        // The capability mask of this machine's sandbox: everything but bit 24.
        assert!(!has_sys_resource(0x0000_01ff_feff_ffff));
        assert!(has_sys_resource(0x0000_01ff_ffff_ffff));

        assert_eq!(container_ulimits(true, Some(20000), Some(32768)), None);
        let limits = container_ulimits(false, Some(20000), Some(32768)).unwrap();
        assert_eq!(
            limits,
            vec![
                ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(20000),
                    hard: Some(20000)
                },
                ResourcesUlimits {
                    name: Some("nproc".into()),
                    soft: Some(32768),
                    hard: Some(32768)
                },
            ]
        );
        // Infinite hard limits cannot be exceeded: nothing to pin.
        let limits = container_ulimits(false, None, Some(100)).unwrap();
        assert_eq!(limits.len(), 1);
        assert_eq!(limits[0].name.as_deref(), Some("nproc"));
        assert_eq!(container_ulimits(false, None, None), None);
    }

    fn spec(network: Network) -> ContainerSpec {
        ContainerSpec {
            name: "web".into(),
            image: "localhost/web:1".into(),
            image_source: ImageSource::Local,
            entrypoint: Some(vec![]),
            command: vec!["httpd".into(), "-f".into()],
            environment: BTreeMap::from([("A".into(), "1".into())]),
            network,
            ports: vec![PortMapping {
                endpoint: "http".into(),
                host_port: 8080,
                container_port: 80,
            }],
            mounts: vec![Mount {
                source: "/srv/www".into(),
                target: "/www".into(),
                read_only: true,
            }],
            labels: BTreeMap::from([("io.khutulun.instance".into(), "ns/s/n/0".into())]),
            log_directory: "/var/log/k/web".into(),
            pod: None,
        }
    }

    #[test]
    fn create_body_carries_the_spec() {
        let body = create_body(&spec(Network::Bridge), None);
        assert_eq!(body.image.as_deref(), Some("localhost/web:1"));
        assert_eq!(body.entrypoint, Some(vec![String::new()]));
        assert_eq!(body.cmd, Some(vec!["httpd".to_string(), "-f".to_string()]));
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let labels = body.labels.unwrap();
        assert_eq!(labels["io.khutulun.instance"], "ns/s/n/0");
        assert_eq!(labels[LOG_DIRECTORY_LABEL], "/var/log/k/web");
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host.binds, Some(vec!["/srv/www:/www:ro".to_string()]));
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings["80/tcp"],
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some("8080".into())
            }])
        );
        assert_eq!(host.ulimits, None);

        let body = create_body(
            &spec(Network::Host),
            container_ulimits(false, Some(5), None),
        );
        assert_eq!(body.exposed_ports, None);
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.port_bindings, None);
        assert_eq!(host.ulimits.unwrap().len(), 1);
    }

    #[test]
    fn exit_codes_read_as_signals_only_with_evidence() {
        let exit = |code, signal| Exit { code, signal };
        assert_eq!(exit_from(0, false, &[]), exit(Some(0), None));
        assert_eq!(exit_from(3, false, &[]), exit(Some(3), None));
        // docker kill -s KILL / docker stop past its grace.
        assert_eq!(exit_from(137, false, &[15, 9]), exit(None, Some(9)));
        assert_eq!(exit_from(143, false, &[15]), exit(None, Some(15)));
        // The OOM killer.
        assert_eq!(exit_from(137, true, &[]), exit(None, Some(9)));
        // A program that exits 137 on its own, or a kill -9 from the host the engine did
        // not see.
        assert_eq!(exit_from(137, false, &[]), exit(Some(137), None));
        // A program that handled SIGTERM and exited 0.
        assert_eq!(exit_from(0, false, &[15]), exit(Some(0), None));
    }

    #[test]
    fn signal_attributes_parse() {
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("kill"), Some(9));
        assert_eq!(signal_number("WHAT"), None);
    }
}
