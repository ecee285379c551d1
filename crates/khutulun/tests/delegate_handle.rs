//! A delegate's handle on its workload is its own: an operation whose output is mapped onto
//! an attribute named like a handle entry (`container_id`) changes the TOSCA attribute, and
//! a later stop (by an agent that knows the container only from its record) still reaches
//! the instance's own container, never the one named.

mod common;
mod container_support;

use common::{template_dir, Agent};
use container_support::{
    ensure_image, podman, podman_lines, podman_run, restart_agent_and_wait_for_adoption, IMAGE,
    PROFILE_IMPORT,
};

/// A container started by hand, outside Khutulun, removed when the test ends.
struct Bystander(String);

impl Drop for Bystander {
    fn drop(&mut self) {
        podman(&["rm", "--force", "--time", "0", &self.0]);
    }
}

fn template() -> String {
    format!(
        r#"{PROFILE_IMPORT}interface_types:
  Maintenance:
    operations:
      claim:
        inputs:
          victim: {{ type: string }}
node_types:
  Boxed:
    derived_from: Container
    attributes:
      container_id: {{ type: string }}
    interfaces:
      Maintenance:
        type: Maintenance
        operations:
          claim:
            outputs:
              container_id: [ SELF, container_id ]
service_template:
  node_templates:
    box:
      type: Boxed
      properties:
        image: {IMAGE}
        command: [ /bin/sleep, "300" ]
        stop_timeout: 1
      interfaces:
        Maintenance:
          operations:
            claim: scripts/claim.sh
"#
    )
}

const CLAIM: &str = "#!/bin/sh\necho \"container_id=$victim\" >> \"$KHUTULUN_OUTPUTS\"\n";

#[test]
fn an_operation_output_cannot_redirect_a_stop_to_another_container() {
    ensure_image();
    let name = format!("khutulun-test-bystander-{}", std::process::id());
    let bystander = Bystander(name.clone());
    let id = podman_run(&["--name", &name, IMAGE, "/bin/sleep", "300"]);

    let dir = template_dir(&[("service.yaml", &template()), ("scripts/claim.sh", CLAIM)]);
    let mut agent = Agent::start();
    agent.ok(&["deploy", "handle", dir.path().to_str().unwrap(), "--wait"]);
    let run = agent.cli(&[
        "run",
        "handle",
        "box",
        "Maintenance.claim",
        "-i",
        &format!("victim={id}"),
    ]);
    assert!(run.status.success(), "{run:?}");
    let instance = agent.instance("handle", "box");
    // A restarted agent knows the container only from its record.
    restart_agent_and_wait_for_adoption(&mut agent, "box");

    agent.ok(&["delete", "handle", "--wait"]);
    let bystander_state = podman_lines(&["inspect", "--format", "{{.State.Running}}", &name]);
    assert_eq!(
        bystander_state,
        ["true"],
        "deleting the service stopped a container it never ran"
    );
    assert!(
        container_support::podman_containers("khutulun-default-handle-box").is_empty(),
        "the instance's own container is left"
    );
    // The attribute is the operation's to set; the handle is the delegate's.
    assert_eq!(instance["attributes"]["container_id"], id.as_str());
    let own = instance["handle"]["container_id"]
        .as_str()
        .unwrap_or_default();
    assert!(!own.is_empty() && own != id, "{instance}");
    drop(bystander);
    agent.stop();
}
