//! Alert delivery through the generated client against a real server: deadline alerts at
//! the exact instant under a manual clock, rule alerts once durable, retractions, tails that
//! resume without loss or repeats, lagging subscribers, scope and filters, and restarts.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use dunghan::config::Role;
use dunghan::proto::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use support::*;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

/// The short civil-status procedure of the example catalog: 4 working hours.
const SHORT: &str = "2.000488";

/// How long a test waits for one stream item before calling it missing.
const ITEM_WAIT: Duration = Duration::from_secs(5);

/// How long a test waits to be satisfied that nothing more arrives.
const QUIET_WAIT: Duration = Duration::from_millis(300);

async fn ingest(server: &TestServer, events: Vec<pb::Event>) -> pb::IngestBatchResponse {
    let response = server.batch(events).await;
    assert_eq!(response.rejected, 0, "{:?}", response.results);
    response
}

/// Files `{prefix}{i}` for `i` in `0..n`, received with the short procedure at `at`.
fn short_files(prefix: &str, n: usize, at: &str) -> Vec<pb::Event> {
    (0..n)
        .map(|i| {
            let file = format!("{prefix}{i}");
            event(
                &format!("{file}-1"),
                &file,
                at,
                received(SHORT, "ttphvhcc", "cb-mot-cua-1"),
            )
        })
        .collect()
}

fn filter_kinds(kinds: &[pb::AlertKind]) -> pb::AlertFilter {
    pb::AlertFilter {
        kinds: kinds.iter().map(|k| *k as i32).collect(),
        ..pb::AlertFilter::default()
    }
}

