//! A deploy's package is streamed to disk as it arrives: the agent's memory does not grow
//! with the package (a 500 MiB body used to take an agent to 2 GB), an oversized one is
//! refused as such (413), one that is not a tar.gz as a bad package (400), a package in a
//! form the agent does not take with 415, and nothing is left in the staging area.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Duration;

/// The agent's peak resident memory so far (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// PUTs `size` zero bytes as `content_type`, in 1 MiB writes; the status and body of the
/// answer (the agent may answer, and close, before all is sent).
fn put_zeros(url: &str, content_type: &str, size: usize) -> (u16, String) {
    let (mut stream, host, path) = connect(url, Duration::from_secs(60)).unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        if stream.write_all(&chunk[..n]).is_err() {
            break; // answered and closed early
        }
        sent += n;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn packages_are_streamed_to_disk_with_bounded_memory() {
    let agent = Agent::start();
    agent.ok(&["hosts"]);
    let pid = agent.child.as_ref().unwrap().id();
    let before = peak_kib(pid);
    let url = format!(
        "{}/v1/namespaces/default/services/big?entry=service.yaml",
        agent.url
    );

    let (status, body) = put_zeros(&url, "application/gzip", 200 << 20);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_package"), "{body}");
    let (status, body) = put_zeros(&url, "application/gzip", 300 << 20);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("package_too_large"), "{body}");
    let (status, body) = put_zeros(&url, "text/plain", 1 << 20);
    assert_eq!(status, 415, "{body}");

    let grown_mib = peak_kib(pid).saturating_sub(before) >> 10;
    println!("agent peak memory grew by {grown_mib} MiB for 500 MiB uploaded");
    assert!(
        grown_mib < 64,
        "the agent's peak memory grew by {grown_mib} MiB receiving 500 MiB"
    );
    let staging: Vec<_> = std::fs::read_dir(agent.state_dir().join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "left in the staging area: {staging:?}");
    let services = agent.json(&["services"]);
    assert_eq!(services.as_array().map(Vec::len), Some(0), "{services}");

    // The CLI streams its packages: a deploy works as before.
    let dir = template_dir(&[(
        "service.yaml",
        "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun:0.1\nservice_template:\n  inputs:\n    n: { type: integer }\n  node_templates: {}\n",
    )]);
    agent.ok(&[
        "deploy",
        "small",
        dir.path().to_str().unwrap(),
        "-i",
        "n=3",
        "--wait",
    ]);
}
