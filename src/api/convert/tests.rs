//! Tests of the wire conversions, each case routed through one helper so it reads as data.

use super::*;

#[test]
fn missing_kind_is_missing_field() {
    let pb = v1::Event {
        event_id: "e1".to_owned(),
        file_id: "f1".to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_736_000_000,
            nanos: 0,
        }),
        source: "s".to_owned(),
        kind: None,
    };
    let err = event_from_pb("events[0]", &pb).unwrap_err();
    assert_eq!(err.field, "events[0].kind");
    assert_eq!(err.reason, FieldReason::Missing);
}
