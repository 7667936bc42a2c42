//! Tests of recovery, the writer and replay: on real temporary directories, and a deterministic
//! simulation over many seeds on [`SimDisk`].

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::writer::Appender;
use super::*;

fn small_segments() -> JournalConfig {
    JournalConfig {
        segment_bytes: 200,
        queue_capacity: 64,
    }
}

fn payload(seq_hint: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|idx| (seq_hint as usize * 31 + idx) as u8)
        .collect()
}

fn read_all<D: Disk>(reader: JournalReader<D>) -> Vec<(u64, Vec<u8>)> {
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

/// Opens a journal in `dir`, appends `n` records of 40-byte payloads, shuts down.
async fn write_records(dir: &Path, config: JournalConfig, n: u64) -> Vec<(u64, Vec<u8>)> {
    let writer = Journal::open(dir, config).unwrap().start_writer().unwrap();
    let mut written = Vec::new();
    for idx in 0..n {
        let bytes = payload(idx, 40);
        let range = writer.append(vec![bytes.clone()]).await.unwrap();
        written.push((range.start, bytes));
    }
    writer.shutdown().await.unwrap();
    written
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn journal_new_directory_recovers_empty_and_appends_from_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let journal = Journal::open(&dir, JournalConfig::default()).unwrap();
    assert_eq!(
        journal.recovery(),
        &Recovery {
            segments: 0,
            records: 0,
            first_seq: 0,
            last_seq: 0,
            bytes_truncated: 0,
            truncated_segment: None,
        }
    );
    let writer = journal.start_writer().unwrap();
    assert_eq!(
        writer
            .append(vec![b"a".to_vec(), b"b".to_vec()])
            .await
            .unwrap(),
        1..3
    );
    assert_eq!(writer.append(vec![]).await.unwrap(), 3..3);
    assert_eq!(writer.append(vec![b"c".to_vec()]).await.unwrap(), 3..4);
    assert_eq!(writer.synced_seq(), 3);
    writer.shutdown().await.unwrap();
    assert_eq!(
        segment_files(&dir),
        vec![dir.join("00000000000000000001.seg")]
    );

    let journal = Journal::open(&dir, JournalConfig::default()).unwrap();
    assert_eq!(journal.recovery().records, 3);
    assert_eq!(journal.recovery().last_seq, 3);
    assert_eq!(
        read_all(journal.read_from(2)),
        vec![(2, b"b".to_vec()), (3, b"c".to_vec())]
    );
}

#[tokio::test]
async fn journal_rotates_segments_and_replays_across_them() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let written = write_records(&dir, small_segments(), 20).await;
    // 57-byte records, 200-byte segments: three records per segment.
    let segments = segment_files(&dir);
    assert_eq!(segments.len(), 7, "{segments:?}");
    assert_eq!(segments[1], dir.join("00000000000000000004.seg"));

    let journal = Journal::open(&dir, small_segments()).unwrap();
    assert_eq!(journal.recovery().records, 20);
    assert_eq!(journal.recovery().first_seq, 1);
    assert_eq!(read_all(journal.read_from(0)), written);
    assert_eq!(read_all(journal.read_from(11)), written[10..].to_vec());
    assert_eq!(read_all(journal.read_from(21)), vec![]);

    // Appending continues in the last segment, with the next sequence number.
    let writer = journal.start_writer().unwrap();
    assert_eq!(writer.append(vec![b"next".to_vec()]).await.unwrap(), 21..22);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn journal_torn_tail_is_truncated_once_and_reported() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let written = write_records(&dir, small_segments(), 8).await;
    let last = segment_files(&dir).pop().unwrap();
    let mut torn = Vec::new();
    record::encode_record(9, &payload(9, 40), &mut torn);
    torn.truncate(30);
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&torn)
        .unwrap();

    let journal = Journal::open(&dir, small_segments()).unwrap();
    assert_eq!(journal.recovery().records, 8);
    assert_eq!(journal.recovery().last_seq, 8);
    assert_eq!(journal.recovery().bytes_truncated, 30);
    assert_eq!(
        journal.recovery().truncated_segment.as_deref(),
        Some(last.as_path())
    );
    assert_eq!(read_all(journal.read_from(0)), written);

    let again = Journal::open(&dir, small_segments()).unwrap();
    assert_eq!(again.recovery().bytes_truncated, 0);
    assert_eq!(again.recovery().truncated_segment, None);
    assert_eq!(again.recovery().last_seq, 8);
    assert_eq!(read_all(again.read_from(0)), written);
}

