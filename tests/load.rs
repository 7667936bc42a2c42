//! Overload: far more concurrent pushers than the engine queue holds. Ingestion is shed with
//! RESOURCE_EXHAUSTED (never buffered without bound), every push the server accepted is
//! stored, and queries keep answering during the flood. Query latency under load is measured
//! by the benchmark, not asserted here.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dunghan::proto::v1 as pb;
use support::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_shed_and_queries_keep_answering() {
    let server = TestServer::start_with("2025-04-30 12:00", |config| {
        // A queue of 16 commands: 64 pushers of 200-event batches overflow it.
        config.limits.ingest_queue_events = 16 * config.limits.max_batch_events;
    })
    .await;
    server.load_example_catalog().await;
    let first = pb::IngestBatchRequest {
        events: permit_file("Q0", "2025-03-27 10:00"),
        backfill: false,
    };
    assert_eq!(
        server
            .ingest()
            .await
            .ingest_batch(first)
            .await
            .unwrap()
            .into_inner()
            .accepted,
        4
    );

    // Batches are built and clients connected before the flood, so the pushers only send.
    let all_batches: Vec<Vec<Vec<pb::Event>>> = (0..64)
        .map(|p| {
            (0..20)
                .map(|round| {
                    (0..50)
                        .flat_map(|f| permit_file(&format!("L{p}-{round}-{f}"), "2025-03-27 10:00"))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut clients = Vec::new();
    for _ in 0..all_batches.len() {
        clients.push(server.ingest().await);
    }
    let mut query = server.query().await;
    let shed = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut pushers = Vec::new();
    for (batches, mut client) in all_batches.into_iter().zip(clients) {
        let (shed, accepted) = (shed.clone(), accepted.clone());
        pushers.push(tokio::spawn(async move {
            for events in batches {
                if Instant::now() >= deadline {
                    break;
                }
                let request = pb::IngestBatchRequest {
                    events,
                    backfill: false,
                };
                match client.ingest_batch(request).await {
                    Ok(response) => {
                        accepted
                            .fetch_add(response.into_inner().accepted as usize, Ordering::Relaxed);
                    }
                    Err(status) if status.code() == Code::ResourceExhausted => {
                        shed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => panic!("unexpected {status:?}"),
                }
            }
        }));
    }
    // Queries answer during the flood.
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let started = Instant::now();
        let request = pb::GetFileRequest {
            file_id: "Q0".to_owned(),
            as_of: None,
        };
        let file = query
            .get_file(request)
            .await
            .unwrap()
            .into_inner()
            .file
            .unwrap();
        assert_eq!(file.timeline.len(), 4);
        slowest = slowest.max(started.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pusher in pushers {
        pusher.await.unwrap();
    }
    let (shed, accepted) = (
        shed.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
    );
    eprintln!("accepted {accepted} events, shed {shed} requests, answered {answered} queries, slowest {slowest:?}");
    assert!(shed > 0, "the flood was never shed");
    assert!(accepted > 0);
    assert!(answered >= 1, "no query was answered during the flood");
    // Everything accepted is stored, and the counters agree.
    let engine = server.running.as_ref().unwrap().engine();
    assert_eq!(engine.stored_counters().unwrap(), engine.recount().unwrap());
    server.stop().await;
}
