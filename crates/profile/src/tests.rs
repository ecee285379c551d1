use super::*;
use khutulun_tosca::{compile_text, ExprKind, ServiceTemplate, TypeName};

fn compile(text: &str) -> ServiceTemplate {
    match compile_text("service.yaml", text, &registry()) {
        Ok(template) => template,
        Err(errors) => panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn khutulun(name: &str) -> TypeName {
    TypeName {
        name: name.to_string(),
        profile: Some(PROFILE_NAME.to_string()),
    }
}

#[test]
fn the_profile_compiles_on_its_own_without_warnings() {
    let template = compile(PROFILE_YAML);
    assert!(template.node_templates.is_empty());
    assert!(template.warnings.is_empty(), "{:?}", template.warnings);
}

#[test]
fn the_profile_declares_the_name_it_is_registered_under() {
    assert!(PROFILE_YAML.contains(&format!("profile: {PROFILE_NAME}")));
    assert!(PROFILE_NAME.starts_with(PROFILE_PREFIX));
}

const EVERY_TYPE: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
    namespace: k
service_template:
  node_templates:
    data:
      type: k:Directory
      properties:
        mode: "0700"
    db:
      type: k:Process
      properties:
        command: postgres
        arguments: [ -D, /var/lib/db ]
      capabilities:
        endpoint:
          properties: { port: 5432 }
      requirements:
        - directory: data
    app:
      type: k:Process
      properties:
        command: ./app
        environment: { MODE: production }
        restart: always
      requirements:
        - connection:
            node: db
            relationship:
              type: k:ConnectsTo
              properties: { env_prefix: DB }
        - directory:
            node: data
            capability: storage
            relationship: k:UsesDirectory
"#;

#[test]
fn a_template_using_every_type_compiles() {
    let template = compile(EVERY_TYPE);
    let data = template.node_template("data").unwrap();
    assert_eq!(data.types, vec![khutulun(DIRECTORY), khutulun(ROOT)]);
    assert_eq!(
        data.capabilities["storage"].types[0],
        khutulun(DIRECTORY_STORAGE)
    );
    assert_eq!(data.properties["keep"].kind, ExprKind::Bool(true));
    assert_eq!(
        data.properties["mode"].kind,
        ExprKind::String("0700".into())
    );
    assert!(!data.properties.contains_key("path"));

    let db = template.node_template("db").unwrap();
    assert_eq!(db.types[0], khutulun(PROCESS));
    assert_eq!(db.capabilities["endpoint"].types[0], khutulun(TCP_ENDPOINT));
    assert_eq!(
        db.capabilities["endpoint"].properties["port"].kind,
        ExprKind::Integer(5432)
    );
    assert_eq!(db.requirements.len(), 1);
    assert_eq!(
        db.requirements[0].relationship.types[0],
        khutulun(USES_DIRECTORY)
    );
    assert_eq!(db.requirements[0].capability, "storage");

    let app = template.node_template("app").unwrap();
    let connection = &app.requirements[0];
    assert_eq!(
        (connection.target.as_str(), connection.capability.as_str()),
        ("db", "endpoint")
    );
    assert_eq!(
        connection.relationship.types,
        vec![khutulun(CONNECTS_TO), khutulun(ROOT)]
    );
    assert_eq!(
        connection.relationship.properties["env_prefix"].kind,
        ExprKind::String("DB".into())
    );
    assert_eq!(app.properties["stop_timeout"].kind, ExprKind::Integer(10));
    assert_eq!(app.properties["arguments"].kind, ExprKind::List(vec![]));
    assert!(app.attributes.contains_key("pid"));
    assert!(app.attributes.contains_key("state"));
}

const HELLO: &str = r#"
tosca_definitions_version: tosca_2_0
description: Hello world
imports:
  - profile: io.khutulun:0.1
service_template:
  inputs:
    greeting: { type: string, default: hello }
  node_templates:
    backend:
      type: Process
      properties:
        command: python3
        arguments: [ backend.py ]
        environment: { GREETING: { $get_input: greeting } }
    frontend:
      type: Process
      properties:
        command: python3
        arguments: [ frontend.py ]
      capabilities:
        endpoint:
          properties: { port: 0 }
      requirements:
        - connection: backend
  outputs:
    url:
      value: { $concat: [ "http://", { $get_attribute: [ frontend, address ] }, ":", { $get_attribute: [ frontend, CAPABILITY, endpoint, port ] }, "/" ] }
"#;

#[test]
fn the_first_example_compiles() {
    let template = compile(HELLO);
    let frontend = template.node_template("frontend").unwrap();
    assert_eq!(frontend.requirements[0].target, "backend");
    assert_eq!(frontend.requirements[0].capability, "endpoint");
    let backend = template.node_template("backend").unwrap();
    assert!(!backend.capabilities["endpoint"]
        .properties
        .contains_key("port"));
    assert_eq!(
        frontend.capabilities["endpoint"].properties["port"].kind,
        ExprKind::Integer(0)
    );
}

#[test]
fn a_misspelt_profile_type_is_reported_with_the_known_ones() {
    let text = HELLO.replace("type: Process\n      properties:\n        command: python3\n        arguments: [ frontend.py ]", "type: Procss\n      properties:\n        command: python3\n        arguments: [ frontend.py ]");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    let first = errors[0].to_string();
    assert!(
        first.contains("unknown node type \"Procss\" in node template \"frontend\" (did you mean \"Process\"?); known node types: Container, Directory, Pod, Process, Root, SystemContainer"),
        "{first}"
    );
}

#[test]
fn the_hello_world_example_of_the_repository_compiles() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello-world/service.yaml"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hello-world example should be at {path}: {e}"));
    let template = compile(&text);
    let frontend = template.node_template("frontend").unwrap();
    assert_eq!(frontend.requirements[0].target, "backend");
    assert_eq!(
        frontend.requirements[0].relationship.types[0],
        khutulun(CONNECTS_TO)
    );
}

