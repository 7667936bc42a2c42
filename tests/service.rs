//! Black-box tests of the service through the generated gRPC clients: a real server on
//! 127.0.0.1:0 with a temporary sled folder and journal, restarted for real.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use dunghan::proto::v1 as pb;
use support::*;
use tonic::Code;

async fn ingest(server: &TestServer, events: Vec<pb::Event>) -> pb::IngestBatchResponse {
    server.batch(events).await
}

async fn get_file(server: &TestServer, file: &str) -> pb::File {
    server.file(file).await
}

fn verdict(file: &pb::File) -> pb::Verdict {
    pb::Verdict::try_from(file.judgment.as_ref().unwrap().verdict).unwrap()
}

fn due(file: &pb::File) -> Option<dunghan::proto::wkt::Timestamp> {
    file.judgment
        .as_ref()
        .unwrap()
        .explanation
        .as_ref()
        .unwrap()
        .due_at
}

#[tokio::test]
async fn ingested_file_reads_back_judged_with_its_control_slip() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let response = ingest(&server, permit_file("F1", "2025-03-28 15:00")).await;
    assert_eq!(response.accepted, 4, "{:?}", response.results);
    let file = get_file(&server, "F1").await;
    assert_eq!(file.procedure_code, "1.009972");
    assert_eq!(file.status, pb::FileStatus::Resolved as i32);
    // 20 working days = 160 working hours from Mon 3/3/2025 08:00: Mon 7.5h, then 19 full
    // days to Fri 28/3 17:00 (152h), and 0.5h on Mon 31/3: due 31/3 08:00.
    assert_eq!(due(&file), Some(ts("2025-03-31 08:00")));
    assert_eq!(verdict(&file), pb::Verdict::Early);
    let steps: Vec<&str> = file
        .control_slip
        .iter()
        .map(|row| row.step_code.as_str())
        .collect();
    assert_eq!(steps, ["tiep-nhan", "tham-dinh", "phe-duyet"]);
    assert_eq!(file.timeline.len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn restart_finds_everything_and_duplicates_stay_duplicates() {
    let mut server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let events = permit_file("F2", "2025-04-10 09:00");
    assert_eq!(ingest(&server, events.clone()).await.accepted, 4);
    let before = get_file(&server, "F2").await;
    server.restart().await;
    let after = get_file(&server, "F2").await;
    assert_eq!(before, after);
    assert_eq!(verdict(&after), pb::Verdict::Late);
    let again = ingest(&server, events).await;
    assert_eq!(again.duplicates, 4, "{:?}", again.results);
    assert_eq!(again.accepted, 0);
    server.stop().await;
}

#[tokio::test]
async fn same_id_with_other_content_is_a_conflict_and_the_stored_event_is_kept() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let mut events = permit_file("F3", "2025-03-28 15:00");
    ingest(&server, events.clone()).await;
    let mut changed = events.remove(3);
    changed.occurred_at = Some(ts("2025-04-20 15:00"));
    // A relay of the same event by another system is the same event.
    let mut relayed = events.remove(0);
    relayed.source = "cong-dich-vu-cong-quoc-gia".to_owned();
    let response = ingest(&server, vec![changed, relayed]).await;
    assert_eq!(
        outcomes(&response),
        [pb::EventOutcome::Conflict, pb::EventOutcome::Duplicate]
    );
    let conflict = response.results[0].conflict.as_ref().unwrap();
    assert_ne!(conflict.stored_content_hash, conflict.received_content_hash);
    let file = get_file(&server, "F3").await;
    assert_eq!(file.finished_at, Some(ts("2025-03-28 15:00")));
    server.stop().await;
}

#[tokio::test]
async fn out_of_order_arrival_gives_the_same_state_as_in_order() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let in_order = permit_file("IN", "2025-04-02 10:00");
    let mut reversed = permit_file("OUT", "2025-04-02 10:00");
    reversed.reverse();
    ingest(&server, in_order).await;
    // One event at a time, newest first: every arrival re-folds the file.
    for event in reversed {
        assert_eq!(ingest(&server, vec![event]).await.accepted, 1);
    }
    let mut a = get_file(&server, "IN").await;
    let mut b = get_file(&server, "OUT").await;
    // The two files differ only in their ids and their events' ids.
    for file in [&mut a, &mut b] {
        file.file_id.clear();
        file.timeline.clear();
        for breach in &mut file.rules_broken {
            breach.event_id.clear();
        }
    }
    assert_eq!(a, b);
    assert_eq!(verdict(&a), pb::Verdict::Late);
    server.stop().await;
}

