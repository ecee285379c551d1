//! The public types as the agent uses them.

mod common;

use common::*;
use khutulun_scheduler::{place, InstanceId, PlacementError, Request};

#[test]
fn instance_ids_read_and_sort_naturally() {
    assert_eq!(id("web", 0).to_string(), "web-0");
    let mut ids = vec![id("web", 10), id("web", 2), id("cache", 5)];
    ids.sort();
    assert_eq!(ids, [id("cache", 5), id("web", 2), id("web", 10)]);
}

#[test]
fn requests_and_placements_round_trip_through_json() {
    let mut req = request(
        vec![
            inst("web", 0, res(500, 256 * MIB)),
            inst("web", 1, res(500, 256 * MIB)),
        ],
        vec![
            placement("on-ssd", &["web"], &["a", "b"], &[("disk", "ssd")]),
            colocation("pair", &["web", "cache"]),
            separation("apart", &["web"], true),
        ],
    );
    req.fixed = vec![(InstanceId::new("cache", 0), "a".to_string())];
    let json = serde_json::to_string(&req).unwrap();
    assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);

    let hs = vec![
        labelled("a", &[("disk", "ssd")]),
        labelled("b", &[("disk", "ssd")]),
    ];
    let p = place(&req, &hs).unwrap();
    assert_eq!(host_of(&p, "web-0"), "a");
    assert_eq!(host_of(&p, "web-1"), "b");
    let back = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(p, back);
    assert_eq!(
        reasons_of(&p, "web-0")[0],
        "policy \"on-ssd\" (placement): host a or b with label disk=ssd"
    );
}

#[test]
fn errors_are_std_errors() {
    let e: Box<dyn std::error::Error> =
        Box::new(place(&request(node("web", 1), vec![]), &[]).unwrap_err());
    assert_eq!(e.to_string(), "no live host to place on");
    let _: &PlacementError = e.downcast_ref().unwrap();
}