const POLICIES: &str = r#"
tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    web:
      type: Process
      properties: { command: web }
    cache:
      type: Process
      properties: { command: cache }
  groups:
    front:
      type: Root
      members: [ web, cache ]
  policies:
    - three:
        type: Redundancy
        properties: { instances: 3 }
        targets: [ web ]
    - apart:
        type: Separation
        targets: [ web ]
    - pair:
        type: Colocation
        targets: [ front ]
    - ssd:
        type: Placement
        properties: { labels: { disk: ssd } }
        targets: [ web ]
    - sizes:
        type: Resources
        properties: { cpu: 0.5, memory: 256 MiB }
        targets: [ cache ]
"#;

#[test]
fn policies_compile_with_their_defaults_and_targets() {
    let template = compile(POLICIES);
    let names: Vec<&str> = template.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["three", "apart", "pair", "ssd", "sizes"]);
    let apart = &template.policies[1];
    assert_eq!(apart.types[0], khutulun(SEPARATION));
    assert_eq!(apart.properties["strict"].to_json(), Some(true.into()));
    assert_eq!(template.policies[2].targets, ["front"]);
    assert_eq!(template.groups[0].targets, ["web", "cache"]);
    let sizes = &template.policies[4];
    assert_eq!(sizes.properties["memory"].to_json(), Some("256 MiB".into()));
}

#[test]
fn a_bad_policy_property_is_reported() {
    let text = POLICIES.replace("instances: 3", "instances: three");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains("instances")),
        "{errors:?}"
    );
    let text = POLICIES.replace("256 MiB", "256 parsecs");
    let errors = compile_text("service.yaml", &text, &registry()).unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains("memory")),
        "{errors:?}"
    );
}

fn simple(name: &str) -> TypeName {
    TypeName {
        name: name.to_string(),
        profile: Some(SIMPLE_PROFILE_NAME.to_string()),
    }
}

