//! Backup of a running service and restore into a fresh folder: every file's state and
//! every counter are the same as the original's.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use dunghan::proto::v1 as pb;
use support::*;

async fn all_files(server: &TestServer, ids: &[String]) -> Vec<pb::File> {
    let mut files = Vec::new();
    for id in ids {
        files.push(server.file(id).await);
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_has_every_file_and_counter_of_the_original() {
    let original = TestServer::start("2025-04-30 12:00").await;
    original.load_example_catalog().await;
    let mut client = original.ingest().await;
    let ids: Vec<String> = (0..40).map(|i| format!("B{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let resolved = ["2025-03-27 10:00", "2025-04-10 09:00", "2025-03-31 08:00"][i % 3];
        let mut events = permit_file(id, resolved);
        if i % 4 == 0 {
            events.pop(); // some files stay open
        }
        client
            .ingest_batch(pb::IngestBatchRequest {
                events,
                backfill: false,
            })
            .await
            .unwrap();
    }
    // Files of a procedure the catalog does not know yet are unjudged until a catalog change
    // adds it: a restore replays both in one batch, and must judge them as the live change
    // did.
    let late_ids: Vec<String> = (0..3).map(|i| format!("U{i}")).collect();
    client
        .ingest_batch(pb::IngestBatchRequest {
            events: late_ids
                .iter()
                .map(|id| {
                    event(
                        &format!("{id}-1"),
                        id,
                        "2025-04-01 09:00",
                        received("2.999999", "ttphvhcc", "cb-mot-cua-1"),
                    )
                })
                .collect(),
            backfill: false,
        })
        .await
        .unwrap();
    original
        .load_catalog_document(
            r#"
[[procedure]]
code = "2.999999"
name = "Thủ tục thêm sau"
field = "ho-tich"
level = "commune"
effective_from = "2021-01-01"
deadline = { amount = 4, unit = "working-hours" }
"#,
        )
        .await;
    let ids: Vec<String> = ids.into_iter().chain(late_ids).collect();
    let judged = all_files(&original, &ids[40..]).await;
    assert!(
        judged
            .iter()
            .all(|f| f.judgment.as_ref().unwrap().verdict != pb::Verdict::Unjudged as i32),
        "{judged:#?}"
    );

    // Back up while the service runs.
    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("backup");
    let data_dir = original.data_dir();
    let copy = dest.clone();
    let report = tokio::task::spawn_blocking(move || dunghan::backup::backup(&data_dir, &copy))
        .await
        .unwrap()
        .unwrap();
    assert!(report.records > 40 * 3, "{report:?}");
    let expected_files = all_files(&original, &ids).await;
    let expected_counters = original
        .running
        .as_ref()
        .unwrap()
        .engine()
        .stored_counters()
        .unwrap();
    original.stop().await;

    // Restore into a fresh folder and serve it.
    let restored_dir = backup_dir.path().join("restored");
    let progress = std::sync::Mutex::new(Vec::new());
    let restored = dunghan::backup::restore(&dest, &restored_dir, &|applied, last| {
        progress.lock().unwrap().push((applied, last));
    })
    .await
    .unwrap();
    assert_eq!(restored.records, report.records);
    // The rebuild reports its progress, never backwards, and ends at the last record.
    let progress = progress.into_inner().unwrap();
    assert!(
        progress.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "{progress:?}"
    );
    assert_eq!(progress.last(), Some(&(report.last_seq, report.last_seq)));
    let server = TestServer::start_with("2025-04-30 12:00", |config| {
        config.data_dir = restored_dir.clone();
    })
    .await;
    assert_eq!(all_files(&server, &ids).await, expected_files);
    let counters = server
        .running
        .as_ref()
        .unwrap()
        .engine()
        .stored_counters()
        .unwrap();
    assert_eq!(counters, expected_counters);
    server.stop().await;
}

#[test]
fn backup_refuses_a_folder_that_holds_data() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    std::fs::create_dir_all(source.join("journal")).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("something"), b"x").unwrap();
    let err = dunghan::backup::backup(&source, &dest).unwrap_err();
    assert!(
        matches!(err, dunghan::backup::BackupError::NotEmpty(_)),
        "{err}"
    );
}
