//! Relationships order the work and carry data: start after what you require, stop before
//! it; addresses, ports and directory paths arrive in the environment.

mod common;

use common::*;
use std::collections::HashMap;

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
node_types:
  Web:
    derived_from: Process
    requirements:
      - database:
          capability: TcpEndpoint
          relationship: ConnectsTo
service_template:
  node_templates:
    web:
      type: Web
      properties:
        command: sh
        arguments: [ -c, 'env > "$KHUTULUN_INSTANCE_DIR/env"; exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
        restart: never
      capabilities:
        endpoint: { properties: { port: 0 } }
      requirements:
        - database: db
        - connection: cache
        - directory: files
    db:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'sleep 0.3; exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
        environment: { ROLE: database }
    cache:
      type: Process
      properties:
        command: sh
        arguments: [ -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1' ]
    files:
      type: Directory
      properties:
        keep: false
"#;

#[test]
fn dependencies_start_first_stop_last_and_pass_their_data() {
    let agent = Agent::start();
    let dir = template_dir(&[("service.yaml", TEMPLATE)]);
    agent.ok(&["deploy", "rel", dir.path().to_str().unwrap(), "--wait"]);

    let events = agent.events();
    let position = |kind: &str, node: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["node"] == node)
            .unwrap_or_else(|| panic!("no {kind} for {node}"))
    };
    for dependency in ["db", "cache", "files"] {
        assert!(
            position("instance_running", dependency) < position("instance_starting", "web"),
            "web started before {dependency} ran"
        );
    }

    let instances: HashMap<String, serde_json::Value> = agent
        .instances("rel")
        .into_iter()
        .map(|i| (i["node"].as_str().unwrap().to_owned(), i))
        .collect();
    let env_text =
        std::fs::read_to_string(agent.data_dir().join("instances/default/rel/web-0/env")).unwrap();
    let env: HashMap<&str, &str> = env_text.lines().filter_map(|l| l.split_once('=')).collect();
    let db_port = instances["db"]["ports"]["endpoint"].to_string();
    let cache_port = instances["cache"]["ports"]["endpoint"].to_string();
    assert_eq!(env["DATABASE_HOST"], "127.0.0.1");
    assert_eq!(env["DATABASE_PORT"], db_port);
    assert_eq!(env["DATABASE_ADDRESS"], format!("127.0.0.1:{db_port}"));
    assert_eq!(
        env["CACHE_PORT"], cache_port,
        "generic connection: prefix from the target's name"
    );
    assert_eq!(
        env["PORT"],
        instances["web"]["ports"]["endpoint"].to_string()
    );
    let files_dir = agent.data_dir().join("volumes/default/rel/files-0");
    assert_eq!(env["FILES_DIR"], files_dir.to_str().unwrap());
    assert!(files_dir.is_dir());
    assert!(
        !env.contains_key("ROLE"),
        "another node's environment leaked"
    );
    assert!(!env.contains_key("KHUTULUN_TOKEN"));
    assert_eq!(env["KHUTULUN_SERVICE"], "rel");
    assert_eq!(env["KHUTULUN_NODE"], "web");
    // The directory's path is also an attribute.
    assert_eq!(
        instances["files"]["attributes"]["path"],
        files_dir.to_str().unwrap()
    );

    agent.ok(&["delete", "rel", "--wait"]);
    let events = agent.events();
    let stopped = |node: &str| {
        events
            .iter()
            .position(|e| e["type"] == "instance_stopped" && e["node"] == node)
            .unwrap_or_else(|| panic!("{node} never stopped"))
    };
    for dependency in ["db", "cache"] {
        assert!(
            stopped("web") < stopped(dependency),
            "{dependency} stopped before web"
        );
    }
    assert!(!files_dir.exists(), "keep: false removes the directory");
}
