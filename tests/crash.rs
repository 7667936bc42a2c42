//! Crash loop: a real `dunghan serve` process is killed with SIGKILL at random moments while
//! several clients push events, each recording every acknowledged event id in its own
//! synced file. After the last restart and a clean stop, every acknowledged event is in the
//! journal exactly once and in the state, and every counter equals a full recount.
//!
//! The suite runs 20 kills; the long run is
//! `DUNGHAN_CRASH_KILLS=1000 cargo test --release --test crash -- --nocapture`.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dunghan::proto::v1 as pb;
use dunghan::store::codec::{self, JournalEntry};
use dunghan::store::journal::{journal_dir, Journal, JournalConfig};
use pb::ingest_service_client::IngestServiceClient;
use support::*;

const CLIENTS: usize = 4;
/// Files each client pushes per kill, so that every round has pushes in flight to kill.
const FILES_PER_CLIENT_PER_KILL: usize = 60;
const BATCH: usize = 12;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server; its log goes to `log`, to tell why it did not come up if it does not.
fn start(data_dir: &Path, port: u16, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dunghan"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--catalog", "examples/catalog.toml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the server answers; fails with its exit status and log if it exits first.
async fn wait_until_up(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let endpoint = format!("http://127.0.0.1:{port}");
        if tonic::transport::Channel::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .is_ok()
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the server exited with {status} instead of coming up on port {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come up on port {port} in 60 s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client of a server that was up; `None` if it is gone already (killed before this
/// client connected).
async fn connect(port: u16) -> Option<IngestServiceClient<tonic::transport::Channel>> {
    let endpoint = format!("http://127.0.0.1:{port}");
    let channel = tonic::transport::Channel::from_shared(endpoint)
        .unwrap()
        .connect()
        .await
        .ok()?;
    Some(IngestServiceClient::new(channel))
}

/// The events client `c` pushes, in order: each file received, handed over, resolved.
fn events_of(client: usize, files: usize) -> Vec<pb::Event> {
    let mut events = Vec::new();
    for f in 0..files {
        let mut file = permit_file(&format!("K{client}-{f:03}"), "2025-03-27 10:00");
        events.append(&mut file);
    }
    events
}

/// Pushes from `*next` on, recording acknowledged ids; returns when done or the server dies,
/// with the number of events the server already had (journaled before an ack was lost).
async fn push_until_failure(
    port: u16,
    events: &[pb::Event],
    next: &mut usize,
    acked: &mut std::fs::File,
) -> (usize, bool) {
    let Some(mut client) = connect(port).await else {
        return (0, true);
    };
    let mut duplicates = 0;
    while *next < events.len() {
        let batch: Vec<pb::Event> = events[*next..(*next + BATCH).min(events.len())].to_vec();
        let Ok(response) = client
            .ingest_batch(pb::IngestBatchRequest {
                events: batch.clone(),
                backfill: false,
            })
            .await
        else {
            return (duplicates, true);
        };
        let response = response.into_inner();
        for result in &response.results {
            let outcome = pb::EventOutcome::try_from(result.outcome).unwrap();
            assert!(
                matches!(
                    outcome,
                    pb::EventOutcome::Accepted | pb::EventOutcome::Duplicate
                ),
                "{result:?}"
            );
            duplicates += usize::from(outcome == pb::EventOutcome::Duplicate);
            writeln!(acked, "{}", result.event_id).unwrap();
        }
        // The acknowledgement is recorded durably before the client moves on.
        acked.sync_data().unwrap();
        *next += batch.len();
    }
    (duplicates, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill() {
    let kills: usize = std::env::var("DUNGHAN_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let ack_files: Vec<PathBuf> = (0..CLIENTS)
        .map(|c| dir.path().join(format!("acked-{c}.txt")))
        .collect();
    let files = (kills * FILES_PER_CLIENT_PER_KILL).max(500);
    let all_events: Vec<Vec<pb::Event>> = (0..CLIENTS).map(|c| events_of(c, files)).collect();
    let mut progress = [0_usize; CLIENTS];
    let (mut resent_duplicates, mut interrupted) = (0, 0);
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..=kills {
        let port = free_port();
        // Clippy takes the `kill -TERM` command's status() below for this child's wait; the
        // child is waited for unconditionally after the round.
        #[allow(clippy::zombie_processes)]
        let log = dir.path().join("server.log");
        let mut child = start(&data_dir, port, &log);
        wait_until_up(port, &mut child, &log).await;
        let last = round == kills;
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let events = all_events[c].clone();
            let mut next = progress[c];
            let path = ack_files[c].clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                let (duplicates, failed) =
                    push_until_failure(port, &events, &mut next, &mut acked).await;
                (next, duplicates, failed)
            }));
        }
        if !last {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Kill at a random moment of the push, and reap the process before the next
            // start.
            tokio::time::sleep(Duration::from_millis(5 + rng % 120)).await;
            child.kill().unwrap();
            child.wait().unwrap();
        }
        for (c, task) in tasks.into_iter().enumerate() {
            let (next, duplicates, failed) = task.await.unwrap();
            progress[c] = next;
            resent_duplicates += duplicates;
            interrupted += usize::from(failed);
        }
        if last {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            assert!(child.wait().unwrap().success(), "a clean stop exits 0");
        }
    }
    for (c, events) in all_events.iter().enumerate() {
        assert_eq!(
            progress[c],
            events.len(),
            "client {c} pushed everything in the end"
        );
    }
    // The kills really interrupted pushes in flight.
    assert!(
        interrupted >= kills,
        "{interrupted} interrupted pushes for {kills} kills"
    );

    // Every acknowledged event id is in the journal exactly once.
    let journal = Journal::open(&journal_dir(&data_dir), JournalConfig::default()).unwrap();
    let mut in_journal: BTreeMap<String, u32> = BTreeMap::new();
    for item in journal.read_from(1) {
        let (_, payload) = item.unwrap();
        if let JournalEntry::Event { recorded, .. } =
            codec::decode_journal_record(&payload).unwrap()
        {
            *in_journal.entry(recorded.event.id.to_string()).or_default() += 1;
        }
    }
    drop(journal);
    let mut n_acked = 0;
    for path in &ack_files {
        for id in std::fs::read_to_string(path).unwrap().lines() {
            n_acked += 1;
            assert_eq!(
                in_journal.get(id),
                Some(&1),
                "acknowledged event {id} is in the journal once"
            );
        }
    }
    let total: usize = all_events.iter().map(Vec::len).sum();
    assert_eq!(in_journal.len(), total);
    assert!(n_acked >= total);

    // The state holds every journaled event, and the counters equal a recount.
    let report = dunghan::server::check(&data_dir).await.unwrap();
    assert!(report.is_sound(), "{report:#?}");
    assert_eq!(report.journal_events as usize, total);
    eprintln!(
        "{kills} kills: {total} events, {interrupted} pushes interrupted, {resent_duplicates} \
         events journaled before their ack was lost (answered DUPLICATE on resend); {report:?}"
    );
}
