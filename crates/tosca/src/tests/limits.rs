//! Input limits of the YAML loader and malformed input: every hostile or broken file gives
//! diagnostics, never a panic, a stack overflow or unbounded memory.

use super::{compile_with, render};
use crate::yaml::{load, load_with_limits, Limits};
use crate::{compile, compile_text, Diagnostic, FsReader, ProfileRegistry};

/// The errors of loading `text` with the default limits, as `line:column: message`.
fn load_errors(text: &str) -> Vec<String> {
    load_errors_with(text, &Limits::DEFAULT)
}

fn load_errors_with(text: &str, limits: &Limits) -> Vec<String> {
    match load_with_limits("f.yaml", text, limits) {
        Ok(node) => panic!("expected the load of {text:?} to fail, got {node:?}"),
        Err(diagnostics) => diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
    }
}

/// The character at a 1-based line and column (columns count characters).
fn char_at(text: &str, line: u32, column: u32) -> Option<char> {
    text.lines()
        .nth(line as usize - 1)?
        .chars()
        .nth(column as usize - 1)
}

/// The classic "billion laughs": ten levels of ten aliases, 10^9 strings once expanded.
fn billion_laughs() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..=9 {
        let prev = level - 1;
        let aliases = vec![format!("*a{prev}"); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    text
}

#[test]
fn an_alias_bomb_stops_at_the_alias_that_passes_the_budget() {
    let text = billion_laughs();
    let started = std::time::Instant::now();
    let errors = match load("f.yaml", &text) {
        Ok(_) => panic!("the alias bomb loaded"),
        Err(errors) => errors,
    };
    // Far from a billion copies: the budget stops it quickly (generous bound for debug builds).
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(
        errors[0].message,
        "alias expansion exceeds 1000000 nodes; the file is probably an alias bomb"
    );
    assert_eq!(
        char_at(&text, errors[0].line, errors[0].column),
        Some('*'),
        "{}",
        errors[0]
    );
    // The same through the whole compiler.
    let errors = compile_text("bomb.yaml", &text, &ProfileRegistry::new()).unwrap_err();
    assert!(
        errors[0].message.contains("alias bomb"),
        "{}",
        render(&errors)
    );
}

#[test]
fn the_alias_budget_is_exact_and_points_at_the_alias() {
    let limits = Limits {
        max_alias_nodes: 10,
        ..Limits::DEFAULT
    };
    // Keeping the anchor costs 4 (the list and its 3 items), each alias 4 more: the second
    // alias reaches 12 > 10.
    let text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n";
    let errors = load_errors_with(text, &limits);
    assert_eq!(
        errors,
        ["2:9: alias expansion exceeds 10 nodes; the file is probably an alias bomb"]
    );
    // Within the budget the aliases are expanded, placed at the alias.
    let node = load_with_limits("f.yaml", "a: &a [1, 2, 3]\nb: [*a]\n", &limits).unwrap();
    let b = &node.as_map().unwrap()[1].1.as_seq().unwrap()[0];
    assert_eq!((b.line, b.column), (2, 5));
    assert_eq!(b.to_json(), serde_json::json!([1, 2, 3]));
}

#[test]
fn aliases_of_long_text_are_bounded_in_bytes() {
    let long = "x".repeat(1 << 20);
    let aliases = vec!["*a"; 100].join(", ");
    let text = format!("a: &a \"{long}\"\nb: [{aliases}]\n");
    let errors = load_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].ends_with(
            "alias expansion exceeds 64 MiB of text; the file is probably an alias bomb"
        ),
        "{errors:?}"
    );
    assert!(errors[0].starts_with("2:"), "{errors:?}");
}

#[test]
fn nested_anchors_without_aliases_are_bounded_too() {
    // Each anchor keeps a copy of its value for later aliases: 256 nested anchors around a
    // large list would cost 256 copies of it.
    let limits = Limits {
        max_alias_nodes: 1000,
        ..Limits::DEFAULT
    };
    let items = vec!["1"; 400].join(", ");
    let text = format!("a: &a\n  - &b\n    - &c\n      - [{items}]\n");
    let errors = load_errors_with(&text, &limits);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("anchored values exceed 1000 nodes; the file is probably an alias bomb"),
        "{errors:?}"
    );
}

#[test]
fn an_alias_inside_its_own_anchor_is_an_error() {
    let errors = load_errors("a: &x [1, *x]\n");
    assert_eq!(
        errors,
        ["1:11: invalid YAML: an alias inside the value of its own anchor (a cycle)"]
    );
}

#[test]
fn deep_flow_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [300, 100_000] {
        let text = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let errors = load_errors(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("nesting deeper than 255 levels of [ ] and { }"),
            "{errors:?}"
        );
        let errors = compile_text("deep.yaml", &text, &ProfileRegistry::new()).unwrap_err();
        assert!(
            errors[0].message.contains("nesting deeper"),
            "{}",
            render(&errors)
        );
    }
    let text = "{a: ".repeat(100_000);
    let errors = load_errors(&text);
    assert!(errors[0].contains("nesting deeper than 255"), "{errors:?}");
}

