//! Validation clauses (§9.11) evaluated against literal values, and the checks of condition
//! clauses and function arguments.

use super::*;

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
dsl_definitions:
  iso: &ISO { "": 1.0, c: 0.01, m: 0.001, k: 1000 }
data_types:
  ShortStr:
    derived_from: string
    validation: { $less_or_equal: [ { $length: [ $value ] }, 5 ] }
  Length:
    derived_from: scalar
    units: { m: 1.0 }
    prefixes: *ISO
  UInt16:
    derived_from: integer
    validation: { $and: [ { $greater_or_equal: [ $value, 0 ] }, { $less_or_equal: [ $value, 0xFFFF ] } ] }
  SizeRange:
    properties:
      low: { type: float }
      high: { type: float }
    validation:
      $greater_or_equal: [ { $value: [ high ] }, { $value: [ low ] } ]
node_types:
  Box:
    properties:
      name: { type: ShortStr }
      width:
        type: Length
        validation: { $less_than: [ $value, 15 cm ] }
      port: { type: UInt16 }
      range: { type: SizeRange }
      tags:
        type: map
        key_schema: { type: string, validation: { $matches: [ $value, "^[a-z]+$" ] } }
        entry_schema: { type: integer, validation: { $valid_values: [ $value, [ 1, 2, 3 ] ] } }
      minimum: { type: integer }
      maximum:
        type: integer
        validation: { $greater_or_equal: [ $value, { $get_property: [ SELF, minimum ] } ] }
      version:
        type: version
        required: false
        validation: { $greater_than: [ $value, "1.2" ] }
      when:
        type: timestamp
        required: false
        validation: { $greater_than: [ $value, "2020-01-01T00:00:00Z" ] }
"#;

fn template(properties: &str) -> String {
    format!("{TYPES}service_template:\n  node_templates:\n    box:\n      type: Box\n      properties: {properties}\n")
}

const GOOD: &str = "{ name: abc, width: 125.3 mm, port: 80, range: { low: 1, high: 2 }, tags: { a: 1 }, minimum: 1, maximum: 2, version: \"1.10\", when: \"2025-07-22T10:00:00+02:00\" }";

#[test]
fn values_that_satisfy_their_clauses_compile() {
    compile_ok(&[("v.yaml", &template(GOOD))]);
}

#[test]
fn each_broken_clause_is_reported_at_the_value_with_the_clause() {
    let properties = "{ name: abcdef, width: 2 m, port: 70000, range: { low: 3, high: 2 }, tags: { A: 4 }, minimum: 5, maximum: 2, version: \"1.1\", when: \"2019-12-31T23:59:59Z\" }";
    let text = template(properties);
    let errors = compile_err(&[("v.yaml", &text)]);
    let clause = |needle: &str| at("v.yaml", &text, needle, 0);
    assert_error(
        &errors,
        &at("v.yaml", &text, "abcdef", 0),
        &format!(
            "property \"name\" of node template \"box\": abcdef does not satisfy the validation clause at {} ({{ $less_or_equal: [ {{ $length: [ $value ] }}, 5 ] }})",
            clause("$less_or_equal: [ { $length")
        ),
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "2 m,", 0),
        "2 m does not satisfy",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "70000", 0),
        "70000 does not satisfy",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "{ low: 3", 0),
        "property \"range\" of node template \"box\": { low: 3, high: 2 } does not satisfy",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "4 }", 0),
        "entry \"A\" of property \"tags\"",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "4 }", 0),
        "key \"A\" of property \"tags\"",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "2, version", 0),
        "property \"maximum\"",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "\"1.1\"", 0),
        "property \"version\"",
    );
    assert_error(
        &errors,
        &at("v.yaml", &text, "\"2019", 0),
        "property \"when\"",
    );
    assert_eq!(errors.len(), 9, "{errors:#?}");
}

#[test]
fn defaults_and_inputs_are_validated_too() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_types:
  N:
    properties:
      size:
        type: integer
        default: 0
        validation: { $greater_than: [ $value, 0 ] }
service_template:
  inputs:
    site:
      type: string
      default: HQ
      validation: { $greater_or_equal: [ { $length: [ $value ] }, 9 ] }
  node_templates:
    n: { type: N, properties: { size: 1 } }
"#;
    let errors = compile_err(&[("d.yaml", text)]);
    assert_error(
        &errors,
        &at_after("d.yaml", text, "default: ", "0"),
        "the default of property \"size\" of node type \"N\": 0 does not satisfy",
    );
    assert_error(
        &errors,
        &at("d.yaml", text, "HQ", 0),
        "the default of input \"site\": HQ does not satisfy",
    );
}

#[test]
fn clauses_that_need_deployment_values_are_not_evaluated() {
    let text = r#"tosca_definitions_version: tosca_2_0
node_types:
  N:
    properties:
      size:
        type: integer
        validation: { $less_than: [ $value, { $get_input: limit } ] }
service_template:
  inputs:
    limit: { type: integer }
    size: { type: integer }
  node_templates:
    n: { type: N, properties: { size: { $get_input: size } } }
    m: { type: N, properties: { size: 1000 } }
"#;
    compile_ok(&[("d.yaml", text)]);
}

