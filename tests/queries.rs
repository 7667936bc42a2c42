//! Black-box tests of the QueryService through the generated client: a scenario with one
//! file of each verdict, checked file by file (ListFiles) and in aggregate (GetStats,
//! form II.06a, the Decision 766 index, leaderboards); a re-judging whose preview matches
//! what is applied; and the caller's unit scope on every query.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use dunghan::config::Role;
use dunghan::proto::v1 as pb;
use pb::query_service_client::QueryServiceClient;
use support::*;
use tonic::Code;

/// The instant every scenario is queried at: Wed 30/4/2025 12:00, a public holiday.
const NOW: &str = "2025-04-30 12:00";

async fn ingest(server: &TestServer, events: Vec<pb::Event>) {
    let response = server.batch(events).await;
    assert_eq!(response.rejected, 0, "{:?}", response.results);
}

/// A construction-permit file received Mon 3/3/2025 08:00 (due Mon 31/3 08:00) and handed
/// to the appraising officer at 10:00, still open.
fn open_permit_file(file: &str, received_at: &str, handed_at: &str) -> Vec<pb::Event> {
    vec![
        event(
            &format!("{file}-1"),
            file,
            received_at,
            received("1.009972", "ttphvhcc", "cb-mot-cua-1"),
        ),
        event(
            &format!("{file}-2"),
            file,
            handed_at,
            handed(
                ("cb-mot-cua-1", "ttphvhcc"),
                ("cv-qlxd-1", "so-xd-qlxd"),
                "tham-dinh",
            ),
        ),
    ]
}

/// One file of each verdict at NOW.
async fn scenario(server: &TestServer) {
    server.load_example_catalog().await;
    let mut events = Vec::new();
    events.extend(permit_file("EARLY", "2025-03-28 15:00"));
    events.extend(permit_file("ONTIME", "2025-03-31 08:00"));
    events.extend(permit_file("LATE", "2025-04-10 09:00"));
    events.extend(open_permit_file(
        "OPEN-OVER",
        "2025-03-03 08:00",
        "2025-03-03 10:00",
    ));
    events.extend(open_permit_file(
        "OPEN-IN",
        "2025-04-21 08:00",
        "2025-04-21 10:00",
    ));
    events.push(event(
        "REFUSED-1",
        "REFUSED",
        "2025-04-01 09:00",
        not_accepted("thiếu giấy tờ"),
    ));
    events.push(event(
        "UNJ-1",
        "UNJ",
        "2025-04-02 08:00",
        received("9.9", "ttphvhcc", "cb-mot-cua-1"),
    ));
    // A civil-status copy, online, 4 working hours from 09:00 (due 14:30), resolved at 10:00
    // on the due date: on time.
    events.push(event(
        "HT-1",
        "HT",
        "2025-04-01 09:00",
        received_via("2.000488", "ttphvhcc", "cb-mot-cua-1", pb::Channel::Online),
    ));
    events.push(event("HT-2", "HT", "2025-04-01 10:00", resolved()));
    ingest(server, events).await;
}

fn list_request(filter: pb::FileFilter) -> pb::ListFilesRequest {
    pb::ListFilesRequest {
        filter: Some(filter),
        as_of: None,
        page_size: 0,
        page_token: String::new(),
    }
}

async fn list_all(
    query: &mut QueryServiceClient<tonic::transport::Channel>,
    mut request: pb::ListFilesRequest,
) -> Vec<pb::FileSummary> {
    let mut files = Vec::new();
    loop {
        let page = query
            .list_files(request.clone())
            .await
            .unwrap()
            .into_inner();
        files.extend(page.files);
        if page.next_page_token.is_empty() {
            return files;
        }
        request.page_token = page.next_page_token;
    }
}

fn ids(files: &[pb::FileSummary]) -> Vec<&str> {
    files.iter().map(|f| f.file_id.as_str()).collect()
}

fn verdicts(files: &[pb::FileSummary]) -> Vec<(&str, pb::Verdict)> {
    files
        .iter()
        .map(|f| {
            (
                f.file_id.as_str(),
                pb::Verdict::try_from(f.verdict).unwrap(),
            )
        })
        .collect()
}