#[test]
fn deep_block_nesting_is_an_error_at_the_first_level_too_deep() {
    // "- - - x": one sequence per dash; the 257th starts at column 2 * 256 + 1.
    let text = format!("{}x\n", "- ".repeat(100_000));
    let errors = load_errors(&text);
    assert_eq!(
        errors,
        ["1:513: nesting deeper than 256 levels; the file is probably malformed or hostile"]
    );

    // Maps by indentation, one level per line.
    let mut text = String::new();
    for level in 0..300 {
        text.push_str(&" ".repeat(level));
        text.push_str(&format!("k{level}:\n"));
    }
    let errors = load_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    // The value of k255 (line 256) is the 257th map, starting on line 257.
    assert!(
        errors[0].starts_with("257:257: nesting deeper than 256 levels"),
        "{errors:?}"
    );

    // Block and flow nesting add up.
    let text = format!("{}{}\n", "- ".repeat(200), "[".repeat(100));
    let errors = load_errors(&text);
    assert!(
        errors[0].contains("nesting deeper than 256 levels"),
        "{errors:?}"
    );
}

#[test]
fn nesting_at_the_limit_loads_and_compiles_without_overflow() {
    let text = format!("{}x\n", "- ".repeat(256));
    let mut node = &load("f.yaml", &text).unwrap();
    let mut depth = 0;
    while let Some(items) = node.as_seq() {
        depth += 1;
        node = &items[0];
    }
    assert_eq!(depth, 256);

    // A deep value through the whole compiler: metadata, a property value, a default.
    let deep = |levels: usize| format!("{}x{}", "[".repeat(levels), "]".repeat(levels));
    let files = [
        format!("tosca_definitions_version: tosca_2_0\nmetadata:\n  deep: {}\n", deep(250)),
        format!(
            "tosca_definitions_version: tosca_2_0\nnode_types:\n  N:\n    properties:\n      p:\n        type: list\n        default: {}\nservice_template:\n  node_templates:\n    n:\n      type: N\n      properties:\n        p: {}\n",
            deep(240),
            deep(240)
        ),
        format!(
            "tosca_definitions_version: tosca_2_0\ndata_types:\n  D:\n    properties:\n      p:\n        type: map\n        default: {}\n",
            deep(245)
        ),
    ];
    for text in &files {
        // Errors or not, what matters is that it returns.
        let _ = compile_text("deep.yaml", text, &ProfileRegistry::new());
        let _ = compile_text("deep.yaml", text, &khutulun_like_registry());
    }
}

/// A registry with one small profile (the fuzz target uses the real Khutulun profile, which
/// this crate cannot depend on).
fn khutulun_like_registry() -> ProfileRegistry {
    let mut registry = ProfileRegistry::new();
    registry.register_file(
        "example.org:1.0",
        "tosca_definitions_version: tosca_2_0\nprofile: example.org:1.0\nnode_types:\n  Root: {}\n",
    );
    registry
}

#[test]
fn a_very_long_scalar_is_fine() {
    let long = "y".repeat(4 << 20);
    let text = format!(
        "tosca_definitions_version: tosca_2_0\nservice_template:\n  description: {long}\n  node_templates: {{}}\n"
    );
    let node = load("f.yaml", &text).unwrap();
    assert_eq!(
        node.as_map().unwrap()[1].1.as_map().unwrap()[0]
            .1
            .as_str()
            .map(str::len),
        Some(4 << 20)
    );
    let template = compile_text("long.yaml", &text, &ProfileRegistry::new()).unwrap();
    assert_eq!(template.description.as_deref().map(str::len), Some(4 << 20));
}

#[test]
fn files_over_the_size_limit_are_refused_before_parsing() {
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::DEFAULT
    };
    let text = format!("a: {}\n", "z".repeat(2000));
    assert_eq!(
        load_errors_with(&text, &limits),
        ["1:1: the file is 2004 bytes, more than the limit of 1000 bytes"]
    );
    // The default: 64 MiB.
    let text = format!("a: {}", "z".repeat(64 << 20));
    let errors = load_errors(&text);
    assert_eq!(
        errors,
        [format!(
            "1:1: the file is {} bytes, more than the limit of 64 MiB",
            (64 << 20) + 3
        )]
    );
}

#[test]
fn the_number_of_values_is_bounded() {
    let limits = Limits {
        max_nodes: 100,
        ..Limits::DEFAULT
    };
    let text = format!("[{}]\n", vec!["1"; 200].join(", "));
    let errors = load_errors_with(&text, &limits);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("1:")
            && errors[0].contains("the document holds more than 100 values"),
        "{errors:?}"
    );
}

