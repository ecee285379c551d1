//! The flows against the fake delegate: order of starts and stops, failures, adoption by a
//! restarted agent. Each runs in milliseconds; the real delegates have their own tests.

use super::fake::{FakeDelegate, Step};
use super::TestAgent;
use khutulun_state::{InstanceStatus, ServiceStatus};

/// A directory, a database that uses it and serves an endpoint, an app that connects to
/// the database.
fn shop(app_arguments: &str) -> String {
    format!(
        r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    data:
      type: Directory
    db:
      type: Process
      properties: {{ command: fake, arguments: [ db ] }}
      capabilities:
        endpoint: {{ properties: {{ port: 0 }} }}
      requirements:
        - directory: data
    app:
      type: Process
      properties: {{ command: fake, arguments: {app_arguments} }}
      requirements:
        - connection: db
"#
    )
}

fn started(instance: &str) -> Step {
    Step::Started(instance.into())
}

fn stopped(instance: &str) -> Step {
    Step::Stopped(instance.into())
}

fn deployed(agent: &TestAgent, template: &str) {
    agent
        .deploy("shop", template)
        .expect("the deploy is accepted");
    agent.wait_for_status("shop", ServiceStatus::Deployed);
}

#[test]
fn a_deploy_starts_what_a_node_needs_first_and_a_delete_stops_in_reverse() {
    let fake = FakeDelegate::new();
    let agent = TestAgent::start(&fake);
    deployed(&agent, &shop("[ app ]"));
    assert_eq!(fake.journal(), [started("db-0"), started("app-0")]);
    for record in agent.instances("shop") {
        assert_eq!(record.state, InstanceStatus::Running, "{record:?}");
        if record.delegate == "process" {
            assert!(record.handle.contains_key("fake"), "{record:?}");
        }
    }

    agent.delete("shop");
    assert_eq!(
        fake.journal()[2..],
        [stopped("app-0"), stopped("db-0")],
        "dependants stop first"
    );
    assert!(fake.running().is_empty());
    assert!(agent
        .agent
        .store
        .instances(super::NS, "shop")
        .unwrap()
        .is_empty());
    // Nothing of the deleted instances stays in the agent's memory.
    assert_eq!(
        agent.agent.epochs_held(),
        0,
        "epochs of deleted instances kept"
    );
    assert!(agent.agent.supervisors.lock().unwrap().is_empty());
    assert!(agent.agent.live.lock().unwrap().is_empty());
}

#[test]
fn a_start_that_fails_fails_the_deploy_and_stops_what_it_started() {
    let fake = FakeDelegate::new();
    let agent = TestAgent::start(&fake);
    agent.deploy("shop", &shop("[ fail ]")).unwrap();
    let record = agent.wait_for_status("shop", ServiceStatus::Failed);
    let message = record.message.unwrap_or_default();
    assert!(message.contains("app-0 fails, as asked"), "{message}");
    assert_eq!(fake.journal(), [started("db-0"), stopped("db-0")]);
    assert!(fake.running().is_empty());
}

#[test]
fn a_redeploy_stops_the_old_revision_before_it_starts_the_new_one() {
    let fake = FakeDelegate::new();
    let agent = TestAgent::start(&fake);
    deployed(&agent, &shop("[ app ]"));
    deployed(&agent, &shop("[ app, v2 ]"));
    assert_eq!(agent.service("shop").revision, 2);
    assert_eq!(
        fake.journal(),
        [
            started("db-0"),
            started("app-0"),
            stopped("app-0"),
            stopped("db-0"),
            started("db-0"),
            started("app-0"),
        ]
    );
    assert_eq!(fake.running(), ["app-0", "db-0"]);
}

#[test]
fn a_restarted_agent_adopts_what_runs_and_restarts_what_ended_meanwhile() {
    let fake = FakeDelegate::new();
    let agent = TestAgent::start(&fake);
    deployed(&agent, &shop("[ app ]"));
    let pid_of = |agent: &TestAgent, node: &str| {
        agent
            .instances("shop")
            .into_iter()
            .find(|r| r.node == node)
            .and_then(|r| r.pid)
    };
    let db = pid_of(&agent, "db");
    let (fake, dirs) = agent.kill();
    fake.crash("app-0");

    let agent = TestAgent::start_on(&fake, dirs);
    assert_eq!(
        fake.journal()[2..],
        [started("app-0")],
        "the database was adopted, the app started again"
    );
    assert_eq!(pid_of(&agent, "db"), db);
    assert_ne!(pid_of(&agent, "app"), None);
    assert_eq!(fake.running(), ["app-0", "db-0"]);
}

#[test]
fn workloads_of_a_delegate_that_cannot_adopt_are_started_afresh() {
    let fake = FakeDelegate::with_capabilities(khutulun_delegates::Capabilities {
        adoptable: false,
        ..khutulun_delegates::ProcessDelegate::CAPABILITIES
    });
    let agent = TestAgent::start(&fake);
    deployed(&agent, &shop("[ app ]"));
    let agent = agent.kill_and_restart();
    assert_eq!(
        fake.journal()[2..],
        [
            stopped("db-0"),
            started("db-0"),
            stopped("app-0"),
            started("app-0"),
        ]
    );
    for record in agent.instances("shop") {
        assert_eq!(record.state, InstanceStatus::Running, "{record:?}");
    }
}