#[tokio::test]
async fn journal_garbage_tail_of_zeros_is_truncated() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let written = write_records(&dir, JournalConfig::default(), 3).await;
    let last = segment_files(&dir).pop().unwrap();
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&[0u8; 4096])
        .unwrap();
    let journal = Journal::open(&dir, JournalConfig::default()).unwrap();
    assert_eq!(journal.recovery().bytes_truncated, 4096);
    assert_eq!(read_all(journal.read_from(0)), written);
}

#[tokio::test]
async fn journal_damage_in_a_middle_segment_is_an_error_naming_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    write_records(&dir, small_segments(), 9).await;
    let second = segment_files(&dir)[1].clone();
    let mut bytes = fs::read(&second).unwrap();
    // Flip a payload byte of the second record in the segment, at offset 57.
    bytes[57 + HEADER_LEN + 3] ^= 0x01;
    fs::write(&second, &bytes).unwrap();

    let err = Journal::open(&dir, small_segments()).unwrap_err();
    match err {
        JournalError::Damaged {
            path,
            offset,
            damage: RecordDamage::BadChecksum { .. },
        } => {
            assert_eq!(path, second);
            assert_eq!(offset, 57);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Nothing was truncated: the bytes are still there for an operator to inspect.
    assert_eq!(fs::read(&second).unwrap(), bytes);
}

#[tokio::test]
async fn journal_torn_middle_segment_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    write_records(&dir, small_segments(), 9).await;
    let first = segment_files(&dir)[0].clone();
    let len = fs::metadata(&first).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let err = Journal::open(&dir, small_segments()).unwrap_err();
    assert!(
        matches!(
            &err,
            JournalError::Damaged { path, offset: 114, damage: RecordDamage::TornPayload { .. } }
                if *path == first
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn journal_missing_segment_is_a_gap() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    write_records(&dir, small_segments(), 9).await;
    let segments = segment_files(&dir);
    fs::remove_file(&segments[1]).unwrap();
    let err = Journal::open(&dir, small_segments()).unwrap_err();
    assert!(
        matches!(
            &err,
            JournalError::SegmentGap { path, expected: 4, found: 7 } if *path == segments[2]
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn journal_record_out_of_sequence_is_a_gap() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    write_records(&dir, JournalConfig::default(), 2).await;
    let last = segment_files(&dir).pop().unwrap();
    let mut extra = Vec::new();
    record::encode_record(5, b"skips 3 and 4", &mut extra);
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&extra)
        .unwrap();
    let err = Journal::open(&dir, JournalConfig::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            JournalError::SequenceGap {
                offset: 114,
                expected: 3,
                found: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn journal_segment_named_zero_is_an_error_and_other_files_are_ignored() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("README"), b"not a segment").unwrap();
    fs::write(dir.join("1.seg"), b"not a segment name either").unwrap();
    assert_eq!(
        Journal::open(&dir, JournalConfig::default())
            .unwrap()
            .recovery()
            .segments,
        0
    );
    fs::write(dir.join("00000000000000000000.seg"), b"").unwrap();
    let err = Journal::open(&dir, JournalConfig::default()).unwrap_err();
    assert!(matches!(err, JournalError::SegmentAtZero { .. }), "{err:?}");
}

#[test]
fn journal_segment_names_sort_like_their_numbers() {
    let dir = Path::new("/data/journal");
    let numbers = [1u64, 2, 9, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX];
    let names: Vec<String> = numbers
        .iter()
        .map(|first_seq| {
            let path = segment_path(dir, *first_seq);
            path.file_name().unwrap().to_str().unwrap().to_owned()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names);
    assert_eq!(names[0], "00000000000000000001.seg");
    for (name, first_seq) in names.iter().zip(numbers) {
        assert_eq!(parse_segment_name(name), Some(first_seq));
    }
    for not_a_segment in [
        "1.seg",
        "0000000000000000000a.seg",
        "00000000000000000001.log",
        "",
    ] {
        assert_eq!(parse_segment_name(not_a_segment), None, "{not_a_segment}");
    }
}

#[test]
fn journal_config_out_of_range_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        queue_capacity: 0,
        ..JournalConfig::default()
    };
    let err = Journal::open(temp.path(), config).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::InvalidConfig {
                field: "queue_capacity",
                value: 0
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn journal_oversized_payload_fails_alone() {
    let temp = tempfile::tempdir().unwrap();
    let journal = Journal::open(temp.path(), JournalConfig::default()).unwrap();
    let mut appender = Appender::start(journal).unwrap();
    let too_big = vec![0u8; MAX_PAYLOAD_BYTES as usize + 1];
    let results = appender.commit(&[
        vec![b"before".to_vec()],
        vec![b"fine".to_vec(), too_big],
        vec![b"after".to_vec()],
    ]);
    assert_eq!(results[0].as_ref().unwrap(), &(1..2));
    assert!(matches!(
        results[1],
        Err(JournalError::PayloadTooLarge {
            index: 1,
            len,
            max: MAX_PAYLOAD_BYTES
        }) if len == MAX_PAYLOAD_BYTES as usize + 1
    ));
    assert_eq!(results[2].as_ref().unwrap(), &(2..3));
    assert_eq!(appender.shared().stats().syncs, 1);
    appender.close().unwrap();

    // The largest allowed payload round-trips.
    let journal = Journal::open(temp.path(), JournalConfig::default()).unwrap();
    let writer = journal.start_writer().unwrap();
    let largest = payload(7, MAX_PAYLOAD_BYTES as usize);
    assert_eq!(writer.append(vec![largest.clone()]).await.unwrap(), 3..4);
    let replayed = read_all(writer.read_from(3));
    assert_eq!(replayed, vec![(3, largest)]);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn journal_reader_sees_only_synced_records_while_writing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let writer = Journal::open(&dir, small_segments())
        .unwrap()
        .start_writer()
        .unwrap();
    let mut written = Vec::new();
    for idx in 0..10 {
        let bytes = payload(idx, 40);
        let range = writer.append(vec![bytes.clone()]).await.unwrap();
        written.push((range.start, bytes));
    }
    let reader = writer.read_from(4);
    // Appends after the reader was made are not seen by it.
    writer.append(vec![b"later".to_vec()]).await.unwrap();
    assert_eq!(read_all(reader), written[3..].to_vec());
    assert_eq!(writer.read_from(11).count(), 1);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn journal_synced_segments_copy_is_a_valid_journal() {
    let temp = tempfile::tempdir().unwrap();
    let dir = journal_dir(temp.path());
    let writer = Journal::open(&dir, small_segments())
        .unwrap()
        .start_writer()
        .unwrap();
    for idx in 0..10 {
        writer.append(vec![payload(idx, 40)]).await.unwrap();
    }
    let backup = journal_dir(&temp.path().join("backup"));
    fs::create_dir_all(&backup).unwrap();
    for segment in writer.synced_segments() {
        let bytes = fs::read(&segment.path).unwrap();
        let name = segment.path.file_name().unwrap();
        fs::write(backup.join(name), &bytes[..segment.synced_len as usize]).unwrap();
    }
    let expected = read_all(writer.read_from(0));
    writer.shutdown().await.unwrap();

    let restored = Journal::open(&backup, small_segments()).unwrap();
    assert_eq!(restored.recovery().bytes_truncated, 0);
    assert_eq!(read_all(restored.read_from(0)), expected);
}

#[tokio::test]
async fn journal_shutdown_answers_queued_appends_then_refuses() {
    let temp = tempfile::tempdir().unwrap();
    let writer = Journal::open(temp.path(), JournalConfig::default())
        .unwrap()
        .start_writer()
        .unwrap();
    let queued: Vec<_> = (0..20)
        .map(|idx| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.append(vec![payload(idx, 10)]).await })
        })
        .collect();
    for task in queued {
        task.await.unwrap().unwrap();
    }
    writer.shutdown().await.unwrap();
    assert!(matches!(
        writer.append(vec![b"late".to_vec()]).await,
        Err(JournalError::Closed)
    ));
    writer.shutdown().await.unwrap();
    let journal = Journal::open(temp.path(), JournalConfig::default()).unwrap();
    assert_eq!(journal.recovery().records, 20);
}

#[tokio::test]
async fn journal_failed_sync_poisons_the_writer() {
    let disk = Arc::new(SimDisk::new(7));
    let dir = Path::new("/sim/data/journal");
    let writer = Journal::open_on(Arc::clone(&disk), dir, JournalConfig::default())
        .unwrap()
        .start_writer()
        .unwrap();
    assert_eq!(writer.append(vec![b"one".to_vec()]).await.unwrap(), 1..2);
    disk.fail_next_sync();
    let err = writer.append(vec![b"two".to_vec()]).await.unwrap_err();
    assert!(matches!(err, JournalError::SyncFailed { .. }), "{err:?}");
    // Even with a healthy disk again, nothing more is acknowledged.
    let err = writer.append(vec![b"three".to_vec()]).await.unwrap_err();
    assert!(
        matches!(&err, JournalError::Poisoned { source } if matches!(**source, JournalError::SyncFailed { .. })),
        "{err:?}"
    );
    assert_eq!(writer.synced_seq(), 1);
    assert_eq!(writer.stats().appends, 1);
    assert!(matches!(
        writer.shutdown().await,
        Err(JournalError::Poisoned { .. })
    ));

    // A restart without a crash: the unsynced record was cut, so only what was acknowledged is read.
    let journal = Journal::open_on(Arc::clone(&disk), dir, JournalConfig::default()).unwrap();
    assert_eq!(read_all(journal.read_from(0)), vec![(1, b"one".to_vec())]);
}

#[tokio::test]
async fn journal_failed_write_poisons_the_writer() {
    let disk = Arc::new(SimDisk::new(3));
    let dir = Path::new("/sim/data/journal");
    let writer = Journal::open_on(Arc::clone(&disk), dir, JournalConfig::default())
        .unwrap()
        .start_writer()
        .unwrap();
    disk.fail_next_write();
    let err = writer.append(vec![b"one".to_vec()]).await.unwrap_err();
    assert!(
        matches!(err, JournalError::Io { op: "write", .. }),
        "{err:?}"
    );
    let err = writer.append(vec![b"two".to_vec()]).await.unwrap_err();
    assert!(matches!(err, JournalError::Poisoned { .. }), "{err:?}");
    drop(writer);
    disk.crash();
    let journal = Journal::open_on(Arc::clone(&disk), dir, JournalConfig::default()).unwrap();
    assert_eq!(journal.recovery().last_seq, 0);
}

/// Regression (simulation seed 1051): the directory sync after creating a segment failed, the
/// service restarted without a reboot, and the writer appended to the new segment, whose
/// directory entry was still volatile; a crash then dropped the segment with acknowledged
/// records. The writer now syncs the directory when it starts.
#[test]
fn journal_restart_after_failed_directory_sync_keeps_new_segment() {
    let dir = Path::new("/sim/data/journal");
    let config = JournalConfig {
        segment_bytes: 60,
        queue_capacity: 4,
    };
    for seed in 0..20 {
        let disk = Arc::new(SimDisk::new(seed));
        let journal = Journal::open_on(Arc::clone(&disk), dir, config.clone()).unwrap();
        let mut appender = Appender::start(journal).unwrap();
        assert_eq!(
            appender.commit(&[vec![payload(1, 40)]])[0]
                .as_ref()
                .unwrap(),
            &(1..2)
        );
        // The next record does not fit: rotation creates segment 2, then its directory sync fails.
        disk.fail_next_sync();
        let results = appender.commit(&[vec![payload(2, 40)]]);
        assert!(
            matches!(&results[0], Err(JournalError::SyncFailed { path, .. }) if path == dir),
            "{results:?}"
        );
        assert!(appender.close().is_err());
        drop(appender);

        let journal = Journal::open_on(Arc::clone(&disk), dir, config.clone()).unwrap();
        assert_eq!(journal.recovery().segments, 2);
        let mut appender = Appender::start(journal).unwrap();
        assert_eq!(
            appender.commit(&[vec![payload(3, 40)]])[0]
                .as_ref()
                .unwrap(),
            &(2..3)
        );
        drop(appender);
        disk.crash();

        let journal = Journal::open_on(Arc::clone(&disk), dir, config.clone()).unwrap();
        assert_eq!(
            read_all(journal.read_from(0)),
            vec![(1, payload(1, 40)), (2, payload(3, 40))],
            "seed {seed}"
        );
    }
}

#[test]
fn journal_error_messages_name_the_values() {
    let err = JournalError::Damaged {
        path: PathBuf::from("/data/journal/00000000000000000004.seg"),
        offset: 57,
        damage: RecordDamage::BadMagic { found: 0 },
    };
    assert_eq!(
        err.to_string(),
        "damaged record in segment /data/journal/00000000000000000004.seg at offset 57: bad magic byte 0x00"
    );
    let err = JournalError::PayloadTooLarge {
        index: 2,
        len: 5_000_000,
        max: MAX_PAYLOAD_BYTES,
    };
    assert_eq!(
        err.to_string(),
        "payload 2 of 5000000 bytes exceeds the limit of 4194304 bytes"
    );
}

/// The threaded writer on the simulated disk, with the process dying at a random point while
/// tasks append concurrently. Batching depends on thread timing, so this complements the
/// deterministic simulation below rather than replacing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_threaded_writer_keeps_acknowledged_records_across_crashes() {
    let dir = Path::new("/sim/data/journal");
    for seed in 0..40 {
        let disk = Arc::new(SimDisk::new(seed));
        let config = JournalConfig {
            segment_bytes: 300,
            queue_capacity: 8,
        };
        let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut submitted: BTreeSet<Vec<u8>> = BTreeSet::new();
        // Three rounds of appends and crashes; the fourth recovery only checks.
        for round in 0..4u64 {
            let journal = Journal::open_on(Arc::clone(&disk), dir, config.clone()).unwrap();
            let recovered = read_all(journal.read_from(0));
            for (idx, (seq, payload)) in recovered.iter().enumerate() {
                assert_eq!(*seq, idx as u64 + 1, "seed {seed}: contiguous");
                if let Some(expected) = acked.get(seq) {
                    assert_eq!(payload, expected, "seed {seed}: record {seq} changed");
                } else {
                    assert!(submitted.contains(payload), "seed {seed}: phantom {seq}");
                }
            }
            let last_acked = acked.keys().last().copied().unwrap_or(0);
            assert!(
                recovered.len() as u64 >= last_acked,
                "seed {seed}: lost {last_acked}"
            );
            if round == 3 {
                break;
            }
            let writer = journal.start_writer().unwrap();
            acked = recovered.into_iter().collect();
            disk.halt_after(5 + seed * 3 % 40);
            let tasks: Vec<_> = (0..8u64)
                .map(|task_idx| {
                    let writer = writer.clone();
                    let payloads: Vec<Vec<u8>> = (0..20u64)
                        .map(|idx| {
                            format!("round {round} task {task_idx} event {idx}").into_bytes()
                        })
                        .collect();
                    for payload in &payloads {
                        submitted.insert(payload.clone());
                    }
                    tokio::spawn(async move {
                        let mut task_acked = Vec::new();
                        for payload in payloads {
                            match writer.append(vec![payload.clone()]).await {
                                Ok(range) => task_acked.push((range.start, payload)),
                                Err(_) => break,
                            }
                        }
                        task_acked
                    })
                })
                .collect();
            for task in tasks {
                acked.extend(task.await.unwrap());
            }
            assert!(
                writer.shutdown().await.is_err(),
                "seed {seed}: the disk died"
            );
            disk.crash();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic simulation.

/// What the simulation knows about the journal's content.
#[derive(Debug, Default)]
struct Model {
    /// Records whose append was answered `Ok` (or that a started writer synced after recovery):
    /// they must be recovered, with these payloads.
    acked: BTreeMap<u64, Vec<u8>>,
    /// Records whose append failed: each may be recovered, and then only with this payload.
    maybe: BTreeMap<u64, Vec<u8>>,
    coverage: Coverage,
}

/// How often the simulation reached the cases it exists for; a run that never reaches them
/// proves nothing.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    crashes: u64,
    acked_records: u64,
    failed_appends: u64,
    /// Recoveries that truncated a torn or garbage tail.
    truncations: u64,
    /// Records of failed appends that a recovery found anyway.
    unacked_recovered: u64,
    /// Recoveries that found more than one segment.
    multi_segment_recoveries: u64,
}

impl Coverage {
    fn add(&mut self, other: Coverage) {
        self.crashes += other.crashes;
        self.acked_records += other.acked_records;
        self.failed_appends += other.failed_appends;
        self.truncations += other.truncations;
        self.unacked_recovered += other.unacked_recovered;
        self.multi_segment_recoveries += other.multi_segment_recoveries;
    }
}

/// Where `open_and_check` makes a sync fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenFault {
    None,
    Recovery,
    Start,
}

/// Seeds from `DUNGHAN_SIM_SEED_START` (default 0), `DUNGHAN_SIM_SEEDS` of them (default 300).
fn simulation_seeds() -> std::ops::Range<u64> {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|value| value.parse().unwrap())
            .unwrap_or(default)
    };
    let start = var("DUNGHAN_SIM_SEED_START", 0);
    start..start + var("DUNGHAN_SIM_SEEDS", 300)
}

#[test]
fn journal_simulation_keeps_every_acknowledged_record() {
    let seeds = simulation_seeds();
    let n_seeds = seeds.end - seeds.start;
    let mut coverage = Coverage::default();
    for seed in seeds {
        coverage.add(simulate(seed));
    }
    // Shown with `--nocapture`, so that a long run reports what it exercised.
    eprintln!("journal simulation: {n_seeds} seeds, {coverage:?}");
    if n_seeds >= 100 {
        let Coverage {
            crashes,
            acked_records,
            failed_appends,
            truncations,
            unacked_recovered,
            multi_segment_recoveries,
        } = coverage;
        for (what, count) in [
            ("crashes", crashes),
            ("acknowledged records", acked_records),
            ("failed appends", failed_appends),
            ("truncated tails", truncations),
            ("recovered records of failed appends", unacked_recovered),
            ("recoveries of several segments", multi_segment_recoveries),
        ] {
            assert!(
                count > 0,
                "the simulation never reached {what}: {coverage:?}"
            );
        }
    }
}

fn simulate(seed: u64) -> Coverage {
    let mut rng = SimRng::new(seed);
    let disk = Arc::new(SimDisk::new(seed ^ 0x5EED_D15C));
    let dir = Path::new("/sim/data/journal");
    let config = JournalConfig {
        segment_bytes: 64 + rng.below(1024),
        queue_capacity: 16,
    };
    let mut model = Model::default();
    let n_rounds = 1 + rng.below(6);
    for _ in 0..n_rounds {
        let fault = match rng.below(20) {
            0 => OpenFault::Recovery,
            1 => OpenFault::Start,
            _ => OpenFault::None,
        };
        let Some(mut appender) = open_and_check(seed, &disk, dir, &config, &mut model, fault)
        else {
            // Recovery or the first sync failed on an injected fault: a restart after a failed
            // sync must not trust the page cache, so model a reboot.
            disk.crash();
            model.coverage.crashes += 1;
            continue;
        };
        let mut next_seq = model.acked.keys().last().map_or(1, |last| last + 1);
        let mut is_poisoned = false;
        let mut is_halting = false;
        for _ in 0..1 + rng.below(30) {
            match rng.below(14) {
                0 => disk.fail_next_sync(),
                1 => disk.fail_next_write(),
                12 if !is_halting => {
                    // A crash in the middle of a batch: between writes, before or after a sync.
                    disk.halt_after(rng.below(8));
                    is_halting = true;
                }
                2 | 3 => check_live_read(seed, &disk, &appender, &model, &mut rng),
                _ => commit_random(
                    seed,
                    &mut rng,
                    &mut appender,
                    &mut model,
                    &mut next_seq,
                    &mut is_poisoned,
                ),
            }
        }
        if is_halting || rng.chance(2, 3) {
            drop(appender);
            disk.crash();
            model.coverage.crashes += 1;
        } else {
            let closed = appender.close();
            assert_eq!(
                closed.is_err(),
                is_poisoned,
                "seed {seed}: close gave {closed:?}"
            );
            drop(appender);
            disk.clear_faults();
        }
    }
    disk.crash();
    disk.clear_faults();
    let journal = Journal::open_on(Arc::clone(&disk), dir, config).unwrap();
    check_recovered(seed, &journal, &mut model);
    model.coverage.crashes += 1;
    model.coverage
}

/// Opens the journal twice (recovery must be idempotent), checks its content against the model,
/// and starts an appender. `None` if an injected fault made recovery or the start fail.
fn open_and_check(
    seed: u64,
    disk: &Arc<SimDisk>,
    dir: &Path,
    config: &JournalConfig,
    model: &mut Model,
    fault: OpenFault,
) -> Option<Appender<SimDisk>> {
    if fault == OpenFault::Recovery {
        disk.fail_next_sync();
    }
    let journal = match Journal::open_on(Arc::clone(disk), dir, config.clone()) {
        Ok(journal) => journal,
        Err(JournalError::SyncFailed { .. }) => return None,
        Err(err) => panic!("seed {seed}: recovery failed: {err:?}"),
    };
    let recovered = check_recovered(seed, &journal, model);
    let again = Journal::open_on(Arc::clone(disk), dir, config.clone())
        .unwrap_or_else(|err| panic!("seed {seed}: second recovery failed: {err:?}"));
    assert_eq!(
        again.recovery(),
        &Recovery {
            bytes_truncated: 0,
            truncated_segment: None,
            ..journal.recovery().clone()
        },
        "seed {seed}: recovery is not idempotent"
    );
    assert_eq!(read_all(again.read_from(0)), recovered, "seed {seed}");
    // Sequence numbers after the recovered ones are free again.
    let last_seq = journal.recovery().last_seq;
    model.maybe.retain(|seq, _| *seq <= last_seq);
    if fault == OpenFault::Start {
        disk.fail_next_sync();
    }
    match Appender::start(again) {
        Ok(appender) => {
            // The start synced the last segment: every recovered record is durable now.
            model.acked.extend(recovered);
            model.maybe.clear();
            Some(appender)
        }
        Err(JournalError::SyncFailed { .. }) => None,
        Err(err) => panic!("seed {seed}: start failed: {err:?}"),
    }
}

/// Checks a recovered journal against the model and returns its records.
fn check_recovered(
    seed: u64,
    journal: &Journal<SimDisk>,
    model: &mut Model,
) -> Vec<(u64, Vec<u8>)> {
    let records: Vec<(u64, Vec<u8>)> = journal
        .read_from(0)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("seed {seed}: replay failed: {err:?}"));
    check_records(seed, &records, 1, model);
    let recovery = journal.recovery();
    model.coverage.unacked_recovered += records
        .iter()
        .filter(|(seq, _)| !model.acked.contains_key(seq))
        .count() as u64;
    model.coverage.truncations += u64::from(recovery.bytes_truncated > 0);
    model.coverage.multi_segment_recoveries += u64::from(recovery.segments > 1);
    assert_eq!(recovery.records, records.len() as u64, "seed {seed}");
    assert_eq!(recovery.last_seq, records.len() as u64, "seed {seed}");
    let last_acked = model.acked.keys().last().copied().unwrap_or(0);
    assert!(
        recovery.last_seq >= last_acked,
        "seed {seed}: acknowledged record {last_acked} lost, recovered up to {}",
        recovery.last_seq
    );
    records
}