#[test]
fn every_duplicated_key_is_reported() {
    let errors = load_errors("a: 1\nb: 2\na: 3\nb: 4\n");
    assert_eq!(
        errors,
        [
            "3:1: invalid YAML: duplicated key in mapping (string \"a\" repeats the key at line 1, column 1)",
            "4:1: invalid YAML: duplicated key in mapping (string \"b\" repeats the key at line 2, column 1)",
        ]
    );
    // Large maps use a hash index: same result.
    let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
    text.push_str("k42: again\n");
    let errors = load_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("101:1: "), "{errors:?}");
    // Keys are compared as values: 1 and 0x1 are the same integer, "1" is a string.
    assert_eq!(load_errors("1: a\n0x1: b\n").len(), 1);
    assert!(load("f.yaml", "1: a\n'1': b\n").is_ok());
}

#[test]
fn malformed_yaml_gives_positioned_diagnostics() {
    let cases: &[(&str, &str)] = &[
        ("a: 'unterminated\n", "1:4: invalid YAML"),
        ("a: \"unterminated\nb: 1\n", "1:4: invalid YAML"),
        ("a:\n\t- b\n", "2:2: invalid YAML: tabs disallowed"),
        ("a: [1, 2\n", "invalid YAML"),
        ("a: {b: 1\n", "invalid YAML"),
        ("a: b: c\n", "1:5: invalid YAML"),
        ("a: \"x\\qy\"\n", "1:4: invalid YAML"),
        ("a: *nowhere\n", "invalid YAML"),
        ("& a: 1\n", "1:1: invalid YAML"),
        (
            "a: !!int abc\n",
            "1:4: invalid YAML value: string \"abc\" does not match its tag !!int",
        ),
        ("a: !custom 5\n", "1:4: unsupported YAML tag !custom"),
        ("a: !custom [5]\n", "1:4: unsupported YAML tag !custom"),
        (
            "a: 1\n---\nb: 2\n",
            "3:1: a TOSCA file holds exactly one YAML document",
        ),
        ("", "1:1: empty file"),
        ("# nothing but a comment\n", "1:1: empty file"),
        ("a: \u{0}\n", "invalid YAML"),
    ];
    for (text, expected) in cases {
        let errors = load_errors(text);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{text:?}: no {expected:?} in {errors:?}"
        );
        // And the compiler passes them on.
        let errors = compile_text("m.yaml", text, &ProfileRegistry::new()).unwrap_err();
        assert!(
            errors.iter().all(Diagnostic::is_error),
            "{}",
            render(&errors)
        );
        assert!(errors.iter().all(|d| d.line >= 1 && d.column >= 1));
    }
}

#[test]
fn invalid_utf8_read_through_the_source_reader_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        b"tosca_definitions_version: tosca_2_0\ndescription: \xff\xfe\n",
    )
    .unwrap();
    let errors = compile(&path, &FsReader, &ProfileRegistry::new()).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert!(
        errors[0].message.contains("cannot read TOSCA file") && errors[0].message.contains("UTF-8"),
        "{}",
        render(&errors)
    );

    // An import that is not UTF-8: the error names the importing place.
    let main = dir.path().join("main.yaml");
    std::fs::write(
        &main,
        "tosca_definitions_version: tosca_2_0\nimports:\n  - url: bad.yaml\n",
    )
    .unwrap();
    let errors = compile(&main, &FsReader, &ProfileRegistry::new()).unwrap_err();
    assert!(
        errors.iter().any(|d| d.message.contains("UTF-8")),
        "{}",
        render(&errors)
    );
}

#[test]
fn hostile_values_in_templates_give_diagnostics() {
    // Odd but well-formed YAML in TOSCA places: complex keys, huge numbers, NaN, empty keys.
    let texts = [
        "tosca_definitions_version: tosca_2_0\nnode_types:\n  ? [a]\n  : {}\n",
        "tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    properties:\n      p:\n        type: integer\n        default: 99999999999999999999999\n",
        "tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    properties:\n      p:\n        type: float\n        default: .nan\n",
        "tosca_definitions_version: tosca_2_0\nnode_types:\n  '': {}\n",
        "tosca_definitions_version: tosca_2_0\nservice_template:\n  node_templates:\n    n:\n      type: [x]\n",
        "tosca_definitions_version: tosca_2_0\nimports: [ { url: '' }, { profile: '' }, 1, ~ ]\n",
    ];
    for text in texts {
        let _ = compile_with(&[("h.yaml", text)], &ProfileRegistry::new());
    }
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    // Sparse: 65 MiB that take no disk and would take memory only if read.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let errors = crate::compile(&path, &crate::FsReader, &crate::ProfileRegistry::new())
        .expect_err("too large");
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("more than the limit of 64 MiB")),
        "{errors:?}"
    );
}