fn counts(row: &pb::StatsRow) -> [u64; 7] {
    let c = row.counts.unwrap();
    [
        c.early,
        c.on_time,
        c.late,
        c.within_time,
        c.overdue,
        c.not_counted,
        c.unjudged,
    ]
}

/// April 2025 in local time.
fn april() -> pb::Period {
    pb::Period {
        start: Some(ts("2025-04-01 00:00")),
        end: Some(ts("2025-05-01 00:00")),
    }
}

async fn lateness(server: &TestServer, file: &str) -> i64 {
    let file = server.file(file).await;
    // A finished file is judged at its finish, an open one at the request's instant.
    let judged_at = file.judgment.as_ref().unwrap().judged_at;
    assert_eq!(judged_at, file.finished_at.or(Some(ts(NOW))), "judged_at");
    let attribution = file.attribution.unwrap();
    let shares: i64 = attribution
        .shares
        .iter()
        .map(|s| s.late_working_time.unwrap().seconds)
        .sum();
    let lateness = attribution.lateness.unwrap().seconds;
    assert_eq!(shares, lateness, "GetFile's shares add up");
    lateness
}

#[tokio::test]
async fn every_file_lists_with_its_verdict_in_a_stable_paged_order() {
    use pb::Verdict::*;
    let server = TestServer::start(NOW).await;
    scenario(&server).await;
    let mut query = server.query().await;
    let all = list_all(&mut query, list_request(pb::FileFilter::default())).await;
    // Received first, by receipt instant then file id; the refused file last.
    assert_eq!(
        verdicts(&all),
        [
            ("EARLY", Early),
            ("LATE", Late),
            ("ONTIME", OnTime),
            ("OPEN-OVER", Overdue),
            ("HT", OnTime),
            ("UNJ", Unjudged),
            ("OPEN-IN", WithinTime),
            ("REFUSED", NotCounted),
        ]
    );
    let unj = &all[5];
    assert_eq!(
        unj.unjudged_reason.as_ref().unwrap().cause,
        pb::UnjudgedCause::UnknownProcedure as i32
    );
    assert_eq!(unj.unjudged_reason.as_ref().unwrap().missing_id, "9.9");
    assert_eq!(all[3].holder.as_ref().unwrap().officer_id, "cv-qlxd-1");
    assert!(all[0].holder.is_none() && all[0].finished_at.is_some());

    // Pages of 3 give the same files in the same order.
    let mut paged = list_request(pb::FileFilter::default());
    paged.page_size = 3;
    let first = query.list_files(paged.clone()).await.unwrap().into_inner();
    assert_eq!(ids(&first.files), ["EARLY", "LATE", "ONTIME"]);
    assert_eq!(list_all(&mut query, paged).await, all);

    let filtered = |filter: pb::FileFilter| {
        let mut query = query.clone();
        async move { ids(&list_all(&mut query, list_request(filter)).await).join(" ") }
    };
    let overdue = pb::FileFilter {
        overdue_now: true,
        ..Default::default()
    };
    assert_eq!(filtered(overdue).await, "OPEN-OVER");
    let unjudged = pb::FileFilter {
        unjudged: true,
        ..Default::default()
    };
    assert_eq!(filtered(unjudged).await, "UNJ");
    let breaches = pb::FileFilter {
        verdicts: vec![Late as i32, Overdue as i32],
        ..Default::default()
    };
    assert_eq!(filtered(breaches).await, "LATE OPEN-OVER");
    let director = pb::FileFilter {
        officer_id: "giam-doc-xd".to_owned(),
        ..Default::default()
    };
    assert_eq!(filtered(director).await, "EARLY LATE ONTIME");
    let online = pb::FileFilter {
        channel: pb::Channel::Online as i32,
        field_code: "ho-tich".to_owned(),
        ..Default::default()
    };
    assert_eq!(filtered(online).await, "HT");
    let in_april = pb::FileFilter {
        received_in: Some(april()),
        subtree_unit_id: "tinh-x".to_owned(),
        ..Default::default()
    };
    assert_eq!(filtered(in_april).await, "HT UNJ OPEN-IN");

    // As of Sun 30/3 12:00: the permit files due on 31/3 were still within time.
    let mut earlier = list_request(pb::FileFilter::default());
    earlier.as_of = Some(ts("2025-03-30 12:00"));
    let then = list_all(&mut query, earlier).await;
    assert_eq!(
        verdicts(&then),
        [
            ("EARLY", Early),
            ("LATE", WithinTime),
            ("ONTIME", WithinTime),
            ("OPEN-OVER", WithinTime),
            ("REFUSED", NotCounted),
        ]
    );
    assert!(then[1].finished_at.is_none());

    let err = query
        .list_files(pb::ListFilesRequest {
            page_token: "zz".to_owned(),
            ..list_request(pb::FileFilter::default())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn statistics_group_the_same_verdicts_by_procedure_and_by_unit() {
    let mut server = TestServer::start(NOW).await;
    scenario(&server).await;
    let mut query = server.query().await;
    let stats = |group_by: pb::StatsGroupBy, subtree: &str| pb::GetStatsRequest {
        group_by: group_by as i32,
        subtree_unit_id: subtree.to_owned(),
        period: None,
        as_of: None,
        unit_depth: 0,
    };
    let by_procedure = query
        .get_stats(stats(pb::StatsGroupBy::Procedure, ""))
        .await
        .unwrap()
        .into_inner();
    let rows: BTreeMap<&str, [u64; 7]> = by_procedure
        .rows
        .iter()
        .map(|row| (row.key.as_str(), counts(row)))
        .collect();
    //                     early on_time late within overdue not_counted unjudged
    assert_eq!(
        rows,
        BTreeMap::from([
            ("1.009972", [1, 1, 1, 1, 1, 0, 0]),
            ("2.000488", [0, 1, 0, 0, 0, 0, 0]),
            ("9.9", [0, 0, 0, 0, 0, 0, 1]),
        ])
    );
    let total = by_procedure.total.unwrap();
    assert_eq!(counts(&total), [1, 2, 1, 1, 1, 1, 1]);
    // Rates from the counts: (1 + 2 + 1) / 6 and (1 + 2) / 4.
    assert_eq!(total.on_time_rate, Some(4.0 / 6.0));
    assert_eq!(total.finished_on_time_rate, Some(3.0 / 4.0));
    assert_eq!(by_procedure.as_of, Some(ts(NOW)));
    // Over all time, the finished verdicts equal the additive counters grouped the same way.
    let counters: Vec<_> = server
        .running
        .as_ref()
        .unwrap()
        .engine()
        .stored_counters()
        .unwrap()
        .into_iter()
        .collect();
    let grouped = dunghan_domain::report::group_counters(
        &counters,
        dunghan_domain::report::Dimension::Procedure,
    );
    for row in &by_procedure.rows {
        let c = row.counts.unwrap();
        let counted = grouped.get(&row.key).copied().unwrap_or_default();
        assert_eq!(
            [c.early, c.on_time, c.late],
            [counted.early, counted.on_time, counted.late].map(|v| u64::try_from(v).unwrap()),
            "{}",
            row.key
        );
    }

    let by_unit = query
        .get_stats(stats(pb::StatsGroupBy::Unit, "tinh-x"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_unit.rows.len(), 1);
    assert_eq!(by_unit.rows[0].key, "ttphvhcc");
    assert_eq!(
        by_unit.rows[0].name,
        "Trung tâm Phục vụ hành chính công tỉnh X"
    );
    // The refused file has no unit: it is outside every subtree.
    assert_eq!(counts(&by_unit.rows[0]), [1, 2, 1, 1, 1, 0, 1]);
    assert_eq!(counts(&by_unit.total.unwrap()), [1, 2, 1, 1, 1, 0, 1]);

    // April: files finished in it, and files open at its end (judged at NOW, the earlier).
    let april_stats = query
        .get_stats(pb::GetStatsRequest {
            period: Some(april()),
            ..stats(pb::StatsGroupBy::Field, "")
        })
        .await
        .unwrap()
        .into_inner();
    let rows: BTreeMap<&str, [u64; 7]> = april_stats
        .rows
        .iter()
        .map(|row| (row.key.as_str(), counts(row)))
        .collect();
    assert_eq!(
        rows,
        BTreeMap::from([
            ("ho-tich", [0, 1, 0, 0, 0, 0, 0]),
            ("xay-dung", [0, 0, 1, 1, 1, 0, 0]),
        ])
    );

    // The in-memory index is rebuilt from the stored files at start: after a restart every
    // grouping answers the same.
    let groupings = [
        pb::StatsGroupBy::Unit,
        pb::StatsGroupBy::Officer,
        pb::StatsGroupBy::Procedure,
        pb::StatsGroupBy::Field,
        pb::StatsGroupBy::Channel,
    ];
    let mut before = Vec::new();
    for group_by in groupings {
        before.push(
            query
                .get_stats(stats(group_by, ""))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    assert!(before.iter().all(|answer| !answer.rows.is_empty()));
    server.restart().await;
    let mut query = server.query().await;
    for (group_by, expected) in groupings.into_iter().zip(before) {
        let after = query
            .get_stats(stats(group_by, ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after, expected, "{group_by:?} after a restart");
    }
    server.stop().await;
}

#[tokio::test]
async fn form_06a_and_the_766_index_count_april_exactly() {
    let server = TestServer::start(NOW).await;
    scenario(&server).await;
    let mut query = server.query().await;
    let report = query
        .get_report(pb::GetReportRequest {
            subtree_unit_id: "tinh-x".to_owned(),
            period: Some(april()),
        })
        .await
        .unwrap()
        .into_inner();
    let numbers = |row: &pb::ReportRow| {
        let (r, s, p) = (
            row.received.unwrap(),
            row.resolved.unwrap(),
            row.in_progress.unwrap(),
        );
        // The identities of the form.
        assert_eq!(r.total, r.online + r.in_person_or_postal + r.carried_over);
        assert_eq!(r.total, s.total + p.total);
        assert_eq!(s.total, s.early + s.on_time + s.late);
        assert_eq!(p.total, p.within_time + p.overdue);
        [
            r.total,
            r.online,
            r.in_person_or_postal,
            r.carried_over,
            s.total,
            s.early,
            s.on_time,
            s.late,
            p.total,
            p.within_time,
            p.overdue,
        ]
    };
    let rows: Vec<(&str, [u64; 11])> = report
        .rows
        .iter()
        .map(|row| (row.field_code.as_str(), numbers(row)))
        .collect();
    // EARLY and ONTIME finished in March; LATE and OPEN-OVER are carried over; HT came
    // online and OPEN-IN at the desk; UNJ cannot be judged and is left out with a note.
    assert_eq!(
        rows,
        [
            ("ho-tich", [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0]),
            ("xay-dung", [3, 0, 1, 2, 1, 0, 0, 1, 2, 1, 1]),
        ]
    );
    assert_eq!(
        numbers(report.total.as_ref().unwrap()),
        [4, 1, 1, 2, 2, 0, 1, 1, 2, 1, 1]
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("1 files are left out")),
        "{:?}",
        report.notes
    );

    let index = query
        .get_index(pb::GetIndexRequest {
            subtree_unit_id: "tinh-x".to_owned(),
            period: Some(april()),
        })
        .await
        .unwrap()
        .into_inner();
    // Handled: LATE, OPEN-OVER, HT, OPEN-IN; on time: HT and OPEN-IN (within time).
    assert_eq!((index.files_handled, index.files_on_time), (4, 2));
    assert_eq!(index.on_time_rate, Some(0.5));
    let handling: Vec<(&str, u64, i64)> = index
        .handling_times
        .iter()
        .map(|h| {
            (
                h.procedure_code.as_str(),
                h.files_finished,
                h.average_handling_time.unwrap().seconds,
            )
        })
        .collect();
    // LATE used its 20 working days (160 h) and then its lateness; HT took one hour.
    let late_by = lateness(&server, "LATE").await;
    assert_eq!(
        handling,
        [("1.009972", 1, 160 * 3600 + late_by), ("2.000488", 1, 3600)]
    );
    let shares: Vec<(i32, u64, Option<f64>)> = index
        .channel_shares
        .iter()
        .map(|c| (c.channel, c.files, c.share))
        .collect();
    assert_eq!(
        shares,
        [
            (pb::Channel::InPerson as i32, 1, Some(0.5)),
            (pb::Channel::Online as i32, 1, Some(0.5)),
            (pb::Channel::Postal as i32, 0, Some(0.0)),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn leaderboard_shares_add_up_to_the_lateness_of_late_files() {
    let server = TestServer::start(NOW).await;
    scenario(&server).await;
    let mut query = server.query().await;
    let board = |subject: pb::LeaderboardSubject| pb::GetLeaderboardRequest {
        subject: subject as i32,
        rank_by: pb::LeaderboardRankBy::LateWorkingTime as i32,
        subtree_unit_id: "tinh-x".to_owned(),
        period: None,
        limit: 0,
    };
    let officers = query
        .get_leaderboard(board(pb::LeaderboardSubject::Officers))
        .await
        .unwrap()
        .into_inner();
    let late = lateness(&server, "LATE").await;
    let overdue = lateness(&server, "OPEN-OVER").await;
    let total = officers.total_late_working_time.unwrap().seconds;
    assert_eq!(total, late + overdue);
    assert_eq!(officers.total_late_files, 2);
    let sum: i64 = officers
        .entries
        .iter()
        .map(|e| e.late_working_time.unwrap().seconds)
        .sum();
    assert_eq!(sum, total);
    let share_sum: f64 = officers
        .entries
        .iter()
        .filter_map(|e| e.share_of_late_working_time)
        .sum();
    assert!((share_sum - 1.0).abs() < 1e-9, "{share_sum}");
    // OPEN-OVER has been overdue in appraisal since 31/3; LATE overran its approval.
    let top: Vec<(u32, &str, i64, u64)> = officers
        .entries
        .iter()
        .take(2)
        .map(|e| {
            (
                e.rank,
                e.id.as_str(),
                e.late_working_time.unwrap().seconds,
                e.late_files,
            )
        })
        .collect();
    assert_eq!(
        top,
        [(1, "cv-qlxd-1", overdue, 1), (2, "giam-doc-xd", late, 1)]
    );
    // The director approved EARLY, ONTIME and LATE, each beyond the 2-day allotment.
    let director = &officers.entries[1];
    assert_eq!(
        (
            director.files_handled,
            director.steps_finished,
            director.steps_on_time
        ),
        (3, 3, 0)
    );
    assert_eq!(director.step_on_time_rate, Some(0.0));

    // Every share fell in the construction department, so it ties with the province and
    // their heads tie too: tied entries share rank 1 and are ordered by id.
    let units = query
        .get_leaderboard(board(pb::LeaderboardSubject::Units))
        .await
        .unwrap()
        .into_inner();
    let ranked = |entries: &[pb::LeaderboardEntry]| -> Vec<(u32, String, i64)> {
        entries
            .iter()
            .take(2)
            .map(|e| {
                (
                    e.rank,
                    format!("{}{}", e.id, e.unit_id),
                    e.late_working_time.unwrap().seconds,
                )
            })
            .collect()
    };
    assert_eq!(
        ranked(&units.entries),
        [
            (1, "so-xd".to_owned(), total),
            (1, "tinh-x".to_owned(), total)
        ]
    );
    let heads = query
        .get_leaderboard(board(pb::LeaderboardSubject::Heads))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ranked(&heads.entries),
        [
            (1, "chu-tichtinh-x".to_owned(), total),
            (1, "giam-doc-xdso-xd".to_owned(), total)
        ]
    );

    let err = query
        .get_leaderboard(board(pb::LeaderboardSubject::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn a_rejudge_preview_matches_what_is_applied() {
    use pb::Verdict::*;
    let server = TestServer::start(NOW).await;
    server.load_example_catalog().await;
    let mut events = permit_file("R", "2025-03-31 10:00");
    events.extend(permit_file("K", "2025-03-28 15:00"));
    events.extend(open_permit_file(
        "X",
        "2025-04-21 08:00",
        "2025-04-21 10:00",
    ));
    ingest(&server, events).await;
    let mut query = server.query().await;
    let listed = list_all(&mut query, list_request(pb::FileFilter::default())).await;
    assert_eq!(
        verdicts(&listed),
        [("K", Early), ("R", Late), ("X", WithinTime)]
    );

    // A holiday on Fri 14/3/2025, loaded late, moves the due time of files received on
    // 3/3 to Tue 1/4 08:00: R, resolved on 31/3, becomes early.
    server
        .load_catalog_document(
            "[[calendar]]\nid = \"vn\"\nbase = \"vietnam\"\nversion = 3\n\
             [[calendar.override]]\ndate = \"2025-03-14\"\nkind = \"holiday\"\n\
             note = \"ngày nghỉ thử nghiệm\"\nsource = \"test\"\n",
        )
        .await;
    let scope = pb::RejudgeScope {
        calendar_id: "vn".to_owned(),
        ..Default::default()
    };
    let preview = query
        .preview_rejudge(pb::PreviewRejudgeRequest {
            scope: Some(scope.clone()),
            max_changes: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.files_examined, 3);
    let transitions: Vec<(i32, i32, u64)> = preview
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.files))
        .collect();
    assert_eq!(transitions, [(Late as i32, Early as i32, 1)]);
    let changes: Vec<(&str, i32, i32)> = preview
        .changes
        .iter()
        .map(|c| (c.file_id.as_str(), c.old_verdict, c.new_verdict))
        .collect();
    // K stays early but its due time moves; X, received after the holiday, is unchanged.
    assert_eq!(
        changes,
        [
            ("K", Early as i32, Early as i32),
            ("R", Late as i32, Early as i32)
        ]
    );
    assert_eq!(preview.changes[1].old_due_at, Some(ts("2025-03-31 08:00")));
    assert_eq!(preview.changes[1].new_due_at, Some(ts("2025-04-01 08:00")));
    assert!(!preview.truncated);

    let applied = query
        .rejudge(pb::RejudgeRequest {
            scope: Some(scope.clone()),
            preview_token: preview.preview_token.clone(),
            reason: "holiday 14/3 loaded late".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.transitions, preview.transitions);
    assert_eq!(applied.files_examined, preview.files_examined);
    assert!(!applied.audit_id.is_empty());
    assert_eq!(applied.applied_at, Some(ts(NOW)));

    // The stored verdicts and due times are now the preview's new ones.
    let listed = list_all(&mut query, list_request(pb::FileFilter::default())).await;
    for change in &preview.changes {
        let file = listed.iter().find(|f| f.file_id == change.file_id).unwrap();
        assert_eq!(file.verdict, change.new_verdict, "{}", change.file_id);
        assert_eq!(file.due_at, change.new_due_at, "{}", change.file_id);
    }
    assert_eq!(
        verdicts(&listed),
        [("K", Early), ("R", Early), ("X", WithinTime)]
    );

    // Nothing is left to change, so the old token no longer matches.
    let again = query
        .preview_rejudge(pb::PreviewRejudgeRequest {
            scope: Some(scope.clone()),
            max_changes: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.changes.is_empty() && again.transitions.is_empty());
    let err = query
        .rejudge(pb::RejudgeRequest {
            scope: Some(scope),
            preview_token: preview.preview_token,
            reason: "again".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = query
        .preview_rejudge(pb::PreviewRejudgeRequest {
            scope: Some(pb::RejudgeScope::default()),
            max_changes: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn queries_see_only_the_callers_subtree() {
    let (admin, admin_config) = token("admin", Role::Admin, &[]);
    let (province, province_config) = token("province", Role::Read, &["tinh-x"]);
    let (department, department_config) = token("department", Role::Read, &["so-xd"]);
    let server = TestServer::start_with(NOW, |config| {
        config.tokens = vec![admin_config, province_config, department_config];
    })
    .await;
    let channel = server.raw_channel().await;
    let query = |t: &str| QueryServiceClient::with_interceptor(channel.clone(), bearer(t));
    let catalog = pb::catalog_service_client::CatalogServiceClient::with_interceptor(
        channel.clone(),
        bearer(&admin),
    );
    let document = std::fs::read_to_string("examples/catalog.toml").unwrap();
    let loaded = catalog
        .clone()
        .load_catalog(pb::LoadCatalogRequest {
            document,
            format: pb::CatalogFormat::Toml as i32,
            document_name: String::new(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(loaded.applied);
    let mut events = permit_file("LATE", "2025-04-10 09:00");
    events.extend(open_permit_file(
        "OPEN-OVER",
        "2025-03-03 08:00",
        "2025-03-03 10:00",
    ));
    pb::ingest_service_client::IngestServiceClient::with_interceptor(
        channel.clone(),
        bearer(&admin),
    )
    .ingest_batch(pb::IngestBatchRequest {
        events,
        backfill: false,
    })
    .await
    .unwrap();

    // The province sees the center's files; the department sees none of them, even
    // though its officers held them.
    let mut province_query = query(&province);
    let seen = province_query
        .list_files(list_request(pb::FileFilter::default()))
        .await
        .unwrap()
        .into_inner()
        .files;
    assert_eq!(ids(&seen), ["LATE", "OPEN-OVER"]);
    let mut department_query = query(&department);
    let seen = department_query
        .list_files(list_request(pb::FileFilter::default()))
        .await
        .unwrap()
        .into_inner()
        .files;
    assert!(seen.is_empty(), "{seen:?}");
    let stats = department_query
        .get_stats(pb::GetStatsRequest {
            group_by: pb::StatsGroupBy::Procedure as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stats.rows.is_empty());
    assert_eq!(counts(&stats.total.unwrap()), [0; 7]);
    let board = department_query
        .get_leaderboard(pb::GetLeaderboardRequest {
            subject: pb::LeaderboardSubject::Officers as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(board.entries.is_empty());
    assert_eq!(board.total_late_files, 0);

    // Naming a unit outside the scope is refused, on every query.
    let err = department_query
        .get_report(pb::GetReportRequest {
            subtree_unit_id: "ttphvhcc".to_owned(),
            period: Some(april()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = department_query
        .get_index(pb::GetIndexRequest {
            subtree_unit_id: "tinh-x".to_owned(),
            period: Some(april()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = department_query
        .list_files(list_request(pb::FileFilter {
            subtree_unit_id: "ttphvhcc".to_owned(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A reader may not re-judge, or even preview.
    let err = province_query
        .preview_rejudge(pb::PreviewRejudgeRequest {
            scope: Some(pb::RejudgeScope {
                calendar_id: "vn".to_owned(),
                ..Default::default()
            }),
            max_changes: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

/// Waits until the engine has counted every finished file into the index's leaderboards.
async fn boards_ready(server: &TestServer) {
    let engine = server.running.as_ref().unwrap().engine().clone();
    for _ in 0..500 {
        if engine.index().read().boards_ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the leaderboards were not built in 5 s");
}

/// Every leaderboard from the index (a window without a start) and the same one re-folded
/// file by file (the same files, through a window with a start before them all).
async fn both_ways(
    server: &TestServer,
) -> Vec<(pb::GetLeaderboardResponse, pb::GetLeaderboardResponse)> {
    boards_ready(server).await;
    let mut query = server.query().await;
    let mut answers = Vec::new();
    for subject in [
        pb::LeaderboardSubject::Officers,
        pb::LeaderboardSubject::Units,
        pb::LeaderboardSubject::Heads,
    ] {
        for rank_by in [
            pb::LeaderboardRankBy::LateWorkingTime,
            pb::LeaderboardRankBy::LateFiles,
        ] {
            let request = |start: Option<&str>| pb::GetLeaderboardRequest {
                subject: subject as i32,
                rank_by: rank_by as i32,
                subtree_unit_id: String::new(),
                period: start.map(|start| pb::Period {
                    start: Some(ts(start)),
                    end: None,
                }),
                limit: 0,
            };
            let indexed = query
                .get_leaderboard(request(None))
                .await
                .unwrap()
                .into_inner();
            let refolded = query
                .get_leaderboard(request(Some("2001-01-01 00:00")))
                .await
                .unwrap()
                .into_inner();
            answers.push((indexed, refolded));
        }
    }
    answers
}

#[tokio::test]
async fn the_indexed_leaderboards_equal_a_refold_of_every_file() {
    let mut server = TestServer::start(NOW).await;
    scenario(&server).await;
    for (indexed, refolded) in both_ways(&server).await {
        assert!(!indexed.entries.is_empty());
        assert_eq!(indexed, refolded);
    }
    // A finished file changes (its result is returned): its credits are swapped in place.
    ingest(
        &server,
        vec![event(
            "LATE-RET",
            "LATE",
            "2025-04-11 09:00",
            pb::event::Kind::Returned(pb::event::Returned {}),
        )],
    )
    .await;
    for (indexed, refolded) in both_ways(&server).await {
        assert_eq!(indexed, refolded);
    }
    // After a restart the engine builds them again from the stored files.
    let before = both_ways(&server).await;
    server.restart().await;
    let after = both_ways(&server).await;
    assert_eq!(before, after);
    server.stop().await;
}
