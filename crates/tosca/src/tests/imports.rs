//! Imports by path and by profile, namespaces, cycles, and profile names on types.

use super::*;
use crate::TypeName;

const NODE_B: &str = "tosca_definitions_version: tosca_2_0\nnode_types:\n  B:\n    properties:\n      x: { type: integer, default: 1 }\n";

fn uses(type_name: &str) -> String {
    format!("service_template:\n  node_templates:\n    n:\n      type: {type_name}\n")
}

#[test]
fn relative_imports_resolve_against_the_importing_file() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - types/a.yaml\n{}",
        uses("B")
    );
    let a = "tosca_definitions_version: tosca_2_0\nimports:\n  - url: ../common/b.yaml\n";
    let template = compile_ok(&[
        ("pkg/main.yaml", &main),
        ("pkg/types/a.yaml", a),
        ("pkg/common/b.yaml", NODE_B),
    ]);
    assert_eq!(template.node_templates[0].types[0].name, "B");
    assert_eq!(template.node_templates[0].types[0].profile, None);
}

#[test]
fn a_leading_slash_starts_at_the_package_root() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - types/a.yaml\n{}",
        uses("B")
    );
    let a = "tosca_definitions_version: tosca_2_0\nimports:\n  - url: /b.yaml\n";
    compile_ok(&[
        ("pkg/main.yaml", &main),
        ("pkg/types/a.yaml", a),
        ("pkg/b.yaml", NODE_B),
    ]);
}

#[test]
fn a_missing_import_is_reported_at_the_import() {
    let main = "tosca_definitions_version: tosca_2_0\nimports:\n  - nothere.yaml\n";
    let errors = compile_err(&[("m.yaml", main)]);
    assert_error(&errors, "m.yaml:3:5", "cannot read TOSCA file nothere.yaml");
}

#[test]
fn import_cycles_are_reported_where_they_close() {
    let a = "tosca_definitions_version: tosca_2_0\nimports:\n  - b.yaml\nnode_types:\n  A: {}\n";
    let b = "tosca_definitions_version: tosca_2_0\nimports:\n  - url: c.yaml\n";
    let c = "tosca_definitions_version: tosca_2_0\nimports:\n  - a.yaml\n";
    let errors = compile_err(&[("a.yaml", a), ("b.yaml", b), ("c.yaml", c)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_error(
        &errors,
        "c.yaml:3:5",
        "import cycle: a.yaml imports b.yaml imports c.yaml imports a.yaml",
    );
}

#[test]
fn importing_the_same_file_twice_is_not_a_cycle_nor_ambiguous() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - a.yaml\n  - b.yaml\n{}",
        uses("B")
    );
    let a = "tosca_definitions_version: tosca_2_0\nimports:\n  - b.yaml\n";
    compile_ok(&[("main.yaml", &main), ("a.yaml", a), ("b.yaml", NODE_B)]);
}

#[test]
fn namespaces_qualify_imported_names() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - url: b.yaml\n    namespace: fb\nnode_types:\n  B:\n    derived_from: fb:B\n{}",
        uses("fb:B")
    );
    let template = compile_ok(&[("main.yaml", &main), ("b.yaml", NODE_B)]);
    assert_eq!(template.node_templates[0].types.len(), 1);

    // Unqualified, the name is the local B (which derives from the imported one).
    let local = main.replace("type: fb:B", "type: B");
    let template = compile_ok(&[("main.yaml", &local), ("b.yaml", NODE_B)]);
    assert_eq!(template.node_templates[0].types.len(), 2);
}

#[test]
fn namespaced_names_are_not_visible_unqualified() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - url: b.yaml\n    namespace: fb\n{}",
        uses("B")
    );
    let errors = compile_err(&[("main.yaml", &main), ("b.yaml", NODE_B)]);
    assert_error(
        &errors,
        &at("main.yaml", &main, "B\n", 0),
        "unknown node type \"B\" in node template \"n\"; known node types: fb:B",
    );
}

#[test]
fn nested_namespaces() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - url: mid.yaml\n    namespace: outer\n{}",
        uses("outer:inner:B")
    );
    let mid =
        "tosca_definitions_version: tosca_2_0\nimports:\n  - url: b.yaml\n    namespace: inner\n";
    compile_ok(&[("main.yaml", &main), ("mid.yaml", mid), ("b.yaml", NODE_B)]);
}