fn simple_names(names: &[&str]) -> Vec<TypeName> {
    names.iter().map(|name| simple(name)).collect()
}

#[test]
fn both_profiles_are_registered() {
    let registry = registry();
    let names: Vec<&str> = registry.names().collect();
    assert!(names.contains(&PROFILE_NAME), "{names:?}");
    assert!(names.contains(&SIMPLE_PROFILE_NAME), "{names:?}");
    assert!(SIMPLE_PROFILE_YAML.contains(&format!("profile: {SIMPLE_PROFILE_NAME}")));
}

#[test]
fn the_simple_profile_compiles_on_its_own_without_warnings() {
    let template = compile(SIMPLE_PROFILE_YAML);
    assert!(template.node_templates.is_empty());
    assert!(template.warnings.is_empty(), "{:?}", template.warnings);
}

#[test]
fn importing_the_simple_profile_alone_is_valid() {
    // The profile import example of the standard (§6.8.3).
    let template = compile(
        "tosca_definitions_version: tosca_2_0\nimports:\n- profile: org.oasis-open.tosca.simple:2.0\n",
    );
    assert!(template.node_templates.is_empty());
    assert!(template.warnings.is_empty(), "{:?}", template.warnings);
}

const SHOP: &str = r#"
tosca_definitions_version: tosca_2_0
description: A web shop on one virtual machine, its database on another.
imports:
  - profile: org.oasis-open.tosca.simple:2.0
node_types:
  Shop:
    derived_from: WebApplication
    requirements:
      - database:
          capability: Endpoint.Database
          node: Database
          relationship: ConnectsTo
          count_range: [ 1, 1 ]
service_template:
  inputs:
    db_password: { type: string }
  node_templates:
    web_vm:
      type: Compute
      capabilities:
        host:
          properties: { num_cpus: 2, mem_size: 4 GiB, disk_size: 20 GB, cpu_frequency: 2.4 GHz }
        os:
          properties: { type: linux, distribution: debian, version: "12.0" }
    db_vm:
      type: Compute
      capabilities:
        host:
          properties: { num_cpus: 4, mem_size: 16 GiB }
      requirements:
        - local_storage:
            node: db_volume
            relationship:
              type: AttachesTo
              properties: { location: /var/lib/postgresql }
    db_volume:
      type: Storage.BlockStorage
      properties: { name: db-data, size: 100 GiB }
    agent:
      type: SoftwareComponent
      properties: { component_version: 1.4.2 }
      requirements:
        - host: web_vm
    nginx:
      type: WebServer
      capabilities:
        data_endpoint:
          properties: { protocol: http, port: 8080 }
      requirements:
        - host: web_vm
    shop:
      type: Shop
      properties: { context_root: /shop }
      requirements:
        - host: nginx
        - database:
            node: shop_db
            relationship:
              type: ConnectsTo
              properties:
                credential: { user: shop, token: { $get_input: db_password } }
    postgres:
      type: DBMS
      properties: { port: 5432, root_password: { $get_input: db_password } }
      requirements:
        - host: db_vm
    shop_db:
      type: Database
      properties: { name: shop, port: 5432, user: shop }
      capabilities:
        database_endpoint:
          properties:
            port: 5432
            ports:
              main: { target: 5432 }
              replicas: { protocol: tcp, target_range: [ 5433, 5440 ] }
      requirements:
        - host: postgres
    lb:
      type: LoadBalancer
      properties: { algorithm: round-robin }
      requirements:
        - application: shop
"#;