#[tokio::test]
async fn bad_events_are_rejected_with_field_and_value_while_good_ones_land() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let good = event(
        "G1",
        "F5",
        "2025-03-03 08:00",
        received("1.009972", "ttphvhcc", "cb-mot-cua-1"),
    );
    let mut no_kind = event("B1", "F5", "2025-03-03 09:00", resolved());
    no_kind.kind = None;
    let far_future = event("B2", "F5", "2999-01-01 00:00", resolved());
    let no_file = event("B3", "", "2025-03-03 09:00", resolved());
    let long_reason = event(
        "B4",
        "F5",
        "2025-03-03 09:00",
        pb::event::Kind::Rejected(pb::event::Rejected {
            reason: "x".repeat(5000),
        }),
    );
    let unknown_channel = event(
        "B5",
        "F6",
        "2025-03-03 09:00",
        pb::event::Kind::Received(pb::event::Received {
            procedure_code: "1.009972".to_owned(),
            channel: 9,
            receiving_unit_id: "ttphvhcc".to_owned(),
            receiving_officer_id: String::new(),
            appointment_at: None,
        }),
    );
    let also_good = event("G2", "F5", "2025-03-04 09:00", resolved());
    let response = ingest(
        &server,
        vec![
            good,
            no_kind,
            far_future,
            no_file,
            long_reason,
            unknown_channel,
            also_good,
        ],
    )
    .await;
    use pb::EventOutcome::{Accepted, Rejected};
    assert_eq!(
        outcomes(&response),
        [Accepted, Rejected, Rejected, Rejected, Rejected, Rejected, Accepted]
    );
    let fields: Vec<(i32, &str)> = response.results[1..6]
        .iter()
        .map(|r| {
            let rejection = r.rejection.as_ref().unwrap();
            (rejection.reason, rejection.field_path.as_str())
        })
        .collect();
    use pb::RejectionReason::{InvalidValue, MissingField, TooLong};
    assert_eq!(
        fields,
        [
            (MissingField as i32, "events[1].kind"),
            (InvalidValue as i32, "events[2].occurred_at"),
            (MissingField as i32, "events[3].file_id"),
            (TooLong as i32, "events[4].rejected.reason"),
            (InvalidValue as i32, "events[5].received.channel"),
        ]
    );
    // Local 2999-01-01 00:00 +07:00, named in UTC.
    let value = &response.results[2].rejection.as_ref().unwrap().value;
    assert!(value.starts_with("2998-12-31T17:00:00"), "{value}");
    assert_eq!(
        get_file(&server, "F5").await.status,
        pb::FileStatus::Resolved as i32
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_batch_is_refused_naming_the_limit() {
    let server = TestServer::start("2025-04-30 12:00").await;
    let events = (0..1001)
        .map(|i| event(&format!("E{i}"), "F", "2025-03-03 08:00", resolved()))
        .collect();
    let err = server
        .ingest()
        .await
        .ingest_batch(pb::IngestBatchRequest {
            events,
            backfill: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at most 1000"), "{}", err.message());
    server.stop().await;
}

#[tokio::test]
async fn events_for_an_unknown_procedure_are_kept_and_judged_once_the_catalog_has_it() {
    let server = TestServer::start("2025-03-05 12:00").await;
    server.load_example_catalog().await;
    let response = ingest(
        &server,
        vec![event(
            "U1",
            "F7",
            "2025-03-03 08:00",
            received("9.999999", "ttphvhcc", "cb-mot-cua-1"),
        )],
    )
    .await;
    assert_eq!(response.accepted, 1);
    let file = get_file(&server, "F7").await;
    assert_eq!(verdict(&file), pb::Verdict::Unjudged);
    let reason = file
        .judgment
        .as_ref()
        .unwrap()
        .unjudged_reason
        .as_ref()
        .unwrap();
    assert_eq!(reason.cause, pb::UnjudgedCause::UnknownProcedure as i32);
    assert_eq!(reason.missing_id, "9.999999");
    let document = "[[procedure]]\ncode = \"9.999999\"\nname = \"Thủ tục mới\"\nfield = \"khac\"\neffective_from = \"2025-01-01\"\ndeadline = { amount = 1, unit = \"working-days\" }\n";
    let loaded = server
        .catalog()
        .await
        .load_catalog(pb::LoadCatalogRequest {
            document: document.to_owned(),
            format: pb::CatalogFormat::Toml as i32,
            document_name: String::new(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(loaded.applied, "{:?}", loaded.diagnostics);
    let file = get_file(&server, "F7").await;
    assert_eq!(due(&file), Some(ts("2025-03-04 08:00")));
    assert_eq!(verdict(&file), pb::Verdict::Overdue);
    server.stop().await;
}

#[tokio::test]
async fn stream_acks_each_request_in_order() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let mut events = permit_file("S1", "2025-03-28 15:00");
    let second = events.split_off(2);
    let requests = tokio_stream::iter(vec![
        pb::IngestRequest {
            events,
            backfill: false,
        },
        pb::IngestRequest {
            events: second.clone(),
            backfill: false,
        },
        pb::IngestRequest {
            events: second,
            backfill: false,
        },
    ]);
    let mut acks = server
        .ingest()
        .await
        .ingest(requests)
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        let results: Vec<i32> = ack.results.iter().map(|r| r.outcome).collect();
        seen.push((ack.request_index, results));
    }
    let (a, d) = (
        pb::EventOutcome::Accepted as i32,
        pb::EventOutcome::Duplicate as i32,
    );
    assert_eq!(seen, [(0, vec![a, a]), (1, vec![a, a]), (2, vec![d, d])]);
    server.stop().await;
}

#[tokio::test]
async fn bad_catalog_document_is_refused_with_line_and_field() {
    let server = TestServer::start("2025-04-30 12:00").await;
    let response = server
        .catalog()
        .await
        .load_catalog(pb::LoadCatalogRequest {
            document: "[[unit]]\nid = \"a\"\nname = \"A\"\nkind = \"palace\"\neffective_from = \"2025-01-01\"\n".to_owned(),
            format: pb::CatalogFormat::Toml as i32,
            document_name: String::new(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!response.applied);
    assert_eq!(response.diagnostics.len(), 1);
    assert_eq!(response.diagnostics[0].line, 4);
    assert!(response.diagnostics[0].message.contains("palace"));
    server.stop().await;
}

#[tokio::test]
async fn counters_equal_a_recount_through_late_events_and_restarts() {
    let mut server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    for (idx, resolved_at) in ["2025-03-28 15:00", "2025-04-10 09:00", "2025-03-31 08:00"]
        .iter()
        .enumerate()
    {
        ingest(&server, permit_file(&format!("C{idx}"), resolved_at)).await;
    }
    // A late event that happened earlier turns C1 from late to early.
    ingest(
        &server,
        vec![event("C1-early", "C1", "2025-03-27 10:00", resolved())],
    )
    .await;
    // An open file and a file for an unknown procedure count only what they should.
    ingest(
        &server,
        vec![event(
            "C3-1",
            "C3",
            "2025-04-28 08:00",
            received("1.009972", "ttphvhcc", ""),
        )],
    )
    .await;
    ingest(
        &server,
        vec![event(
            "C4-1",
            "C4",
            "2025-04-28 08:00",
            received("9.9", "ttphvhcc", ""),
        )],
    )
    .await;
    let check = |server: &TestServer| {
        let engine = server.running.as_ref().unwrap().engine();
        let stored = engine.stored_counters().unwrap();
        assert_eq!(stored, engine.recount().unwrap());
        let total = stored
            .values()
            .fold(dunghan_domain::stats::Counts::default(), |mut sum, c| {
                sum += *c;
                sum
            });
        (total.received, total.early, total.on_time, total.late)
    };
    // Received 4 judged files; C0 early (28/3), C1 early (27/3), C2 on time (due day).
    assert_eq!(check(&server), (4, 2, 1, 0));
    server.restart().await;
    assert_eq!(check(&server), (4, 2, 1, 0));
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_let_generic_clients_discover_the_api() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let server = TestServer::start("2025-04-30 12:00").await;
    let channel = server.raw_channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "dunghan.v1.IngestService".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "dunghan.v1.IngestService",
        "dunghan.v1.CatalogService",
        "dunghan.v1.QueryService",
    ] {
        assert!(names.contains(&service.to_owned()), "{names:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn backfilled_history_is_not_flagged_as_backdated_but_a_live_push_is() {
    let server = TestServer::start("2025-04-30 12:00").await;
    server.load_example_catalog().await;
    let mut client = server.ingest().await;
    let backdated = |file: &pb::File| {
        file.rules_broken
            .iter()
            .filter(|b| b.rule == pb::RuleKind::BackdatedEvent as i32)
            .count()
    };
    client
        .ingest_batch(pb::IngestBatchRequest {
            events: permit_file("OLD", "2025-03-27 10:00"),
            backfill: true,
        })
        .await
        .unwrap();
    assert_eq!(backdated(&get_file(&server, "OLD").await), 0);
    ingest(&server, permit_file("LIVE", "2025-03-27 10:00")).await;
    assert_eq!(backdated(&get_file(&server, "LIVE").await), 4);
    server.stop().await;
}
