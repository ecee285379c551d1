use crate::cli::Format;
use crate::client::Client;
use crate::failure::CliResult;
use crate::table;
use chrono::{DateTime, Utc};
use khutulun_protocol::views::{
    DrainResult, GossipView, HostView, InstanceView, ServiceDetail, ServiceView,
};
use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time as the agent wrote it.
fn time(t: &DateTime<Utc>) -> String {
    s(&serde_json::to_value(t).unwrap_or_default())
}

/// A value that may be absent: `-` then.
fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

pub async fn services(client: &Client, ns: &str, format: Format) -> CliResult {
    let list = client
        .get_answer::<Vec<ServiceView>>(&format!("/namespaces/{ns}/services"))
        .await?;
    if format == Format::Json {
        super::print_json(&list.json);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .view
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.revision.to_string(),
                v.status.clone(),
                format!("{}/{}", v.running, v.instances),
                time(&v.updated_at),
            ]
        })
        .collect();
    table::print(&["NAME", "REVISION", "STATUS", "RUNNING", "UPDATED"], &rows);
    Ok(())
}

pub async fn service(
    client: &Client,
    ns: &str,
    name: &str,
    placement: bool,
    format: Format,
) -> CliResult {
    let answer = client
        .get_answer::<ServiceDetail>(&format!("/namespaces/{ns}/services/{name}"))
        .await?;
    let detail = &answer.view;
    if placement {
        return print_placement(&detail.instance_list, format);
    }
    if format == Format::Json {
        super::print_json(&answer.json);
        return Ok(());
    }
    let view = &detail.service;
    println!("Service:   {ns}/{name}");
    println!("Revision:  {}", view.revision);
    println!("Status:    {}", view.status);
    if let Some(message) = &view.message {
        println!("Message:   {message}");
    }
    println!("Entry:     {}", view.entry);
    println!("Inputs:    {}", serde_json::to_string(&view.inputs)?);
    println!("Created:   {}", time(&view.created_at));
    println!("Updated:   {}", time(&view.updated_at));
    println!();
    print_instances(&detail.instance_list, false);
    Ok(())
}

/// Where each instance went and why.
fn print_placement(instances: &[InstanceView], format: Format) -> CliResult {
    if format == Format::Json {
        let list: Vec<Value> = instances
            .iter()
            .map(|i| {
                serde_json::json!({
                    "node": i.node,
                    "index": i.index,
                    "host": i.host,
                    "reasons": i.placement,
                })
            })
            .collect();
        super::print_json(&list);
        return Ok(());
    }
    for instance in instances {
        println!("{}/{} on {}", instance.node, instance.index, instance.host);
        for reason in &instance.placement {
            println!("    {reason}");
        }
    }
    Ok(())
}

pub async fn outputs(client: &Client, ns: &str, name: &str, format: Format) -> CliResult {
    // Outputs are whatever JSON values the template's outputs evaluate to.
    let outputs: serde_json::Map<String, Value> = client
        .get(&format!("/namespaces/{ns}/services/{name}/outputs"))
        .await?;
    if format == Format::Json {
        super::print_json(&outputs);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = outputs.iter().map(|(k, v)| vec![k.clone(), s(v)]).collect();
    table::print(&["OUTPUT", "VALUE"], &rows);
    Ok(())
}

pub async fn instances(client: &Client, ns: &str, name: Option<&str>, format: Format) -> CliResult {
    let path = match name {
        Some(name) => format!("/namespaces/{ns}/services/{name}/instances"),
        None => format!("/namespaces/{ns}/instances"),
    };
    let list = client.get_answer::<Vec<InstanceView>>(&path).await?;
    if format == Format::Json {
        super::print_json(&list.json);
        return Ok(());
    }
    print_instances(&list.view, name.is_none());
    Ok(())
}

fn print_instances(list: &[InstanceView], with_service: bool) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let ports = v
                .ports
                .iter()
                .map(|(k, p)| format!("{k}={p}"))
                .collect::<Vec<_>>()
                .join(",");
            let mut row = Vec::new();
            if with_service {
                row.push(v.service.clone());
            }
            row.extend([
                format!("{}/{}", v.node, v.index),
                v.host.clone(),
                v.delegate.clone(),
                v.state.clone(),
                or_dash(v.pid),
                if ports.is_empty() { "-".into() } else { ports },
                v.restarts.to_string(),
            ]);
            row
        })
        .collect();
    let mut headers = Vec::new();
    if with_service {
        headers.push("SERVICE");
    }
    headers.extend([
        "INSTANCE", "HOST", "DELEGATE", "STATE", "PID", "PORTS", "RESTARTS",
    ]);
    table::print(&headers, &rows);
}