#[test]
fn a_template_using_the_simple_profile_compiles_with_its_requirements_fulfilled() {
    let template = compile(SHOP);
    assert!(template.warnings.is_empty(), "{:?}", template.warnings);
    for node in &template.node_templates {
        assert!(
            node.unfulfilled.is_empty(),
            "{}: {:?}",
            node.name,
            node.unfulfilled
        );
    }
    let relationships = |name: &str| -> Vec<(String, String, String, TypeName)> {
        template
            .node_template(name)
            .unwrap()
            .requirements
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.target.clone(),
                    r.capability.clone(),
                    r.relationship.types[0].clone(),
                )
            })
            .collect()
    };
    let edge = |requirement: &str, target: &str, capability: &str, relationship: &str| {
        (
            requirement.to_string(),
            target.to_string(),
            capability.to_string(),
            simple(relationship),
        )
    };
    assert_eq!(
        relationships("agent"),
        [edge("host", "web_vm", "host", "HostedOn")]
    );
    assert_eq!(
        relationships("nginx"),
        [edge("host", "web_vm", "host", "HostedOn")]
    );
    assert_eq!(
        relationships("shop"),
        [
            edge("host", "nginx", "host", "HostedOn"),
            edge("database", "shop_db", "database_endpoint", "ConnectsTo"),
        ]
    );
    assert_eq!(
        relationships("postgres"),
        [edge("host", "db_vm", "host", "HostedOn")]
    );
    assert_eq!(
        relationships("shop_db"),
        [edge("host", "postgres", "host", "HostedOn")]
    );
    assert_eq!(
        relationships("db_vm"),
        [edge(
            "local_storage",
            "db_volume",
            "attachment",
            "AttachesTo"
        )]
    );
    assert_eq!(
        relationships("lb"),
        [edge("application", "shop", "app_endpoint", "RoutesTo")]
    );
    assert!(relationships("web_vm").is_empty());

    let web_vm = template.node_template("web_vm").unwrap();
    assert_eq!(
        web_vm.types,
        simple_names(&["Compute", "Abstract.Compute", "Root"])
    );
    let host = &web_vm.capabilities["host"];
    assert_eq!(host.types, simple_names(&["Compute", "Container", "Root"]));
    assert_eq!(host.properties["num_cpus"].kind, ExprKind::Integer(2));
    assert_eq!(host.properties["mem_size"].to_json(), Some("4 GiB".into()));
    assert_eq!(
        host.properties["cpu_frequency"].to_json(),
        Some("2.4 GHz".into())
    );
    // Endpoint.Admin fixes `secure`; the defaults of Endpoint and Scalable apply.
    let admin = &web_vm.capabilities["endpoint"];
    assert_eq!(admin.types[0], simple("Endpoint.Admin"));
    assert_eq!(admin.properties["secure"].kind, ExprKind::Bool(true));
    assert_eq!(
        admin.properties["network_name"].kind,
        ExprKind::String("PRIVATE".into())
    );
    let scalable = &web_vm.capabilities["scalable"].properties;
    assert_eq!(scalable["min_instances"].kind, ExprKind::Integer(1));
    assert_eq!(scalable["max_instances"].kind, ExprKind::Integer(1));
    assert!(!scalable.contains_key("default_instances"));
    assert!(web_vm.attributes.contains_key("public_address"));
    assert!(web_vm.attributes.contains_key("tosca_id"));

    let volume = template.node_template("db_volume").unwrap();
    assert_eq!(
        volume.types,
        simple_names(&["Storage.BlockStorage", "Abstract.Storage", "Root"])
    );
    assert_eq!(volume.properties["size"].to_json(), Some("100 GiB".into()));
    let attach = &template.node_template("db_vm").unwrap().requirements[0];
    assert_eq!(
        attach.relationship.properties["location"].kind,
        ExprKind::String("/var/lib/postgresql".into())
    );

    let postgres = template.node_template("postgres").unwrap();
    assert_eq!(
        postgres.types,
        simple_names(&["DBMS", "SoftwareComponent", "Root"])
    );
    assert_eq!(postgres.properties["port"].kind, ExprKind::Integer(5432));

    let shop_db = template.node_template("shop_db").unwrap();
    let endpoint = &shop_db.capabilities["database_endpoint"];
    assert_eq!(
        endpoint.types,
        simple_names(&["Endpoint.Database", "Endpoint", "Root"])
    );
    assert_eq!(endpoint.properties["port"].kind, ExprKind::Integer(5432));
    assert_eq!(
        endpoint.properties["protocol"].kind,
        ExprKind::String("tcp".into())
    );
    let ports = endpoint.properties["ports"].to_json().unwrap();
    assert_eq!(ports["main"]["target"], 5432);
    assert_eq!(ports["replicas"]["target_range"][1], 5440);
    assert_eq!(ports["replicas"]["protocol"], "tcp");

    let shop = template.node_template("shop").unwrap();
    assert_eq!(
        shop.types,
        vec![
            TypeName {
                name: "Shop".into(),
                profile: None
            },
            simple("WebApplication"),
            simple("Root"),
        ]
    );
    let connection = &shop.requirements[1].relationship;
    assert_eq!(connection.types, simple_names(&["ConnectsTo", "Root"]));
    assert!(connection.properties["credential"].has_call());
}