/// Checks that `records` are contiguous from `from_seq` and agree with the model.
fn check_records(seed: u64, records: &[(u64, Vec<u8>)], from_seq: u64, model: &Model) {
    for (idx, (seq, payload)) in records.iter().enumerate() {
        assert_eq!(
            *seq,
            from_seq + idx as u64,
            "seed {seed}: sequence not contiguous"
        );
        let expected = model.acked.get(seq).or_else(|| model.maybe.get(seq));
        assert_eq!(
            Some(payload),
            expected,
            "seed {seed}: record {seq} was never appended with this payload"
        );
    }
}

/// Reads the synced records while the appender is live: all acknowledged ones, nothing else.
fn check_live_read(
    seed: u64,
    disk: &Arc<SimDisk>,
    appender: &Appender<SimDisk>,
    model: &Model,
    rng: &mut SimRng,
) {
    let last_acked = model.acked.keys().last().copied().unwrap_or(0);
    let from_seq = 1 + rng.below(last_acked + 1);
    let segments = appender.shared().synced_segments();
    let reader = JournalReader::new(Arc::clone(disk), segments, from_seq);
    let records: Vec<(u64, Vec<u8>)> = reader
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("seed {seed}: live read failed: {err:?}"));
    check_records(seed, &records, from_seq, model);
    let last_read = records.last().map_or(from_seq - 1, |(seq, _)| *seq);
    assert!(
        last_read >= last_acked,
        "seed {seed}: live read missed acknowledged records"
    );
    assert_eq!(
        appender.shared().stats().synced_seq,
        last_read,
        "seed {seed}"
    );
}

