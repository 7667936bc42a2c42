//! The demo province: the generator is deterministic for a seed, its catalog document loads,
//! and a short demo through the real in-process server stores every event with the intended
//! on-time rate.
//!
//! `DUNGHAN_DEMO_REPORT=1` prints the generator's throughput to stderr:
//!
//! ```text
//! DUNGHAN_DEMO_REPORT=1 cargo test --release --test demo generator_throughput -- --nocapture
//! ```

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use dunghan::catalog_file::{self, Format};
use dunghan::demo::run::{province_config, run_with, DemoOptions};
use dunghan::demo::{self, Province, ProvinceConfig, Workload, WorkloadConfig};
use dunghan::proto::v1 as pb;

fn first_events(seed: u64, n: usize) -> Vec<pb::Event> {
    demo::workload(seed, 5_000).take(n).collect()
}

#[test]
fn the_generator_is_deterministic_for_a_seed() {
    let first = first_events(7, 1_000);
    assert_eq!(first.len(), 1_000);
    assert_eq!(first, first_events(7, 1_000));
    assert_ne!(first, first_events(8, 1_000));
    assert_eq!(
        demo::workload_catalog(7),
        demo::workload_catalog(7),
        "the catalog document is deterministic too"
    );
}

#[test]
fn the_demo_period_is_deterministic_and_time_ordered() {
    let province = Arc::new(Province::generate(ProvinceConfig::new(3, 2)));
    let start = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    let events = |seed| {
        Workload::new(
            Arc::clone(&province),
            WorkloadConfig::months(seed, start, 1),
        )
        .unwrap()
        .take(2_000)
        .collect::<Vec<_>>()
    };
    let first = events(3);
    assert_eq!(first, events(3));
    let mut ids = BTreeSet::new();
    let mut previous = i64::MIN;
    for event in &first {
        let at = event.occurred_at.unwrap().seconds;
        assert!(at >= previous, "event {} out of time order", event.event_id);
        previous = at;
        assert!(event.kind.is_some());
        assert!(
            ids.insert(event.event_id.clone()),
            "{} twice",
            event.event_id
        );
        // Round-trips through the event format `dunghan push` reads.
        let json = serde_json::to_string(event).unwrap();
        assert_eq!(&serde_json::from_str::<pb::Event>(&json).unwrap(), event);
    }
}

#[test]
fn the_catalog_document_parses_and_merges_without_warnings() {
    for document in [
        demo::workload_catalog(1),
        Province::generate(ProvinceConfig::new(2, 40)).catalog_document(),
    ] {
        let parsed = catalog_file::parse(&document, Format::Toml)
            .unwrap_or_else(|errors| panic!("{errors:?}"));
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(parsed.procedures.len(), 37);
        let catalog = parsed
            .merge_into(&catalog_file::default_catalog(), &document, Format::Toml)
            .unwrap_or_else(|errors| panic!("{errors:?}"));
        assert!(catalog.units.len() > 14 * 3);
    }
    let province = Province::generate(ProvinceConfig::new(2, 40));
    let departments = province
        .units
        .iter()
        .filter(|unit| unit.kind == demo::province::UnitKindName::Department)
        .count();
    assert_eq!(departments, 14);
    assert!(
        province.officers.len() >= 300,
        "{}",
        province.officers.len()
    );
    // Memberships and heads are dated: some change on the reshuffle date.
    assert!(province.officers.iter().any(|o| o.memberships.len() > 1));
    assert!(province.units.iter().any(|u| u.heads.len() > 1));
}

#[test]
fn the_generator_holds_only_files_in_progress() {
    let province = Arc::new(demo::workload_province(5));
    let mut workload = Workload::new(
        province,
        WorkloadConfig::files(5, demo::bench_start(), 40_000),
    )
    .unwrap();
    let mut n_events = 0u64;
    let mut most_pending = 0;
    while workload.next().is_some() {
        n_events += 1;
        most_pending = most_pending.max(workload.pending_events());
    }
    let planned = workload.planned();
    assert_eq!(planned.files, 40_000);
    assert_eq!(planned.events, n_events);
    // About eight events a file, and far fewer waiting than emitted.
    assert!(n_events > 40_000 * 6, "{n_events}");
    assert!(
        (most_pending as u64) < n_events / 2,
        "{most_pending} of {n_events}"
    );
}

#[test]
fn generator_throughput() {
    let n_files = if cfg!(debug_assertions) {
        5_000
    } else {
        200_000
    };
    let started = Instant::now();
    let n_events = demo::workload(11, n_files).count();
    let elapsed = started.elapsed();
    assert!(n_events as u64 > n_files * 6);
    if std::env::var_os("DUNGHAN_DEMO_REPORT").is_some() {
        eprintln!(
            "demo generator: {n_files} files, {n_events} events in {elapsed:?} ({:.0} events/s)",
            n_events as f64 / elapsed.as_secs_f64()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_demo_stores_every_event_with_the_intended_on_time_rate() {
    let data_dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        seed: 42,
        months: 1,
        communes: 1,
        start: NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
        speed: None,
        data_dir: Some(data_dir.path().to_path_buf()),
        listen: "127.0.0.1:0".parse().unwrap(),
        streams: 3,
        exit_when_done: true,
        metrics_listen: None,
        progress: false,
    };
    assert_eq!(province_config(&options).communes, 1);
    let mut out = Vec::new();
    let report = run_with(&options, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(report.rejected, 0, "{:?}", report.problems);
    assert_eq!(report.conflicting, 0, "{:?}", report.problems);
    assert_eq!(report.duplicate, 0);
    assert!(report.sent > 10_000, "{}", report.sent);
    assert_eq!(report.accepted, report.sent);
    assert_eq!(report.planned.events, report.sent);
    let view = &report.snapshot;
    assert_eq!(view.files, report.planned.files);
    assert!(view.late > 0 && view.open > 0, "{view:?}");
    let rate = view.on_time_rate().unwrap();
    assert!(
        (0.96..=0.995).contains(&rate),
        "on-time rate {rate}: {view:?}"
    );
    assert!(text.contains("dunghan leaderboard"), "{text}");
    assert!(
        text.contains(&report.examples.late_file.clone().unwrap()),
        "{text}"
    );
}