#[test]
fn two_imports_of_the_same_name_make_it_ambiguous() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - b1.yaml\n  - b2.yaml\n{}",
        uses("B")
    );
    let errors = compile_err(&[
        ("main.yaml", &main),
        ("b1.yaml", NODE_B),
        ("b2.yaml", NODE_B),
    ]);
    assert_error(
        &errors,
        &at("main.yaml", &main, "B\n", 0),
        "ambiguous node type name \"B\" in node template \"n\": it names the types defined at b1.yaml:3:3 and b2.yaml:3:3",
    );
}

fn profiles() -> ProfileRegistry {
    let mut profiles = ProfileRegistry::new();
    profiles.register(
        "org.base:1.0",
        "main.yaml",
        [
            (
                "main.yaml".to_string(),
                "tosca_definitions_version: tosca_2_0\nprofile: org.base:1.0\nimports:\n  - lib/more.yaml\nnode_types:\n  Base: {}\n".to_string(),
            ),
            (
                "lib/more.yaml".to_string(),
                "tosca_definitions_version: tosca_2_0\nnode_types:\n  More:\n    derived_from: Other\n".to_string(),
            ),
        ],
    );
    profiles.register_file(
        "org.other:2",
        "tosca_definitions_version: tosca_2_0\nprofile: org.other:2\nnode_types:\n  Other: {}\n",
    );
    profiles
}

#[test]
fn profile_imports_stamp_the_profile_name_on_types() {
    // The profile's second file imports another profile under its own name, so `More`
    // (from a file without a profile keyname) gets org.base's name and `Other` org.other's.
    let more = "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: org.other:2\nnode_types:\n  More:\n    derived_from: Other\n";
    let mut registry = profiles();
    let mut files = registry.get("org.base:1.0").unwrap().files.clone();
    files.insert("lib/more.yaml".into(), more.into());
    registry.register("org.base:1.0", "main.yaml", files);
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: org.base:1.0\n    namespace: base\n{}",
        uses("base:More")
    );
    let template = match compile_with(&[("main.yaml", &main)], &registry) {
        Ok(t) => t,
        Err(e) => panic!("{}", render(&e)),
    };
    assert_eq!(
        template.node_templates[0].types,
        vec![
            TypeName {
                name: "More".into(),
                profile: Some("org.base:1.0".into())
            },
            TypeName {
                name: "Other".into(),
                profile: Some("org.other:2".into())
            },
        ]
    );
}

#[test]
fn a_plain_file_that_declares_a_profile_stamps_its_types() {
    let main = format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - lib.yaml\n{}",
        uses("L")
    );
    let lib =
        "tosca_definitions_version: tosca_2_0\nprofile: com.example:3\nnode_types:\n  L: {}\n";
    let template = compile_ok(&[("main.yaml", &main), ("lib.yaml", lib)]);
    assert_eq!(
        template.node_templates[0].types[0].profile.as_deref(),
        Some("com.example:3")
    );
}

#[test]
fn unknown_profiles_are_reported_with_the_known_ones() {
    let main = "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: org.bse:1.0\n";
    let errors = compile_err_with(&[("main.yaml", main)], &profiles());
    assert_error(
        &errors,
        "main.yaml:3:14",
        "unknown profile \"org.bse:1.0\" (did you mean \"org.base:1.0\"?); known profiles: org.base:1.0, org.other:2; no file for it (org.bse:1.0.yaml, org.bse:1.0.yml, org.bse:1.0, org.bse.yaml, org.bse.yml, org.bse) in the importing file's directory or the profile search path",
    );
}

const KUBE_PROFILE: &str =
    "tosca_definitions_version: tosca_2_0\nprofile: io.kubernetes:1.30\nnode_types:\n  Pod: {}\n";

fn imports_kubernetes(namespace_use: &str) -> String {
    format!(
        "tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.kubernetes:1.30\n    namespace: k8s\n{}",
        uses(namespace_use)
    )
}

#[test]
fn an_unregistered_profile_is_found_by_name_next_to_the_importing_file() {
    let main = imports_kubernetes("k8s:Pod");
    for file in [
        "pkg/io.kubernetes",
        "pkg/io.kubernetes.yaml",
        "pkg/io.kubernetes:1.30.yml",
    ] {
        let template = compile_ok(&[("pkg/main.yaml", &main), (file, KUBE_PROFILE)]);
        assert_eq!(
            template.node_templates[0].types[0].profile.as_deref(),
            Some("io.kubernetes:1.30"),
            "profile file {file}"
        );
    }
}