fn commit_random(
    seed: u64,
    rng: &mut SimRng,
    appender: &mut Appender<SimDisk>,
    model: &mut Model,
    next_seq: &mut u64,
    is_poisoned: &mut bool,
) {
    let requests: Vec<Vec<Vec<u8>>> = (0..1 + rng.below(4))
        .map(|_| {
            (0..rng.below(5))
                .map(|_| {
                    if rng.chance(1, 300) {
                        vec![0; MAX_PAYLOAD_BYTES as usize + 1]
                    } else {
                        (0..rng.below(150)).map(|_| rng.next_u64() as u8).collect()
                    }
                })
                .collect()
        })
        .collect();
    let results = appender.commit(&requests);
    assert_eq!(results.len(), requests.len());
    if *is_poisoned {
        for result in &results {
            assert!(
                matches!(result, Err(JournalError::Poisoned { .. })),
                "seed {seed}: poisoned appender gave {result:?}"
            );
        }
        return;
    }
    for (payloads, result) in requests.iter().zip(&results) {
        if payloads
            .iter()
            .any(|payload| payload.len() > MAX_PAYLOAD_BYTES as usize)
        {
            assert!(
                matches!(result, Err(JournalError::PayloadTooLarge { .. })),
                "seed {seed}: {result:?}"
            );
            continue;
        }
        let expected = *next_seq..*next_seq + payloads.len() as u64;
        *next_seq = expected.end;
        let records = expected.clone().zip(payloads.iter().cloned());
        match result {
            Ok(range) => {
                assert_eq!(range, &expected, "seed {seed}");
                model.coverage.acked_records += expected.end - expected.start;
                model.acked.extend(records);
            }
            Err(JournalError::SyncFailed { .. } | JournalError::Io { .. }) => {
                *is_poisoned = true;
                model.coverage.failed_appends += 1;
                model.maybe.extend(records);
            }
            Err(err) => panic!("seed {seed}: unexpected {err:?}"),
        }
    }
}
