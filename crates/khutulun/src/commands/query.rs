use crate::cli::Format;
use crate::client::Client;
use crate::failure::CliResult;
use crate::table;
use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn services(client: &Client, ns: &str, format: Format) -> CliResult {
    let list: Vec<Value> = client.get(&format!("/namespaces/{ns}/services")).await?;
    if format == Format::Json {
        super::print_json(&list);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            vec![
                s(&v["name"]),
                s(&v["revision"]),
                s(&v["status"]),
                format!("{}/{}", v["running"], v["instances"]),
                s(&v["updated_at"]),
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
    let view: Value = client
        .get(&format!("/namespaces/{ns}/services/{name}"))
        .await?;
    if placement {
        return print_placement(&view, format);
    }
    if format == Format::Json {
        super::print_json(&view);
        return Ok(());
    }
    println!("Service:   {ns}/{name}");
    println!("Revision:  {}", s(&view["revision"]));
    println!("Status:    {}", s(&view["status"]));
    if let Some(message) = view["message"].as_str() {
        println!("Message:   {message}");
    }
    println!("Entry:     {}", s(&view["entry"]));
    println!("Inputs:    {}", view["inputs"]);
    println!("Created:   {}", s(&view["created_at"]));
    println!("Updated:   {}", s(&view["updated_at"]));
    println!();
    let instances = view["instance_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    print_instances(&instances, false);
    Ok(())
}

/// Where each instance went and why.
fn print_placement(view: &Value, format: Format) -> CliResult {
    let instances = view["instance_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if format == Format::Json {
        let list: Vec<Value> = instances
            .iter()
            .map(|i| {
                serde_json::json!({
                    "node": i["node"],
                    "index": i["index"],
                    "host": i["host"],
                    "reasons": i["placement"],
                })
            })
            .collect();
        super::print_json(&list);
        return Ok(());
    }
    for instance in &instances {
        println!(
            "{}/{} on {}",
            s(&instance["node"]),
            instance["index"],
            s(&instance["host"])
        );
        for reason in instance["placement"].as_array().into_iter().flatten() {
            println!("    {}", s(reason));
        }
    }
    Ok(())
}

pub async fn outputs(client: &Client, ns: &str, name: &str, format: Format) -> CliResult {
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
    let list: Vec<Value> = client.get(&path).await?;
    if format == Format::Json {
        super::print_json(&list);
        return Ok(());
    }
    print_instances(&list, name.is_none());
    Ok(())
}

fn print_instances(list: &[Value], with_service: bool) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let ports = v["ports"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, p)| format!("{k}={p}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "-".into());
            let mut row = Vec::new();
            if with_service {
                row.push(s(&v["service"]));
            }
            row.extend([
                format!("{}/{}", s(&v["node"]), v["index"]),
                s(&v["host"]),
                s(&v["delegate"]),
                s(&v["state"]),
                s(&v["pid"]),
                ports,
                s(&v["restarts"]),
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
    let list: Vec<Value> = client.get("/hosts").await?;
    if format == Format::Json {
        super::print_json(&list);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let labels = v["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, l)| format!("{k}={}", s(l)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "-".into());
            let state = if v["draining"] == Value::Bool(true) {
                format!("{} (draining)", s(&v["state"]))
            } else {
                s(&v["state"])
            };
            vec![
                s(&v["name"]),
                s(&v["address"]),
                state,
                labels,
                s(&v["instances"]),
            ]
        })
        .collect();
    table::print(&["NAME", "ADDRESS", "STATE", "LABELS", "INSTANCES"], &rows);
    // What a state alone does not say (a dead host's instances waiting for fencing, a
    // fenced or stalled host), below the table.
    for v in &list {
        if let Some(note) = v["note"].as_str() {
            println!("{}: {note}", s(&v["name"]));
        }
    }
    Ok(())
}

pub async fn drain(client: &Client, name: &str, format: Format) -> CliResult {
    eprintln!("draining host {name}: moving its instances to other hosts...");
    let response = client
        .send(client.request(reqwest::Method::POST, &format!("/hosts/{name}/drain")))
        .await?;
    let result: Value = response.json().await.map_err(|e| {
        crate::failure::Failure::new(format!("unreadable answer from the agent: {e}"))
    })?;
    if format == Format::Json {
        super::print_json(&result);
    } else {
        println!(
            "host {name} drained: {} instance(s) moved",
            s(&result["moved"])
        );
    }
    let problems: Vec<String> = result["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(crate::failure::Failure::new(format!(
            "some instances could not be moved off host {name}:\n  {}",
            problems.join("\n  ")
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
    let view: Value = client.get("/gossip").await?;
    if format == Format::Json {
        super::print_json(&view);
        return Ok(());
    }
    println!("Host:       {}", s(&view["host"]));
    println!("Gossip:     {}", s(&view["gossip_addr"]));
    println!(
        "Encrypted:  {}",
        if view["encrypted"] == Value::Bool(true) {
            "yes"
        } else {
            "no (pass --key-file)"
        }
    );
    println!(
        "Packets:    {} in, {} out, dropped: {} wrong key, {} malformed",
        view["packets_in"], view["packets_out"], view["dropped_bad_key"], view["dropped_malformed"]
    );
    println!();
    let rows: Vec<Vec<String>> = view["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| vec![s(&m["name"]), s(&m["gossip_addr"]), s(&m["state"])])
        .collect();
    table::print(&["MEMBER", "GOSSIP", "STATE"], &rows);
    Ok(())
}