async fn open_tail(
    client: &mut AlertServiceClient<Channel>,
    after_sequence: u64,
    filter: Option<pb::AlertFilter>,
) -> Streaming<pb::Alert> {
    client
        .tail(pb::TailRequest {
            after_sequence,
            filter,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn next_alert(stream: &mut Streaming<pb::Alert>) -> pb::Alert {
    tokio::time::timeout(ITEM_WAIT, stream.message())
        .await
        .expect("an alert within the wait")
        .unwrap()
        .expect("the stream is still open")
}

/// Reads alerts until one with `sequence >= last` (checking strict order on the way).
async fn read_through(stream: &mut Streaming<pb::Alert>, after: u64, last: u64) -> Vec<pb::Alert> {
    let mut alerts: Vec<pb::Alert> = Vec::new();
    let mut previous = after;
    while previous < last {
        let alert = next_alert(stream).await;
        assert!(
            alert.sequence > previous,
            "sequence {} after {previous}",
            alert.sequence
        );
        previous = alert.sequence;
        alerts.push(alert);
    }
    alerts
}

async fn assert_quiet(stream: &mut Streaming<pb::Alert>) {
    if let Ok(item) = tokio::time::timeout(QUIET_WAIT, stream.message()).await {
        panic!("expected nothing more, got {item:?}");
    }
}

/// Every stored alert passing `filter`, through ListAlerts pages of `page_size`.
async fn list_all(
    client: &mut AlertServiceClient<Channel>,
    filter: Option<pb::AlertFilter>,
    page_size: u32,
) -> Vec<pb::Alert> {
    list_as(client, None, filter, page_size).await
}

/// A request carrying `token` as a bearer token, if given.
fn authorized<T>(token: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

async fn list_as(
    client: &mut AlertServiceClient<Channel>,
    token: Option<&str>,
    filter: Option<pb::AlertFilter>,
    page_size: u32,
) -> Vec<pb::Alert> {
    let mut alerts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_alerts(authorized(
                token,
                pb::ListAlertsRequest {
                    filter: filter.clone(),
                    page_size,
                    page_token: page_token.clone(),
                    ..pb::ListAlertsRequest::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.alerts.len() <= page_size as usize);
        alerts.extend(page.alerts);
        if page.next_page_token.is_empty() {
            return alerts;
        }
        page_token = page.next_page_token;
    }
}

fn sequences(alerts: &[pb::Alert]) -> Vec<u64> {
    alerts.iter().map(|a| a.sequence).collect()
}

fn kind(alert: &pb::Alert) -> pb::AlertKind {
    pb::AlertKind::try_from(alert.kind).unwrap()
}

async fn due_of(server: &TestServer, file: &str) -> dunghan::proto::wkt::Timestamp {
    server
        .file(file)
        .await
        .judgment
        .unwrap()
        .explanation
        .unwrap()
        .due_at
        .unwrap()
}

#[tokio::test]
async fn deadline_alerts_fire_at_the_exact_due_instant() {
    let server = TestServer::start("2025-03-03 08:00").await;
    server.load_example_catalog().await;
    let mut client = server.alerts().await;
    let mut stream = open_tail(&mut client, 0, None).await;
    ingest(&server, short_files("H", 1, "2025-03-03 08:00")).await;
    let due = due_of(&server, "H0").await;
    // 4 working hours from Monday 08:00, with the 11:30–13:00 break (UTC+7).
    assert_eq!(due, ts("2025-03-03 13:30"));

    // Nothing is overdue before the due time, even after a tick.
    server.advance_to("2025-03-03 13:29").await;
    let before = list_all(&mut client, None, 100).await;
    assert!(before.iter().all(|a| kind(a) != pb::AlertKind::FileOverdue));

    server.advance_to("2025-03-03 16:00").await;
    let all = list_all(&mut client, None, 100).await;
    let last = all.last().unwrap().sequence;
    let tailed = read_through(&mut stream, 0, last).await;
    assert_eq!(tailed, all);
    let kinds: Vec<pb::AlertKind> = tailed.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            pb::AlertKind::FileDueSoon,
            pb::AlertKind::FileOverdue,
            pb::AlertKind::LateWithoutExtension,
        ],
        "{tailed:#?}"
    );
    let overdue = &tailed[1];
    assert_eq!(overdue.file_id, "H0");
    assert_eq!(overdue.due_at, Some(due));
    assert_eq!(overdue.fired_at, Some(due));
    assert_eq!(overdue.severity, pb::Severity::Critical as i32);
    assert_eq!(overdue.unit_id, "ttphvhcc");
    // No extension was issued in time: the rule is broken at the due time too.
    assert_eq!(tailed[2].fired_at, Some(due));
    assert_eq!(tailed[2].severity, pb::Severity::Warning as i32);
    // The due-soon margin (1 working day) exceeds the whole budget: due soon from receipt.
    assert_eq!(tailed[0].fired_at, Some(ts("2025-03-03 08:00")));
    assert_quiet(&mut stream).await;
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn rule_alert_is_delivered_once_its_event_is_durable() {
    let server = TestServer::start("2025-03-03 10:00").await;
    server.load_example_catalog().await;
    let mut client = server.alerts().await;
    let filter = filter_kinds(&[pb::AlertKind::SecondSupplementRequest]);
    let mut stream = open_tail(&mut client, 0, Some(filter.clone())).await;
    let mut events = short_files("S", 1, "2025-03-03 08:00");
    events.push(event(
        "S0-2",
        "S0",
        "2025-03-03 08:30",
        supplement_requested("cb-mot-cua-1"),
    ));
    events.push(event(
        "S0-3",
        "S0",
        "2025-03-03 09:00",
        supplement_received(),
    ));
    ingest(&server, events).await;
    assert!(list_all(&mut client, Some(filter.clone()), 10)
        .await
        .is_empty());

    ingest(
        &server,
        vec![event(
            "S0-4",
            "S0",
            "2025-03-03 09:30",
            supplement_requested("cb-mot-cua-1"),
        )],
    )
    .await;
    // Stored by the time the ack came back, and on its way to the tail.
    let listed = list_all(&mut client, Some(filter), 10).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let alert = next_alert(&mut stream).await;
    assert_eq!(alert, listed[0]);
    assert_eq!(kind(&alert), pb::AlertKind::SecondSupplementRequest);
    assert_eq!(alert.file_id, "S0");
    assert_eq!(alert.fired_at, Some(ts("2025-03-03 09:30")));
    assert_quiet(&mut stream).await;
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn late_resolution_retracts_the_overdue_alert() {
    let server = TestServer::start("2025-03-03 08:00").await;
    server.load_example_catalog().await;
    let mut client = server.alerts().await;
    ingest(&server, short_files("R", 1, "2025-03-03 08:00")).await;
    server.advance_to("2025-03-03 16:00").await;
    let overdue = list_all(
        &mut client,
        Some(filter_kinds(&[pb::AlertKind::FileOverdue])),
        10,
    )
    .await
    .pop()
    .unwrap();
    let mut stream = open_tail(&mut client, overdue.sequence, None).await;

    // The file was in fact resolved at 11:00, before its due time; the event arrives late.
    ingest(
        &server,
        vec![event("R0-2", "R0", "2025-03-03 11:00", resolved())],
    )
    .await;
    let mut retractions = Vec::new();
    let last = list_all(&mut client, None, 100)
        .await
        .last()
        .unwrap()
        .sequence;
    for alert in read_through(&mut stream, overdue.sequence, last).await {
        if kind(&alert) == pb::AlertKind::Retraction {
            retractions.push(alert);
        }
    }
    let retraction = retractions
        .iter()
        .find(|a| a.retracted_sequence == overdue.sequence)
        .unwrap_or_else(|| panic!("no retraction of {}: {retractions:#?}", overdue.sequence));
    assert_eq!(retraction.retracted_kind, pb::AlertKind::FileOverdue as i32);
    assert_eq!(retraction.file_id, "R0");
    assert_eq!(retraction.severity, pb::Severity::Info as i32);
    // A retraction passes a filter naming the kind it retracts, or RETRACTION itself.
    for kinds in [[pb::AlertKind::FileOverdue], [pb::AlertKind::Retraction]] {
        let listed = list_all(&mut client, Some(filter_kinds(&kinds)), 10).await;
        assert!(listed.contains(retraction), "{kinds:?}: {listed:#?}");
    }
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn tail_resumed_after_the_last_sequence_misses_and_repeats_nothing() {
    let server = TestServer::start("2025-03-03 08:00").await;
    server.load_example_catalog().await;
    let mut client = server.alerts().await;
    // Before the tail, while it is connected, and while it is away.
    ingest(&server, short_files("A", 4, "2025-03-03 08:00")).await;
    let mut stream = open_tail(&mut client, 0, None).await;
    server.advance_to("2025-03-03 16:00").await;
    let mut received = Vec::new();
    for _ in 0..6 {
        received.push(next_alert(&mut stream).await);
    }
    drop(stream);
    server.clock.set(t("2025-03-04 08:00"));
    ingest(&server, short_files("B", 3, "2025-03-04 08:00")).await;
    server.advance_to("2025-03-04 16:00").await;

    let resume_after = received.last().unwrap().sequence;
    let mut stream = open_tail(&mut client, resume_after, None).await;
    let all = list_all(&mut client, None, 5).await;
    received.extend(read_through(&mut stream, resume_after, all.last().unwrap().sequence).await);
    assert_eq!(sequences(&received), sequences(&all));
    assert_eq!(received, all);
    assert_eq!(
        all.len(),
        21,
        "7 files, each due soon, overdue, and late without extension"
    );
    assert_quiet(&mut stream).await;
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn lagging_subscriber_ends_with_its_last_sequence_and_resumes_from_it() {
    let server = TestServer::start_with("2025-03-03 08:00", |config| {
        config.limits.alert_subscriber_buffer_alerts = 2;
    })
    .await;
    server.load_example_catalog().await;
    let mut client = server.alerts().await;
    let mut stream = open_tail(&mut client, 0, None).await;
    ingest(&server, short_files("L", 1, "2025-03-03 08:00")).await;
    let first = next_alert(&mut stream).await;

    // Forty alerts in one cycle: more than the subscriber may hold, read or not.
    ingest(&server, short_files("M", 40, "2025-03-03 08:00")).await;
    let mut last_received = first.sequence;
    let status = loop {
        match tokio::time::timeout(ITEM_WAIT, stream.message())
            .await
            .unwrap()
        {
            Ok(Some(alert)) => last_received = alert.sequence,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.message(),
        format!("subscriber lagged; last sequence sent {last_received}")
    );
    let trailer = status.metadata().get("dunghan-last-sequence").unwrap();
    assert_eq!(trailer.to_str().unwrap(), last_received.to_string());

    // The backlog is read from the store, so the resumed tail keeps up.
    let mut resumed = open_tail(&mut client, last_received, None).await;
    let all = list_all(&mut client, None, 1000).await;
    let rest = read_through(&mut resumed, last_received, all.last().unwrap().sequence).await;
    let expected: Vec<u64> = sequences(&all)
        .into_iter()
        .filter(|s| *s > last_received)
        .collect();
    assert_eq!(sequences(&rest), expected);
    assert_eq!(all.len(), 41);
    drop(resumed);
    server.stop().await;
}

#[tokio::test]
async fn scope_and_filters_choose_what_a_caller_sees() {
    let (admin, admin_config) = token("admin", Role::Admin, &[]);
    let (op_tt, op_tt_config) = token("op-tt", Role::Operate, &["ttphvhcc"]);
    let (op_xd, op_xd_config) = token("op-xd", Role::Operate, &["so-xd"]);
    let (read_xd, read_xd_config) = token("read-xd", Role::Read, &["so-xd"]);
    let server = TestServer::start_with("2025-03-03 08:00", |config| {
        config.tokens = vec![admin_config, op_tt_config, op_xd_config, read_xd_config];
    })
    .await;
    let channel = server.raw_channel().await;
    let mut client = AlertServiceClient::new(channel.clone());
    let document = std::fs::read_to_string("examples/catalog.toml").unwrap();
    pb::catalog_service_client::CatalogServiceClient::with_interceptor(
        channel.clone(),
        bearer(&admin),
    )
    .load_catalog(pb::LoadCatalogRequest {
        document,
        format: pb::CatalogFormat::Toml as i32,
        document_name: String::new(),
        dry_run: false,
    })
    .await
    .unwrap();
    let tail_client = client.clone();
    let tail_as = |token: &str, filter: Option<pb::AlertFilter>| {
        let mut client = tail_client.clone();
        let request = authorized(
            Some(token),
            pb::TailRequest {
                after_sequence: 0,
                filter,
            },
        );
        async move { client.tail(request).await }
    };
    let mut xd_stream = tail_as(&op_xd, None).await.unwrap().into_inner();
    let overdue_filter = filter_kinds(&[pb::AlertKind::FileOverdue]);
    let mut overdue_stream = tail_as(&op_tt, Some(overdue_filter))
        .await
        .unwrap()
        .into_inner();
    let response = pb::ingest_service_client::IngestServiceClient::with_interceptor(
        channel.clone(),
        bearer(&admin),
    )
    .ingest_batch(pb::IngestBatchRequest {
        events: short_files("T", 2, "2025-03-03 08:00"),
        backfill: false,
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(response.accepted, 2, "{:?}", response.results);
    server.advance_to("2025-03-03 16:00").await;

    let everything = list_as(&mut client, Some(&admin), None, 100).await;
    assert_eq!(everything.len(), 6, "{everything:#?}");
    assert_eq!(
        list_as(&mut client, Some(&op_tt), None, 100).await,
        everything
    );
    // Scoped to another subtree: nothing, whether listed or tailed.
    assert!(list_as(&mut client, Some(&read_xd), None, 100)
        .await
        .is_empty());
    assert_quiet(&mut xd_stream).await;
    // A read token may list but not tail.
    let err = tail_as(&read_xd, None).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let list = |filter: pb::AlertFilter| {
        let mut client = client.clone();
        let admin = admin.clone();
        async move { list_as(&mut client, Some(&admin), Some(filter), 3).await }
    };
    let subtree = |unit: &str| pb::AlertFilter {
        subtree_unit_id: unit.to_owned(),
        ..pb::AlertFilter::default()
    };
    assert_eq!(list(subtree("tinh-x")).await, everything);
    assert_eq!(list(subtree("ttphvhcc")).await, everything);
    assert!(list(subtree("so-xd")).await.is_empty());
    let critical = list(pb::AlertFilter {
        min_severity: pb::Severity::Critical as i32,
        ..pb::AlertFilter::default()
    })
    .await;
    let overdue = list(filter_kinds(&[pb::AlertKind::FileOverdue])).await;
    assert_eq!(overdue.len(), 2);
    assert_eq!(critical, overdue);
    let of_file = list(pb::AlertFilter {
        file_id: "T1".to_owned(),
        ..pb::AlertFilter::default()
    })
    .await;
    assert_eq!(of_file.len(), 3);
    assert!(of_file.iter().all(|a| a.file_id == "T1"));

    let tailed = read_through(&mut overdue_stream, 0, overdue[1].sequence).await;
    assert_eq!(tailed, overdue);
    assert_quiet(&mut overdue_stream).await;

    let err = client
        .list_alerts(authorized(
            Some(&admin),
            pb::ListAlertsRequest {
                filter: Some(pb::AlertFilter {
                    kinds: vec![4, 99],
                    ..pb::AlertFilter::default()
                }),
                ..pb::ListAlertsRequest::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "filter.kinds[1]: unknown alert kind 99");
    drop(xd_stream);
    drop(overdue_stream);
    server.stop().await;
}

#[tokio::test]
async fn restart_fires_once_what_came_due_while_down() {
    let mut server = TestServer::start("2025-03-03 08:00").await;
    server.load_example_catalog().await;
    ingest(&server, short_files("D", 1, "2025-03-03 08:00")).await;
    server.advance_to("2025-03-03 16:00").await;
    server.clock.set(t("2025-03-04 08:00"));
    ingest(&server, short_files("E", 1, "2025-03-04 08:00")).await;
    let mut client = server.alerts().await;
    let before = list_all(&mut client, None, 100).await;
    let kinds_before: Vec<(String, pb::AlertKind)> = before
        .iter()
        .map(|a| (a.file_id.clone(), kind(a)))
        .collect();
    assert_eq!(
        kinds_before,
        [
            ("D0".to_owned(), pb::AlertKind::FileDueSoon),
            ("D0".to_owned(), pb::AlertKind::FileOverdue),
            ("D0".to_owned(), pb::AlertKind::LateWithoutExtension),
            ("E0".to_owned(), pb::AlertKind::FileDueSoon),
        ]
    );

    // E0 comes due while the service is down.
    server.clock.set(t("2025-03-04 17:00"));
    server.restart().await;
    server.engine().tick().await.unwrap();
    server.engine().tick().await.unwrap();
    let mut client = server.alerts().await;
    let after = list_all(&mut client, None, 100).await;
    assert_eq!(&after[..before.len()], &before[..]);
    let new: Vec<(String, pb::AlertKind)> = after[before.len()..]
        .iter()
        .map(|a| (a.file_id.clone(), kind(a)))
        .collect();
    assert_eq!(
        new,
        [
            ("E0".to_owned(), pb::AlertKind::FileOverdue),
            ("E0".to_owned(), pb::AlertKind::LateWithoutExtension),
        ]
    );
    // Fired at the instant it came due, not at the restart that found it.
    assert_eq!(
        after[before.len()].fired_at,
        Some(due_of(&server, "E0").await)
    );

    // A tail from the start sees each exactly once.
    let mut stream = open_tail(&mut client, 0, None).await;
    let tailed = read_through(&mut stream, 0, after.last().unwrap().sequence).await;
    assert_eq!(tailed, after);
    assert_quiet(&mut stream).await;
    drop(stream);
    server.stop().await;
}
