//! Each computed built-in's meaning, once: results, and the errors that are not results.

use super::*;
use crate::model::ScalarUnits;
use serde_json::json;

fn plain(values: Vec<Value>) -> Vec<Typed> {
    values.into_iter().map(Typed::plain).collect()
}

/// `function` with plain arguments gives `expected`: a value, or an error containing the text.
#[track_caller]
fn case(function: &str, args: Vec<Value>, expected: Result<Value, &str>) {
    let got = call(function, &plain(args.clone()));
    match (&got, &expected) {
        (Ok(value), Ok(wanted)) if value == wanted => {}
        (Err(message), Err(needle)) if message.contains(needle) => {}
        _ => panic!("${function} {args:?}: got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn boolean_logic() {
    case("and", vec![json!(true), json!(true)], Ok(json!(true)));
    case("and", vec![json!(true), json!(false)], Ok(json!(false)));
    case("or", vec![json!(false), json!(true)], Ok(json!(true)));
    case("or", vec![json!(false), json!(false)], Ok(json!(false)));
    case("not", vec![json!(false)], Ok(json!(true)));
    case("xor", vec![json!(true), json!(false)], Ok(json!(true)));
    case("xor", vec![json!(true), json!(true)], Ok(json!(false)));
    case(
        "and",
        vec![json!(true), json!(1)],
        Err("argument 2 of $and must be a boolean, not integer 1"),
    );
    case(
        "not",
        vec![json!(true), json!(true)],
        Err("$not takes 1 argument, not 2"),
    );
    case(
        "xor",
        vec![json!(true)],
        Err("$xor takes 2 arguments, not 1"),
    );
    // A decisive argument decides, whatever the others are.
    assert_eq!(decides("and", &json!(false)), Some(json!(false)));
    assert_eq!(decides("or", &json!(true)), Some(json!(true)));
    assert_eq!(decides("and", &json!(true)), None);
    assert_eq!(decides("equal", &json!(true)), None);
}

#[test]
fn equality() {
    case("equal", vec![json!(1), json!(1.0)], Ok(json!(true)));
    case("equal", vec![json!("a"), json!("b")], Ok(json!(false)));
    case("equal", vec![json!(true), json!(true)], Ok(json!(true)));
    case(
        "equal",
        vec![json!([1, [2]]), json!([1.0, [2]])],
        Ok(json!(true)),
    );
    case(
        "equal",
        vec![json!([1, 2]), json!([2, 1])],
        Ok(json!(false)),
    );
    case(
        "equal",
        vec![json!({ "a": 1, "b": 2 }), json!({ "b": 2, "a": 1 })],
        Ok(json!(true)),
    );
    case("equal", vec![json!(null), json!("a")], Ok(json!(false)));
    case("equal", vec![json!(null), json!(null)], Ok(json!(true)));
    case(
        "equal",
        vec![json!(1), json!("1")],
        Err("must have the same type (§10.2.2.2.1)"),
    );
    case(
        "equal",
        vec![json!([1]), json!({ "a": 1 })],
        Err("must have the same type"),
    );
}

#[test]
fn ordering() {
    case("greater_than", vec![json!(2), json!(1.5)], Ok(json!(true)));
    case("greater_than", vec![json!(2), json!(2)], Ok(json!(false)));
    case(
        "greater_or_equal",
        vec![json!(2), json!(2)],
        Ok(json!(true)),
    );
    case("less_than", vec![json!("a"), json!("b")], Ok(json!(true)));
    case(
        "less_or_equal",
        vec![json!("b"), json!("a")],
        Ok(json!(false)),
    );
    case(
        "less_than",
        vec![json!(i64::MAX - 1), json!(i64::MAX)],
        Ok(json!(true)),
    );
    case(
        "less_than",
        vec![json!(1), json!("a")],
        Err("cannot compare integer 1 with string \"a\""),
    );
    case(
        "greater_than",
        vec![json!(true), json!(false)],
        Err("cannot compare"),
    );
    case(
        "greater_than",
        vec![json!([2]), json!([1])],
        Err("cannot compare"),
    );
}

fn metres() -> Kind {
    Kind::Scalar(ScalarUnits {
        integer: false,
        units: vec![("m".into(), 1.0)],
        prefixes: vec![("c".into(), 0.01), ("m".into(), 0.001), ("".into(), 1.0)],
    })
}

fn typed(value: Value, kind: Option<Kind>) -> Typed {
    Typed { value, kind }
}

#[test]
fn special_types_compare_by_their_kind() {
    let scalar = |s: &str| typed(json!(s), Some(metres()));
    let less = |a: Typed, b: Typed| call("less_than", &[a, b]);
    assert_eq!(
        less(scalar("125.3 mm"), Typed::plain(json!("15 cm"))),
        Ok(json!(true))
    );
    assert_eq!(
        less(scalar("1 m"), Typed::plain(json!(0.5))),
        Ok(json!(false))
    );
    assert_eq!(
        call("equal", &[scalar("100 cm"), Typed::plain(json!("1 m"))]),
        Ok(json!(true))
    );
    assert!(less(scalar("1 parsec"), scalar("1 m"))
        .unwrap_err()
        .contains("unknown unit"));

    let version = |s: &str| typed(json!(s), Some(Kind::Version));
    assert_eq!(less(version("1.2"), version("1.10")), Ok(json!(true)));
    assert_eq!(
        call("equal", &[version("2.0.0"), version("2.0")]),
        Ok(json!(true))
    );
    assert_eq!(
        less(version("2.0.0.beta"), version("2.0.0")),
        Ok(json!(true))
    );
    assert_eq!(
        less(version("2.0.0.beta-2"), version("2.0.0.beta-10")),
        Ok(json!(true))
    );
    assert!(less(version("2.0.0.alpha"), version("2.0.0.beta")).is_err());
    assert!(less(version("1..0"), version("1.0")).is_err());
    // Without the kind, the same strings compare as text.
    case(
        "less_than",
        vec![json!("1.2"), json!("1.10")],
        Ok(json!(false)),
    );

    let instant = |s: &str| typed(json!(s), Some(Kind::Timestamp));
    assert_eq!(
        call(
            "equal",
            &[
                instant("2025-07-22T10:00:00Z"),
                Typed::plain(json!("2025-07-22T12:00:00+02:00"))
            ]
        ),
        Ok(json!(true))
    );
    assert!(less(instant("yesterday"), instant("2025-07-22T10:00:00Z")).is_err());

    // Entries are found by the kind of the value sought.
    assert_eq!(
        call(
            "valid_values",
            &[version("2.0"), Typed::plain(json!(["1.0", "2.0.0"]))]
        ),
        Ok(json!(true))
    );
}

#[test]
fn strings_and_lists() {
    case(
        "matches",
        vec![json!("abc"), json!("^a.c$")],
        Ok(json!(true)),
    );
    case("matches", vec![json!("xabcx"), json!("b")], Ok(json!(true)));
    case("matches", vec![json!("abc"), json!("^b")], Ok(json!(false)));
    case(
        "matches",
        vec![json!("abc"), json!("(a")],
        Err("not a valid regular expression"),
    );
    case(
        "has_suffix",
        vec![json!("hello"), json!("lo")],
        Ok(json!(true)),
    );
    case(
        "has_prefix",
        vec![json!("hello"), json!("lo")],
        Ok(json!(false)),
    );
    case(
        "contains",
        vec![json!("hello"), json!("ell")],
        Ok(json!(true)),
    );
    case(
        "has_suffix",
        vec![json!([1, 2, 3]), json!([2, 3])],
        Ok(json!(true)),
    );
    case(
        "has_prefix",
        vec![json!([1, 2, 3]), json!([1, 2.0])],
        Ok(json!(true)),
    );
    case(
        "contains",
        vec![json!([1, 2, 3]), json!([1, 3])],
        Ok(json!(false)),
    );
    case("contains", vec![json!([1]), json!([])], Ok(json!(true)));
    case(
        "has_suffix",
        vec![json!("a"), json!(["a"])],
        Err("two strings or two lists"),
    );
    case(
        "contains",
        vec![json!(1), json!("1")],
        Err("must be a string or a list"),
    );
}

#[test]
fn membership() {
    case(
        "valid_values",
        vec![json!(2), json!([1, 2])],
        Ok(json!(true)),
    );
    case(
        "valid_values",
        vec![json!(3), json!([1, 2])],
        Ok(json!(false)),
    );
    case(
        "valid_values",
        vec![json!(3), json!(3)],
        Err("argument 2 of $valid_values must be a list"),
    );
    case(
        "has_entry",
        vec![json!([1, [2]]), json!([2.0])],
        Ok(json!(true)),
    );
    case(
        "has_entry",
        vec![json!({ "a": "x" }), json!("x")],
        Ok(json!(true)),
    );
    case(
        "has_entry",
        vec![json!({ "x": 1 }), json!("x")],
        Ok(json!(false)),
    );
    case(
        "has_entry",
        vec![json!("x"), json!("x")],
        Err("must be a list or a map"),
    );
    case(
        "has_key",
        vec![json!({ "a": 1 }), json!("a")],
        Ok(json!(true)),
    );
    case(
        "has_key",
        vec![json!({ "a": 1 }), json!(1)],
        Ok(json!(false)),
    );
    case(
        "has_key",
        vec![json!(["a"]), json!("a")],
        Err("must be a map"),
    );
    case(
        "has_all_entries",
        vec![json!([1, 2, 3]), json!([3, 1])],
        Ok(json!(true)),
    );
    case(
        "has_all_entries",
        vec![json!([1, 2]), json!([3, 1])],
        Ok(json!(false)),
    );
    case(
        "has_any_entry",
        vec![json!({ "a": 1 }), json!([3, 1])],
        Ok(json!(true)),
    );
    case(
        "has_any_entry",
        vec![json!([1]), json!([])],
        Ok(json!(false)),
    );
    case(
        "has_all_keys",
        vec![json!({ "a": 1, "b": 2 }), json!(["a", "b"])],
        Ok(json!(true)),
    );
    case(
        "has_all_keys",
        vec![json!({ "a": 1 }), json!(["a", "b"])],
        Ok(json!(false)),
    );
    case(
        "has_any_key",
        vec![json!({ "a": 1 }), json!(["b", "a"])],
        Ok(json!(true)),
    );
    case(
        "has_any_key",
        vec![json!({ "a": 1 }), json!("a")],
        Err("must be a list"),
    );
}

#[test]
fn length_concat_join_token() {
    case("length", vec![json!("héllo")], Ok(json!(5)));
    case("length", vec![json!([1, 2])], Ok(json!(2)));
    case("length", vec![json!({ "a": 1 })], Ok(json!(1)));
    case(
        "length",
        vec![json!(5)],
        Err("must be a string, a list or a map, not integer 5"),
    );
    assert_eq!(
        call("length", &[typed(json!("R0lGODlh"), Some(Kind::Bytes))]),
        Ok(json!(6))
    );
    case("concat", vec![json!("a"), json!("b")], Ok(json!("ab")));
    // Numbers and booleans join strings as their text, as the standard's example of a URL
    // with a port does (§10.2.3.2).
    case(
        "concat",
        vec![json!("a"), json!(1), json!(2.5), json!(true)],
        Ok(json!("a12.5true")),
    );
    case(
        "concat",
        vec![json!([1]), json!([2, [3]])],
        Ok(json!([1, 2, [3]])),
    );
    case(
        "concat",
        vec![json!("a"), json!([1])],
        Err("all lists or all strings"),
    );
    case(
        "concat",
        vec![json!("a"), json!(null)],
        Err("argument 2 of $concat must be a string, a number, a boolean or a list, not null"),
    );
    case(
        "join",
        vec![json!(["a", "b"]), json!(",")],
        Ok(json!("a,b")),
    );
    case("join", vec![json!(["a", "b"])], Ok(json!("ab")));
    case(
        "join",
        vec![json!(["a", 1])],
        Err("must hold strings, not integer 1"),
    );
    case(
        "token",
        vec![json!("a::b:c"), json!(":"), json!(1)],
        Ok(json!("b")),
    );
    case(
        "token",
        vec![json!("a b,c"), json!(" ,"), json!(2)],
        Ok(json!("c")),
    );
    case(
        "token",
        vec![json!("a:b"), json!(":"), json!(2)],
        Err("has 2 token(s)"),
    );
    case(
        "token",
        vec![json!("a:b"), json!(":")],
        Err("$token takes 3 arguments, not 2"),
    );
}

#[test]
fn sets() {
    case(
        "union",
        vec![json!([1, 2, 2]), json!([2.0, 3])],
        Ok(json!([1, 2, 3])),
    );
    case("union", vec![json!([1, 1])], Ok(json!([1])));
    case(
        "intersection",
        vec![json!([1, 2, 3, 3]), json!([3, 1])],
        Ok(json!([1, 3])),
    );
    case("intersection", vec![json!([1]), json!([2])], Ok(json!([])));
    case(
        "union",
        vec![json!([1]), json!(2)],
        Err("argument 2 of $union must be a list"),
    );
}

#[test]
fn arithmetic() {
    case("sum", vec![json!(1), json!(2), json!(3)], Ok(json!(6)));
    case("sum", vec![json!(1), json!(0.5)], Ok(json!(1.5)));
    case("sum", vec![json!(i64::MAX), json!(1)], Err("overflows"));
    case("difference", vec![json!(1), json!(3)], Ok(json!(-2)));
    case("product", vec![json!(2), json!(3)], Ok(json!(6)));
    case("product", vec![json!(2), json!(1.5)], Ok(json!(3.0)));
    case("quotient", vec![json!(6), json!(4)], Ok(json!(1.5)));
    case("quotient", vec![json!(1), json!(0)], Err("divides by zero"));
    case("remainder", vec![json!(7), json!(3)], Ok(json!(1)));
    case(
        "remainder",
        vec![json!(7), json!(0)],
        Err("divides by zero"),
    );
    case(
        "remainder",
        vec![json!(7), json!(2.5)],
        Err("argument 2 of $remainder must be an integer"),
    );
    case("round", vec![json!(3.5)], Ok(json!(3)));
    case("round", vec![json!(3.53)], Ok(json!(4)));
    case("round", vec![json!(-2.5)], Ok(json!(-3)));
    case("floor", vec![json!(-1.5)], Ok(json!(-2)));
    case("ceil", vec![json!(1.2)], Ok(json!(2)));
    case("ceil", vec![json!("1.2")], Err("must be a number"));
    case(
        "sum",
        vec![json!("1 m")],
        Err("arithmetic on scalars is not supported"),
    );
}

#[test]
fn checks_of_partly_known_arguments() {
    let one = Typed::plain(json!(1));
    let text = Typed::plain(json!("1"));
    let messages = |function: &str, args: &[Option<&Typed>]| -> Vec<String> {
        check(function, args)
            .into_iter()
            .map(|p| p.message)
            .collect()
    };
    // Unknown arguments are not judged; known ones are.
    assert!(messages("equal", &[Some(&one), None]).is_empty());
    assert_eq!(
        check("equal", &[Some(&one), Some(&text)])[0].place,
        Place::Call
    );
    assert_eq!(check("not", &[Some(&one)])[0].place, Place::Argument(0));
    let list = Typed::plain(json!(["a", 2]));
    assert_eq!(
        check("join", &[Some(&list), None])[0].place,
        Place::Entry(0, 1)
    );
    // A pattern using what the matcher lacks is not invalid; only its match is not known.
    let lookahead = Typed::plain(json!("a(?=b)"));
    assert!(messages("matches", &[None, Some(&lookahead)]).is_empty());
    assert!(call("matches", &[Typed::plain(json!("ab")), lookahead]).is_err());
    // The graph queries are not computed here.
    assert!(!computes("get_input"));
    assert!(check("get_input", &[]).is_empty());
    assert!(computes("xor"));
}