#[test]
fn a_workload_that_crashes_is_restarted_by_its_policy() {
    let fake = FakeDelegate::new();
    let agent = TestAgent::start(&fake);
    deployed(&agent, &shop("[ app ]"));
    fake.crash("app-0");
    agent.wait_until("app-0 runs again", || {
        fake.journal().len() == 3
            && agent
                .instances("shop")
                .iter()
                .any(|r| r.node == "app" && r.restarts == 1 && r.state == InstanceStatus::Running)
    });
    assert_eq!(fake.journal()[2], started("app-0"));
}

#[test]
fn an_endpoint_on_a_delegate_that_serves_no_ports_is_refused_before_anything_changes() {
    let fake = FakeDelegate::with_capabilities(khutulun_delegates::Capabilities {
        binds_host_ports: false,
        ..khutulun_delegates::ProcessDelegate::CAPABILITIES
    });
    let agent = TestAgent::start(&fake);
    let message = match agent.deploy("shop", &shop("[ app ]")) {
        Err(crate::flow_error::FlowError::CannotRun { message, .. }) => message,
        other => panic!("not refused as cannot run: {other:?}"),
    };
    assert!(
        message.contains("node \"db\": the process delegate serves no host ports")
            && message.contains("endpoint"),
        "{message}"
    );
    assert!(agent
        .agent
        .store
        .service(super::NS, "shop")
        .unwrap()
        .is_none());
    assert!(fake.journal().is_empty());
}

/// Two databases and an app that needs both.
const TWO_DATABASES: &str = r#"tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun:0.1
service_template:
  node_templates:
    slow:
      type: Process
      properties: { command: fake, arguments: [ slow ] }
      capabilities:
        endpoint: { properties: { port: 0 } }
    quick:
      type: Process
      properties: { command: fake, arguments: [ quick ] }
      capabilities:
        endpoint: { properties: { port: 0 } }
    app:
      type: Process
      properties: { command: fake, arguments: [ app ] }
      requirements:
        - connection: slow
        - connection: quick
"#;

#[test]
fn independent_nodes_start_at_the_same_time_and_a_dependant_waits_for_all() {
    let fake = FakeDelegate::new();
    fake.hold("slow-0");
    let agent = TestAgent::start(&fake);
    agent.deploy("shop", TWO_DATABASES).unwrap();
    // The quick one starts and becomes ready while the slow one is not ready yet.
    agent.wait_until("quick-0 runs while slow-0 is not ready", || {
        agent
            .instances("shop")
            .iter()
            .any(|r| r.node == "quick" && r.state == InstanceStatus::Running)
    });
    assert!(
        !fake.journal().contains(&started("app-0")),
        "app started too early"
    );
    fake.release("slow-0");
    agent.wait_for_status("shop", ServiceStatus::Deployed);
    // The two databases start side by side, in no set order; the app after both.
    let journal = fake.journal();
    assert_eq!(journal.len(), 3, "{journal:?}");
    assert!(
        journal[..2].contains(&started("slow-0")) && journal[..2].contains(&started("quick-0")),
        "{journal:?}"
    );
    assert_eq!(journal[2], started("app-0"));
    // Stops go the other way: the app first, then both databases.
    agent.delete("shop");
    let stops = &fake.journal()[3..];
    assert_eq!(stops[0], stopped("app-0"));
    assert!(stops[1..].contains(&stopped("slow-0")) && stops[1..].contains(&stopped("quick-0")));
}

/// An agent killed while an instance with ports was starting finds it running: it counts
/// as running only once it listens, so no dependant starts before it.
#[test]
fn an_adopted_instance_that_was_starting_is_running_only_once_it_listens() {
    let fake = FakeDelegate::new();
    fake.hold("slow-0");
    let agent = TestAgent::start(&fake);
    agent.deploy("shop", TWO_DATABASES).unwrap();
    agent.wait_until("slow-0 started, not ready", || {
        agent
            .instances("shop")
            .iter()
            .any(|r| r.node == "slow" && r.pid.is_some() && r.state == InstanceStatus::Starting)
    });
    let (fake, dirs) = agent.kill();

    // Released a moment after the new agent started adopting; what started by then is
    // noted.
    let released_after = std::sync::Arc::new(std::sync::Mutex::new(None));
    let releaser = {
        let (fake, released_after) = (fake.clone(), released_after.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            *released_after.lock().unwrap() = Some(fake.journal().len());
            fake.release("slow-0");
        })
    };
    let agent = TestAgent::start_on(&fake, dirs);
    releaser.join().unwrap();
    agent.wait_for_status("shop", ServiceStatus::Deployed);
    let journal = fake.journal();
    let app = journal
        .iter()
        .position(|s| *s == started("app-0"))
        .expect("the app started");
    let released_after = released_after.lock().unwrap().expect("released");
    assert!(
        app >= released_after,
        "the app started before slow-0 listened: {journal:?} (released after {released_after} steps)"
    );
    assert_eq!(
        journal.iter().filter(|s| **s == started("slow-0")).count(),
        1,
        "slow-0 was adopted, not started again: {journal:?}"
    );
}
