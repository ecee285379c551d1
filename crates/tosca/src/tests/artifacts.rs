//! Artifact types and definitions (§12), and `$get_artifact` (§10.2.1.4).

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
repositories:
  images: https://example.com/images
artifact_types:
  File:
    mime_type: application/octet-stream
    file_ext: [ bin ]
  Image:
    derived_from: File
    properties:
      format: { type: string }
      size: { type: integer, required: false }
interface_types:
  Standard:
    operations:
      create: {}
node_types:
  Vm:
    artifacts:
      disk: { type: Image, file: disk.qcow2, properties: { format: qcow2 } }
    interfaces:
      standard: { type: Standard }
"#;

fn with(template: &str) -> String {
    format!("{TYPES}{template}")
}

#[test]
fn artifacts_of_types_and_templates_compile() {
    let text = with(
        r#"service_template:
  node_templates:
    vm:
      type: Vm
      artifacts:
        extra:
          type: File
          file: extra.bin
          repository: images
          checksum: ba411cafee2f0f702572369da0b765e2
          checksum_algorithm: MD5
          artifact_version: "3.2"
      interfaces:
        standard:
          operations:
            create:
              implementation:
                primary: { type: File, file: create.sh }
              inputs:
                disk: { $get_artifact: [ SELF, disk ] }
                extra: { $get_artifact: [ vm, extra ] }
"#,
    );
    compile_ok(&[("a.yaml", &text)]);
}

#[test]
fn artifact_definitions_are_checked_against_their_types() {
    let text = with(
        r#"service_template:
  node_templates:
    vm:
      type: Vm
      artifacts:
        one: { type: Imag, file: x }
        two: { type: Image, file: y, properties: { size: big, colour: red } }
        three: { type: File, file: z, checksum: abc, repository: imagez }
        four: { type: File }
      interfaces:
        standard:
          operations:
            create:
              implementation: { primary: { type: Fil, file: run.sh } }
              inputs:
                x: { $get_artifact: [ SELF, dsk ] }
"#,
    );
    let errors = compile_err(&[("a.yaml", &text)]);
    assert_error(
        &errors,
        &at("a.yaml", &text, "Imag,", 0),
        "unknown artifact type \"Imag\" in the type of artifact \"one\" of node template \"vm\"",
    );
    assert_error(
        &errors,
        &at("a.yaml", &text, "big", 0),
        "property \"size\" of artifact \"two\" of node template \"vm\" must be an integer",
    );
    assert_error(
        &errors,
        &at("a.yaml", &text, "colour", 0),
        "unknown property \"colour\" in artifact \"two\"",
    );
    assert_error(
        &errors,
        &at_after("a.yaml", &text, "two:", "{ type: Image"),
        "artifact \"two\" of node template \"vm\" lacks required property \"format\"",
    );
    assert_error(
        &errors,
        &at_after("a.yaml", &text, "three:", "{ type: File"),
        "has a checksum and so needs checksum_algorithm",
    );
    assert_error(
        &errors,
        &at("a.yaml", &text, "imagez", 0),
        "unknown repository \"imagez\"",
    );
    assert_error(
        &errors,
        &at_after("a.yaml", &text, "four:", "{ type: File }"),
        "artifact \"four\" of node template \"vm\" needs file",
    );
    assert_error(
        &errors,
        &at("a.yaml", &text, "Fil,", 0),
        "unknown artifact type \"Fil\"",
    );
    assert_error(&errors, &at("a.yaml", &text, "dsk", 0), "unknown artifact \"dsk\" of node template \"vm\" in $get_artifact (did you mean \"disk\"?)");
}