#[test]
fn a_validation_clause_must_be_boolean() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  A:
    derived_from: string
    validation: { $length: [ $value ] }
  B:
    derived_from: string
    validation: [ 1, 2 ]
"#;
    let errors = compile_err(&[("b.yaml", text)]);
    assert_error(
        &errors,
        &at("b.yaml", text, "$length", 0),
        "a validation clause must be a Boolean expression, but $length does not return a boolean",
    );
    assert_error(
        &errors,
        &at("b.yaml", text, "[ 1, 2 ]", 0),
        "a validation clause must be a Boolean expression",
    );
}

#[test]
fn built_in_functions_check_their_arguments() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  A:
    derived_from: string
    validation: { $and: [ { $equal: [ 1, "1" ] } ] }
  B:
    derived_from: string
    validation: { $matches: [ $value, "(abc" ] }
  C:
    derived_from: string
    validation: { $not: [ 5 ] }
  D:
    derived_from: integer
    validation: { $equal: [ { $token: [ abc, ":" ] }, x ] }
"#;
    let errors = compile_err(&[("f.yaml", text)]);
    assert_error(
        &errors,
        &at("f.yaml", text, "$and", 0),
        "$and takes at least 2 arguments, not 1",
    );
    assert_error(
        &errors,
        &at("f.yaml", text, "$equal", 0),
        "$equal compares integer 1 with string \"1\"",
    );
    assert_error(
        &errors,
        &at("f.yaml", text, "\"(abc\"", 0),
        "the pattern of $matches is not a valid regular expression",
    );
    assert_error(
        &errors,
        &at("f.yaml", text, "5 ]", 0),
        "argument 1 of $not must be a boolean, not integer 5",
    );
    assert_error(
        &errors,
        &at("f.yaml", text, "$token", 0),
        "$token takes 3 arguments, not 2",
    );
}

#[test]
fn declared_functions_are_checked_against_their_signatures() {
    let text = r#"tosca_definitions_version: tosca_2_0
functions:
  sqrt:
    signatures:
      - arguments: [ integer ]
        result: float
      - arguments: [ float ]
        result: float
node_types:
  N:
    properties:
      a: { type: float }
      b: { type: float, required: false }
      c: { type: float, required: false }
service_template:
  node_templates:
    n:
      type: N
      properties:
        a: { $sqrt: [ 4 ] }
        b: { $sqrt: [ "four" ] }
        c: { $sqrt: [ 1, 2 ] }
"#;
    let errors = compile_err(&[("s.yaml", text)]);
    assert_error(
        &errors,
        &at("s.yaml", text, "$sqrt: [ \"four", 0),
        "no signature of function \"$sqrt\"",
    );
    assert_error(
        &errors,
        &at("s.yaml", text, "$sqrt: [ 1, 2", 0),
        "signature 1 takes 1 argument(s), not 2",
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn functions_imported_with_a_namespace_are_called_with_it() {
    let lib = "tosca_definitions_version: tosca_2_0\nfunctions:\n  rnd:\n    signatures:\n      - result: integer\n";
    let main = "tosca_definitions_version: tosca_2_0\nimports:\n  - url: lib.yaml\n    namespace: lib\nnode_types:\n  N:\n    properties:\n      a: { type: integer }\nservice_template:\n  node_templates:\n    n: { type: N, properties: { a: $lib:rnd } }\n";
    compile_ok(&[("main.yaml", main), ("lib.yaml", lib)]);
    let bare = main.replace("$lib:rnd", "$rnd");
    let errors = compile_err(&[("main.yaml", &bare), ("lib.yaml", lib)]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown function \"$rnd\"")),
        "{errors:#?}"
    );
}

#[test]
fn clauses_must_suit_the_type_they_validate() {
    let text = r#"tosca_definitions_version: tosca_2_0
data_types:
  Name:
    derived_from: string
    validation: { $greater_than: [ $value, 5 ] }
  Flag:
    derived_from: boolean
    validation: { $less_than: [ $value, true ] }
  Count:
    derived_from: integer
    validation: { $and: [ { $valid_values: [ $value, [ 1, two ] ] }, { $greater_than: [ { $length: [ $value ] }, 1 ] } ] }
  Size:
    derived_from: scalar
    units: { B: 1 }
    validation: { $greater_or_equal: [ $value, 0 ] }
"#;
    let errors = compile_err(&[("c.yaml", text)]);
    assert_error(
        &errors,
        &at("c.yaml", text, "5 ]", 0),
        "$greater_than compares a value of type \"Name\" with integer 5",
    );
    assert_error(
        &errors,
        &at("c.yaml", text, "$less_than", 0),
        "$less_than orders values, but values of type \"Flag\" (boolean) are not ordered",
    );
    assert_error(
        &errors,
        &at("c.yaml", text, "two", 0),
        "$valid_values lists string \"two\" for values of type \"Count\"",
    );
    assert_error(
        &errors,
        &at("c.yaml", text, "$length", 0),
        "$length applies to strings, bytes, lists and maps, not to values of type \"Count\"",
    );
    assert_eq!(errors.len(), 4, "{errors:#?}");
}
