//! TOSCA.meta parsing (TOSCA 2.0, 17.2).

use khutulun_csar::{parse_meta, CsarError, Meta};

fn meta_error(text: &str) -> (Option<usize>, String) {
    match parse_meta(text) {
        Err(CsarError::Meta { line, message, .. }) => (line, message),
        other => panic!("expected a TOSCA.meta error, got {other:?}"),
    }
}

#[test]
fn parses_the_standards_example() {
    let meta = parse_meta(
        "CSAR-Version: 2.0\nCreated-By: OASIS TOSCA TC\nEntry-Definitions: tosca_elk.yaml \n\
         Other-Definitions: definitions/tosca_moose.yaml definitions/tosca_deer.yaml\n",
    )
    .unwrap();
    assert_eq!(meta.csar_version, "2.0");
    assert_eq!(meta.created_by, "OASIS TOSCA TC");
    assert_eq!(meta.entry_definitions.as_deref(), Some("tosca_elk.yaml"));
    assert_eq!(
        meta.other_definitions,
        vec![
            "definitions/tosca_moose.yaml",
            "definitions/tosca_deer.yaml"
        ]
    );
    assert!(meta.extra.is_empty() && meta.blocks.is_empty());
}

#[test]
fn continuation_lines_custom_keys_blocks_crlf_and_quotes() {
    let text = "\u{feff}CSAR-Version: 2.0\r\nCreated-By: ACME\r\n  Corp\r\n\
                Entry-Definitions: ./service.yaml\r\nOther-Definitions: a.yaml\r\n \"sub/b c.yaml\"\r\n\
                ACME-Team: infra\r\n\r\n\r\nName: scripts/run.sh\r\nACME-Digest: abc\r\n";
    let meta = parse_meta(text).unwrap();
    assert_eq!(meta.created_by, "ACME Corp");
    assert_eq!(meta.entry_definitions.as_deref(), Some("service.yaml"));
    assert_eq!(meta.other_definitions, vec!["a.yaml", "sub/b c.yaml"]);
    assert_eq!(meta.extra, vec![("ACME-Team".into(), "infra".into())]);
    assert_eq!(
        meta.blocks,
        vec![vec![
            ("Name".to_string(), "scripts/run.sh".to_string()),
            ("ACME-Digest".to_string(), "abc".to_string())
        ]]
    );
}

#[test]
fn entry_definitions_is_optional() {
    let meta = parse_meta("CSAR-Version: 2.0\nCreated-By: me\n").unwrap();
    assert_eq!(meta.entry_definitions, None);
}

#[test]
fn missing_required_keys_are_named() {
    let (line, message) = meta_error("Created-By: me\nEntry-Definitions: a.yaml\n");
    assert_eq!(line, None);
    assert!(message.contains("CSAR-Version"), "{message}");

    let (line, message) = meta_error("CSAR-Version: 2.0\nEntry-Definitions: a.yaml\n");
    assert_eq!(line, None);
    assert!(message.contains("Created-By"), "{message}");

    let (line, message) = meta_error("");
    assert_eq!(line, None);
    assert!(message.contains("empty"), "{message}");

    let (line, message) = meta_error("CSAR-Version: 2.0\nCreated-By:\n");
    assert_eq!(line, Some(2));
    assert!(message.contains("no value"), "{message}");
}

#[test]
fn malformed_lines_report_their_number() {
    let cases = [
        (
            "CSAR-Version: 2.0\nCreated-By: me\nthis is not a pair\n",
            3,
            "keyname: value",
        ),
        ("CSAR-Version:2.0\n", 1, "followed by a space"),
        ("CSAR-Version: 2.0\n: x\n", 2, "empty"),
        (
            "CSAR-Version: 2.0\nEntry Definitions: a.yaml\n",
            2,
            "blanks",
        ),
        ("CSAR-Version: 2.0\n\n continued\n", 3, "continues"),
        (
            "CSAR-Version: 2.0\nCreated-By: a\nCreated-By: b\n",
            3,
            "again",
        ),
        (
            "CSAR-Version: 2.0\nCreated-By: a\n\nEntry-Definitions: a.yaml\n",
            4,
            "block_0",
        ),
        ("CSAR-Version: 1.1\nCreated-By: a\n", 1, "2.0"),
        (
            "CSAR-Version: 2.0\nCreated-By: a\nEntry-Definitions: ../a.yaml\n",
            3,
            "..",
        ),
        (
            "CSAR-Version: 2.0\nCreated-By: a\nEntry-Definitions: /a.yaml\n",
            3,
            "absolute",
        ),
        (
            "CSAR-Version: 2.0\nCreated-By: a\nOther-Definitions: \"a.yaml\n",
            3,
            "quote",
        ),
    ];
    for (text, want_line, want) in cases {
        let (line, message) = meta_error(text);
        assert_eq!(line, Some(want_line), "{text:?}: {message}");
        assert!(message.contains(want), "{text:?}: {message}");
        let shown = parse_meta(text).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!("TOSCA.meta:{want_line}: ")),
            "{shown}"
        );
    }
}

#[test]
fn render_round_trips() {
    let mut meta = Meta::generated("main.yaml");
    meta.other_definitions = vec!["subs/a b.yaml".into(), "subs/c.yaml".into()];
    meta.extra = vec![("ACME-Team".into(), "infra".into())];
    meta.blocks = vec![vec![("Name".into(), "x".into())]];
    assert!(meta.created_by.starts_with("Khutulun "));
    assert_eq!(parse_meta(&meta.render()).unwrap(), meta);
}