#[test]
fn an_unassigned_host_is_fulfilled_by_a_compute_node() {
    let text = SHOP.replace(
        "      properties: { component_version: 1.4.2 }\n      requirements:\n        - host: web_vm\n",
        "      properties: { component_version: 1.4.2 }\n",
    );
    let template = compile(&text);
    let agent = template.node_template("agent").unwrap();
    assert!(agent.unfulfilled.is_empty(), "{:?}", agent.unfulfilled);
    assert_eq!(agent.requirements.len(), 1);
    assert_eq!(agent.requirements[0].name, "host");
    assert_eq!(
        agent.requirements[0].relationship.types[0],
        simple("HostedOn")
    );
    assert!(["web_vm", "db_vm"].contains(&agent.requirements[0].target.as_str()));
}

fn errors_of(text: &str) -> Vec<String> {
    compile_text("service.yaml", text, &registry())
        .expect_err("the template should be invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_port_outside_port_def_is_an_error() {
    for bad in ["70000", "0"] {
        let text = SHOP.replace(
            "properties: { port: 5432, root_password",
            &format!("properties: {{ port: {bad}, root_password"),
        );
        let errors = errors_of(&text);
        assert!(
            errors.iter().any(
                |e| e.contains("property \"port\" of node template \"postgres\"")
                    && e.contains("does not satisfy the validation clause")
            ),
            "{errors:?}"
        );
    }
    let text = SHOP.replace(
        "target_range: [ 5433, 5440 ]",
        "target_range: [ 5433, 65536 ]",
    );
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.contains("target_range")),
        "{errors:?}"
    );
}

#[test]
fn simple_profile_values_are_checked() {
    let cases = [
        // A unit Size does not have (units are case-sensitive).
        ("size: 100 GiB", "size: 100 gib", "unknown unit \"gib\""),
        // Block storage needs at least 1 MB.
        ("size: 100 GiB", "size: 512 kB", "512 kB does not satisfy"),
        // A port spec needs a source or a target.
        (
            "main: { target: 5432 }",
            "main: { protocol: tcp }",
            "entry \"main\" of property \"ports\"",
        ),
        // A port range goes upwards.
        ("[ 5433, 5440 ]", "[ 5440, 5433 ]", "[ 5440, 5433 ] does not satisfy"),
        // Endpoint.Admin fixes secure to true.
        (
            "        os:\n",
            "        endpoint:\n          properties: { secure: false }\n        os:\n",
            "property \"secure\" in capability \"endpoint\"",
        ),
        // AttachesTo needs a location.
        (
            "relationship:\n              type: AttachesTo\n              properties: { location: /var/lib/postgresql }",
            "relationship: AttachesTo",
            "lacks required property \"location\"",
        ),
        // A web application is hosted on a web server, not on a compute node.
        (
            "- host: nginx",
            "- host: web_vm",
            "needs a node of node type \"WebServer\"",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(SHOP.contains(from), "{from}");
        let errors = errors_of(&SHOP.replacen(from, to, 1));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{to}: {errors:?}"
        );
        eprintln!("{to} => {errors:?}");
    }
}
