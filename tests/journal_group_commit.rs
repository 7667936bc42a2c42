//! Group commit of the event journal on a real disk: concurrent appends share syncs.
//!
//! `DUNGHAN_JOURNAL_TASKS` and `DUNGHAN_JOURNAL_APPENDS` (defaults 64 and 100) size the run;
//! `DUNGHAN_JOURNAL_REPORT=1` prints the measured rate to stderr:
//!
//! ```text
//! DUNGHAN_JOURNAL_REPORT=1 cargo test --release --test journal_group_commit -- --nocapture
//! ```

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Instant;

use dunghan::store::journal::{journal_dir, Journal, JournalConfig};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| value.parse().unwrap())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journal_concurrent_appends_share_syncs_and_get_distinct_sequences() {
    let n_tasks = env_or("DUNGHAN_JOURNAL_TASKS", 64);
    let n_appends = env_or("DUNGHAN_JOURNAL_APPENDS", 100);
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let writer = Journal::open(&dir, JournalConfig::default())
        .unwrap()
        .start_writer()
        .unwrap();

    let started = Instant::now();
    let tasks: Vec<_> = (0..n_tasks)
        .map(|task_idx| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for append_idx in 0..n_appends {
                    let payload = format!("task {task_idx} event {append_idx}").into_bytes();
                    let range = writer.append(vec![payload.clone()]).await.unwrap();
                    assert_eq!(range.end - range.start, 1);
                    // Acknowledged means synced: the published position already covers it.
                    assert!(writer.synced_seq() >= range.start);
                    acked.push((range.start, payload));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let stats = writer.stats();
    writer.shutdown().await.unwrap();

    let n_total = n_tasks * n_appends;
    let seqs: BTreeSet<u64> = acked.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs.len() as u64, n_total, "sequence numbers are distinct");
    assert_eq!(seqs.first(), Some(&1));
    assert_eq!(
        seqs.last(),
        Some(&n_total),
        "sequence numbers are contiguous"
    );
    assert_eq!(stats.appends, n_total);
    assert_eq!(stats.records, n_total);
    assert_eq!(stats.synced_seq, n_total);
    // With many appenders in flight, each sync covers many appends. (One task appending alone
    // waits for each sync, which is the baseline the report compares against.)
    if n_tasks >= 16 {
        assert!(
            stats.syncs * 4 <= n_total,
            "{} syncs for {n_total} appends",
            stats.syncs
        );
    }

    if std::env::var_os("DUNGHAN_JOURNAL_REPORT").is_some() {
        eprintln!(
            "journal group commit: {n_total} appends from {n_tasks} tasks in {elapsed:?} \
             ({:.0} appends/s), {} syncs ({:.1} appends per sync), {} batches",
            n_total as f64 / elapsed.as_secs_f64(),
            stats.syncs,
            n_total as f64 / stats.syncs as f64,
            stats.batches,
        );
    }

    // Everything acknowledged is replayed with its payload.
    acked.sort();
    let journal = Journal::open(&dir, JournalConfig::default()).unwrap();
    let replayed: Vec<(u64, Vec<u8>)> = journal.read_from(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(replayed, acked);
}
