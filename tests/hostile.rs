//! Hostile input through the real API: each bad event gets a clear error naming the field
//! and value, the server keeps serving, and nothing acknowledged before changes.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use dunghan::proto::v1 as pb;
use support::*;

async fn batch(server: &TestServer, events: Vec<pb::Event>) -> pb::IngestBatchResponse {
    server.batch(events).await
}

async fn file(server: &TestServer, id: &str) -> pb::File {
    server.file(id).await
}

fn rejection(response: &pb::IngestBatchResponse, idx: usize) -> (String, String, String) {
    let result = &response.results[idx];
    assert_eq!(
        result.outcome,
        pb::EventOutcome::Rejected as i32,
        "{result:?}"
    );
    let r = result.rejection.as_ref().unwrap();
    (r.field_path.clone(), r.value.clone(), r.message.clone())
}

#[tokio::test]
async fn hostile_events_are_refused_with_field_and_value_and_change_nothing() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let mut events = permit_file("H1", "2025-03-28 15:00");
    let resolved = events.pop().unwrap();
    assert_eq!(batch(&server, events).await.accepted, 3);
    let before = file(&server, "H1").await;

    // A handover from someone who does not hold the file (giam-doc-xd holds it now).
    let stolen = event(
        "H1-x1",
        "H1",
        "2025-03-26 09:00",
        handed(
            ("cv-qlxd-1", "so-xd-qlxd"),
            ("cb-mot-cua-1", "ttphvhcc"),
            "tra-ket-qua",
        ),
    );
    let response = batch(&server, vec![stolen]).await;
    let (field, value, message) = rejection(&response, 0);
    assert_eq!(
        (field.as_str(), value.as_str()),
        ("events[0].handed_over.from_unit_id", "so-xd-qlxd")
    );
    assert!(message.contains("giam-doc-xd@so-xd"), "{message}");
    assert_eq!(
        file(&server, "H1").await,
        before,
        "a refused event changes nothing"
    );

    // A resolved file that gets more events after its end.
    assert_eq!(batch(&server, vec![resolved]).await.accepted, 1);
    let after_end = event(
        "H1-x2",
        "H1",
        "2025-04-02 09:00",
        handed(
            ("giam-doc-xd", "so-xd"),
            ("cv-qlxd-1", "so-xd-qlxd"),
            "tham-dinh",
        ),
    );
    let response = batch(&server, vec![after_end]).await;
    let (field, value, message) = rejection(&response, 0);
    assert_eq!(
        (field.as_str(), value.as_str()),
        ("events[0].kind", "handed_over")
    );
    assert!(message.contains("ended its clock"), "{message}");

    // Malformed timestamps and oversized strings, each with its field.
    let mut bad_nanos = event("H2-1", "H2", "2025-03-03 08:00", resolved_kind());
    bad_nanos.occurred_at.as_mut().unwrap().nanos = 2_000_000_000;
    let mut negative = event("H2-2", "H2", "2025-03-03 08:00", resolved_kind());
    negative.occurred_at.as_mut().unwrap().seconds = -86_400;
    let huge_id = event(&"x".repeat(500), "H2", "2025-03-03 08:00", resolved_kind());
    let response = batch(&server, vec![bad_nanos, negative, huge_id]).await;
    let fields: Vec<String> = (0..3).map(|i| rejection(&response, i).0).collect();
    assert_eq!(
        fields,
        [
            "events[0].occurred_at",
            "events[1].occurred_at",
            "events[2].event_id"
        ]
    );

    // The server keeps serving, and what was acknowledged before is intact.
    let now = file(&server, "H1").await;
    assert_eq!(now.status, pb::FileStatus::Resolved as i32);
    assert_eq!(now.timeline.len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn a_late_arriving_older_event_is_accepted_and_flagged_not_refused() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    assert_eq!(
        batch(&server, permit_file("H3", "2025-03-28 15:00"))
            .await
            .accepted,
        4
    );
    // Older than the file's newest event: it may just have arrived late, so it is kept,
    // and the fold flags the odd handover instead of refusing it.
    let late = event(
        "H3-late",
        "H3",
        "2025-03-20 09:00",
        handed(
            ("cv-qlxd-1", "so-xd-qlxd"),
            ("an", "so-xd-qlxd"),
            "tham-dinh",
        ),
    );
    assert_eq!(batch(&server, vec![late]).await.accepted, 1);
    server.stop().await;
}

fn resolved_kind() -> pb::event::Kind {
    resolved()
}