#[test]
fn a_profile_file_must_declare_the_imported_name_and_version() {
    let main = imports_kubernetes("k8s:Pod");
    let older = KUBE_PROFILE.replace("1.30", "1.29");
    let errors = compile_err(&[("pkg/main.yaml", &main), ("pkg/io.kubernetes.yaml", &older)]);
    assert!(
        errors.iter().any(|e| e.contains("pkg/main.yaml:3:14")
            && e.contains("unknown profile \"io.kubernetes:1.30\"")
            && e.contains(
                "pkg/io.kubernetes.yaml declares profile \"io.kubernetes:1.29\", not this one"
            )),
        "{errors:?}"
    );
}

#[test]
fn profile_search_directories_are_searched_after_the_package() {
    let main = imports_kubernetes("k8s:Pod");
    let mut registry = ProfileRegistry::new();
    registry.add_search_dir("/usr/share/tosca/profiles");
    let template = compile_with(
        &[
            ("pkg/main.yaml", &main),
            ("/usr/share/tosca/profiles/io.kubernetes.yaml", KUBE_PROFILE),
        ],
        &registry,
    )
    .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(template.node_templates[0].types[0].name, "Pod");
    // Without the search directory the profile is unknown.
    compile_err(&[
        ("pkg/main.yaml", &main),
        ("/usr/share/tosca/profiles/io.kubernetes.yaml", KUBE_PROFILE),
    ]);
}

#[test]
fn profile_names_never_reach_outside_the_search_directory() {
    assert!(crate::profiles::profile_file_names("../etc/passwd").is_empty());
    assert!(crate::profiles::profile_file_names("a/b:1").is_empty());
}

#[test]
fn an_import_needs_url_or_profile_and_not_both() {
    let main = "tosca_definitions_version: tosca_2_0\nimports:\n  - url: a.yaml\n    profile: b\n  - namespace: x\n  - [ a ]\n";
    let errors = compile_err(&[("main.yaml", main)]);
    assert_error(&errors, "main.yaml:3:5", "either url or profile, not both");
    assert_error(
        &errors,
        "main.yaml:5:5",
        "needs url (a TOSCA file) or profile",
    );
    assert_error(
        &errors,
        "main.yaml:6:5",
        "an import definition must be a URL string or a map",
    );
}

#[test]
fn remote_and_repository_imports_are_refused_clearly() {
    let main = "tosca_definitions_version: tosca_2_0\nrepositories:\n  repo: https://example.com/\nimports:\n  - https://example.com/t.yaml\n  - url: t.yaml\n    repository: repo\n  - url: t.yaml\n    repository: nope\n";
    let errors = compile_err(&[("main.yaml", main)]);
    assert_error(
        &errors,
        "main.yaml:5:5",
        "only relative paths, file: URLs and profiles can be imported",
    );
    assert_error(
        &errors,
        "main.yaml:7:17",
        "cannot import t.yaml from repository \"repo\" at https://example.com/: TOSCA files are not fetched over the network",
    );
    assert_error(&errors, "main.yaml:9:17", "unknown repository \"nope\"");
}

#[test]
fn local_repositories_are_directories() {
    let main = "tosca_definitions_version: tosca_2_0\nrepositories:\n  local: file:lib/\n  plain:\n    url: other\nimports:\n  - url: a.yaml\n    repository: local\n  - url: /b.yaml\n    repository: plain\n  - url: file:c.yaml\n    repository: local\nnode_types:\n  N: { derived_from: A }\n  M: { derived_from: B }\n";
    let a = "tosca_definitions_version: tosca_2_0\nnode_types:\n  A: {}\n";
    let b = "tosca_definitions_version: tosca_2_0\nnode_types:\n  B: {}\n";
    let errors = compile_err(&[
        ("dir/main.yaml", main),
        ("dir/lib/a.yaml", a),
        ("dir/other/b.yaml", b),
    ]);
    assert_error(
        &errors,
        "dir/main.yaml:11:10",
        "names repository \"local\", so its url must be a path within the repository",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
}
