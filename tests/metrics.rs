//! The metrics endpoint of a real `dunghan serve` process: push events, open an alert
//! stream, scrape `GET /metrics` over plain HTTP, and check the counters and the gauges
//! computed at scrape time against what was sent.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dunghan::proto::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use pb::ingest_service_client::IngestServiceClient;
use support::*;
use tonic::transport::Channel;

/// A `dunghan serve` process, killed if the test fails before stopping it.
struct ServerProcess {
    child: Child,
    grpc_port: u16,
    metrics_port: u16,
}

impl ServerProcess {
    fn start(data_dir: &Path) -> ServerProcess {
        let (grpc_port, metrics_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_dunghan"))
            .args([
                "serve",
                "--log",
                "warn",
                "--catalog",
                "examples/catalog.toml",
            ])
            .args(["--listen", &format!("127.0.0.1:{grpc_port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ServerProcess {
            child,
            grpc_port,
            metrics_port,
        }
    }

    async fn channel(&self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let endpoint = format!("http://127.0.0.1:{}", self.grpc_port);
            if let Ok(channel) = Channel::from_shared(endpoint).unwrap().connect().await {
                return channel;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /metrics` over a plain TCP connection; the samples by series.
    fn scrape(&self) -> BTreeMap<String, f64> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        body.lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    /// Stops with SIGTERM and checks the clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // After a clean stop the process is gone and this fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

async fn batch(client: &mut IngestServiceClient<Channel>, events: Vec<pb::Event>) {
    client
        .ingest_batch(pb::IngestBatchRequest {
            events,
            backfill: false,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_shows_ingest_outcomes_unit_files_and_alert_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"));
    let channel = server.channel().await;
    let mut ingest = IngestServiceClient::new(channel.clone());

    // Four construction-permit files received by ttphvhcc in March 2025 (20 working days):
    // one early, one late, two still open and so overdue by now (the system clock).
    let mut events = permit_file("M-EARLY", "2025-03-28 15:00");
    events.extend(permit_file("M-LATE", "2025-05-15 10:00"));
    for open in ["M-OPEN-1", "M-OPEN-2"] {
        let mut file = permit_file(open, "2025-03-28 15:00");
        file.pop();
        events.extend(file);
    }
    batch(&mut ingest, events).await;
    // The same file again (4 duplicates), and an event without a kind (rejected).
    let mut again = permit_file("M-EARLY", "2025-03-28 15:00");
    again.push(pb::Event {
        kind: None,
        ..event(
            "M-BAD-1",
            "M-BAD",
            "2025-03-03 08:00",
            received("1.009972", "ttphvhcc", "cb-mot-cua-1"),
        )
    });
    batch(&mut ingest, again).await;

    let mut alerts = AlertServiceClient::new(channel.clone());
    let tail = alerts
        .tail(pb::TailRequest {
            after_sequence: 0,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();

    let samples = server.scrape();
    assert_eq!(
        sample(
            &samples,
            r#"dunghan_ingest_events_total{outcome="accepted"}"#
        ),
        14.0
    );
    assert_eq!(
        sample(
            &samples,
            r#"dunghan_ingest_events_total{outcome="duplicate"}"#
        ),
        4.0
    );
    assert_eq!(
        sample(
            &samples,
            r#"dunghan_ingest_events_total{outcome="rejected"}"#
        ),
        1.0
    );
    assert_eq!(sample(&samples, "dunghan_ingest_batches_total"), 2.0);
    assert_eq!(
        sample(&samples, r#"dunghan_unit_open_files{unit="ttphvhcc"}"#),
        2.0
    );
    assert_eq!(
        sample(&samples, r#"dunghan_unit_overdue_files{unit="ttphvhcc"}"#),
        2.0
    );
    assert_eq!(
        sample(&samples, r#"dunghan_unit_judged_files{unit="ttphvhcc"}"#),
        4.0
    );
    // Early 1 of 4 judged: the late file and the two overdue ones are not on time.
    assert_eq!(
        sample(&samples, r#"dunghan_unit_on_time_rate{unit="ttphvhcc"}"#),
        0.25
    );
    assert_eq!(sample(&samples, "dunghan_alert_subscribers"), 1.0);
    assert_eq!(
        sample(
            &samples,
            r#"dunghan_rpc_duration_seconds_count{rpc="dunghan.v1.IngestService/IngestBatch"}"#
        ),
        2.0
    );
    // The startup catalog load and the first batch each synced the journal at least once.
    assert!(sample(&samples, "dunghan_journal_sync_seconds_count") >= 2.0);
    assert!(sample(&samples, "dunghan_journal_commit_seconds_count") >= 2.0);
    // The 14 accepted events, and the catalog's records, were journaled in group commits.
    assert!(sample(&samples, "dunghan_journal_commit_records_sum") > 14.0);
    assert_eq!(sample(&samples, "dunghan_engine_queue_commands"), 0.0);

    // Closing the stream unsubscribes it (the server notices the client is gone).
    drop(tail);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sample(&server.scrape(), "dunghan_alert_subscribers") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the subscriber was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(channel);
    server.stop();
}