pub async fn hosts(client: &Client, format: Format) -> CliResult {
    let list = client.get_answer::<Vec<HostView>>("/hosts").await?;
    if format == Format::Json {
        super::print_json(&list.json);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .view
        .iter()
        .map(|v| {
            let labels = v
                .labels
                .iter()
                .map(|(k, l)| format!("{k}={l}"))
                .collect::<Vec<_>>()
                .join(",");
            let state = if v.draining {
                format!("{} (draining)", v.state)
            } else {
                v.state.clone()
            };
            vec![
                v.name.clone(),
                v.address.clone(),
                state,
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels
                },
                v.instances.to_string(),
            ]
        })
        .collect();
    table::print(&["NAME", "ADDRESS", "STATE", "LABELS", "INSTANCES"], &rows);
    // What a state alone does not say (a dead host's instances waiting for fencing, a
    // fenced or stalled host), below the table.
    for v in &list.view {
        if let Some(note) = &v.note {
            println!("{}: {note}", v.name);
        }
    }
    Ok(())
}

pub async fn drain(client: &Client, name: &str, format: Format) -> CliResult {
    eprintln!("draining host {name}: moving its instances to other hosts...");
    let what = format!("POST /hosts/{name}/drain");
    let response = client
        .send(client.request(reqwest::Method::POST, &format!("/hosts/{name}/drain")))
        .await?;
    let answer = client.answer::<DrainResult>(response, &what).await?;
    let result = &answer.view;
    if format == Format::Json {
        super::print_json(&answer.json);
    } else {
        println!("host {name} drained: {} instance(s) moved", result.moved);
    }
    if result.problems.is_empty() {
        Ok(())
    } else {
        Err(crate::failure::Failure::new(format!(
            "some instances could not be moved off host {name}:\n  {}",
            result.problems.join("\n  ")
        )))
    }
}

pub async fn undrain(client: &Client, name: &str) -> CliResult {
    client
        .send(client.request(reqwest::Method::DELETE, &format!("/hosts/{name}/drain")))
        .await?;
    println!("host {name} takes new instances again");
    Ok(())
}

pub async fn gossip(client: &Client, format: Format) -> CliResult {
    let answer = client.get_answer::<GossipView>("/gossip").await?;
    if format == Format::Json {
        super::print_json(&answer.json);
        return Ok(());
    }
    let view = &answer.view;
    println!("Host:       {}", view.host);
    println!("Gossip:     {}", view.gossip_addr);
    println!(
        "Encrypted:  {}",
        if view.encrypted {
            "yes"
        } else {
            "no (pass --key-file)"
        }
    );
    println!(
        "Packets:    {} in, {} out, dropped: {} wrong key, {} malformed",
        view.packets_in, view.packets_out, view.dropped_bad_key, view.dropped_malformed
    );
    println!();
    let rows: Vec<Vec<String>> = view
        .members
        .iter()
        .map(|m| vec![m.name.clone(), m.gossip_addr.clone(), m.state.clone()])
        .collect();
    table::print(&["MEMBER", "GOSSIP", "STATE"], &rows);
    Ok(())
}
