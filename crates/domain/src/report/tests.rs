//! Tests of the reports: the II.06a identities, order independence, leaderboard sums, and
//! the coverage rule on hand-written cases.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::slip::split_exactly;

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0)
        .single()
        .expect("test instant")
        + Duration::hours(hours)
}

fn window(start: i64, end: i64) -> Window {
    Window::new(Some(at(start)), at(end)).expect("test window")
}

/// A judged file received at hour `received`, due at `due`, finished at `finished` with
/// `verdict`.
fn file(
    _id: &str,
    received: i64,
    due: Option<i64>,
    finished: Option<(i64, Verdict)>,
    channel: Option<Channel>,
) -> FileFacts {
    FileFacts {
        standing: FactStanding::Judged,
        received_at: Some(at(received)),
        due: due.map(at),
        finished_at: finished.map(|(h, _)| at(h)),
        finished_verdict: finished.map(|(_, v)| v),
        handling: WorkingTime::hours(finished.map_or(0, |(h, _)| h - received)),
        last_event_at: Some(at(finished.map_or(received, |(h, _)| h))),
        channel,
        field: Some(FieldCode::new("xay-dung").expect("field")),
        procedure: Some(ProcedureCode::new("1.009972").expect("procedure")),
        supplement_requests: 0,
    }
}

#[track_caller]
fn check_coverage(facts: &FileFacts, window: &Window, expected: Coverage) {
    assert_eq!(facts.coverage(window), expected, "{facts:?}");
}

#[test]
fn coverage_follows_receipt_finish_and_the_end_of_the_window() {
    let w = window(100, 200);
    // Finished before the window: outside. Received after it: outside.
    check_coverage(
        &file("a", 10, Some(50), Some((90, Verdict::OnTime)), None),
        &w,
        Coverage::Outside,
    );
    check_coverage(
        &file("b", 200, Some(250), None, None),
        &w,
        Coverage::Outside,
    );
    // Carried over and finished inside: its finished verdict.
    check_coverage(
        &file("c", 10, Some(150), Some((160, Verdict::Late)), None),
        &w,
        Coverage::Judged(Verdict::Late),
    );
    // Finished after the window: judged open at its end.
    check_coverage(
        &file("d", 110, Some(190), Some((260, Verdict::Late)), None),
        &w,
        Coverage::Judged(Verdict::Overdue),
    );
    check_coverage(
        &file("e", 110, Some(200), None, None),
        &w,
        Coverage::Judged(Verdict::WithinTime),
    );
    // A stopped clock (no due time) is within time.
    check_coverage(
        &file("f", 110, None, None, None),
        &w,
        Coverage::Judged(Verdict::WithinTime),
    );
}

#[test]
fn form_06a_counts_a_small_period_exactly() {
    let w = window(100, 200);
    let files = [
        file(
            "carried-late",
            10,
            Some(120),
            Some((150, Verdict::Late)),
            None,
        ),
        file("carried-open", 20, Some(300), None, Some(Channel::Online)),
        file(
            "online-early",
            110,
            Some(180),
            Some((120, Verdict::Early)),
            Some(Channel::Online),
        ),
        file(
            "desk-on-time",
            120,
            Some(180),
            Some((180, Verdict::OnTime)),
            Some(Channel::InPerson),
        ),
        file("post-overdue", 130, Some(190), None, Some(Channel::Postal)),
        file("before", 10, Some(50), Some((60, Verdict::Early)), None),
    ];
    let form = form_06a(&files, &w);
    let row = form.total;
    assert_eq!(
        (
            row.received(),
            row.online(),
            row.in_person_or_postal(),
            row.carried_over()
        ),
        (5, 1, 2, 2)
    );
    assert_eq!(
        (row.resolved(), row.early(), row.on_time(), row.late()),
        (3, 1, 1, 1)
    );
    assert_eq!(
        (row.in_progress(), row.within_time(), row.overdue()),
        (2, 1, 1)
    );
    let index = index_766(&files, &w);
    assert_eq!(index.files_handled, 5);
    // Early, on time, and the carried-over file within time.
    assert_eq!(index.files_on_time, 3);
    assert_eq!(index.channels, BTreeMap::from([(1, 1), (2, 1), (3, 1)]));
    let handling = index.handling[&ProcedureCode::new("1.009972").expect("code")];
    assert_eq!(handling.files_finished, 3);
    // (150-10) + (120-110) + (180-120) hours, over 3 files.
    assert_eq!(
        handling.average(),
        WorkingTime::seconds((140 + 10 + 60) * 3600 / 3)
    );
}

#[test]
fn a_second_supplement_request_makes_an_on_time_file_late_in_the_index() {
    let w = window(100, 200);
    let mut repeated = file("r", 110, Some(180), Some((150, Verdict::OnTime)), None);
    repeated.supplement_requests = 2;
    let index = index_766([&repeated], &w);
    assert_eq!((index.files_handled, index.files_on_time), (1, 0));
}

#[test]
fn ranks_are_shared_by_ties_and_ties_are_ordered_by_subject() {
    let officer = |id: &str| Subject::Officer(OfficerId::new(id).expect("officer"));
    let credit = |id: &str, secs: i64| Credit {
        subjects: vec![officer(id)],
        amount: WorkingTime::seconds(secs),
    };
    let files = [FileCredits {
        breach: true,
        lateness: WorkingTime::seconds(25),
        charges: vec![credit("b", 10), credit("a", 10), credit("c", 5)],
        handled: Vec::new(),
        steps: Vec::new(),
    }];
    let board = leaderboard(SubjectKind::Officers, &files);
    let ranked: Vec<(u32, Subject)> = board
        .ranked(RankBy::LateWorkingTime, 10)
        .into_iter()
        .map(|(rank, standing)| (rank, standing.subject.clone()))
        .collect();
    assert_eq!(
        ranked,
        [(1, officer("a")), (1, officer("b")), (3, officer("c"))]
    );
}

#[test]
fn reversed_window_is_an_error() {
    assert_eq!(
        Window::new(Some(at(2)), at(1)),
        Err(ReportError::ReversedWindow {
            start: at(2),
            end: at(1)
        })
    );
}

fn channel_strategy() -> impl Strategy<Value = Option<Channel>> {
    prop_oneof![
        Just(None),
        Just(Some(Channel::InPerson)),
        Just(Some(Channel::Online)),
        Just(Some(Channel::Postal)),
    ]
}

fn verdict_strategy() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Early),
        Just(Verdict::OnTime),
        Just(Verdict::Late)
    ]
}

prop_compose! {
    fn facts_strategy()(
        idx in 0_u32..1_000_000,
        received in 0_i64..400,
        due_after in proptest::option::of(0_i64..200),
        finish in proptest::option::of((0_i64..300, verdict_strategy())),
        channel in channel_strategy(),
        field in 0_u8..4,
        supplement_requests in 0_u32..3,
        standing in prop_oneof![
            8 => Just(FactStanding::Judged),
            1 => Just(FactStanding::Unjudged),
            1 => Just(FactStanding::NotCounted),
        ],
    ) -> FileFacts {
        let mut facts = file(
            &format!("f{idx}"),
            received,
            due_after.map(|d| received + d),
            finish.map(|(after, verdict)| (received + after, verdict)),
            channel,
        );
        facts.field = (field > 0).then(|| FieldCode::new(format!("field-{field}")).expect("field"));
        facts.supplement_requests = supplement_requests;
        facts.standing = standing;
        if standing != FactStanding::Judged {
            facts.finished_verdict = None;
        }
        if standing == FactStanding::NotCounted {
            facts.received_at = None;
        }
        facts
    }
}

fn reversed<T: Clone>(items: &[T], rotate: usize) -> Vec<T> {
    let mut items = items.to_vec();
    items.reverse();
    if !items.is_empty() {
        let by = rotate % items.len();
        items.rotate_left(by);
    }
    items
}

fn credits_strategy() -> impl Strategy<Value = FileCredits> {
    let subjects = prop_oneof![
        (0_u8..4).prop_map(|o| Subject::Officer(OfficerId::new(format!("o{o}")).expect("id"))),
        (0_u8..3).prop_map(|u| Subject::Unit(UnitId::new(format!("u{u}")).expect("id"))),
    ];
    (
        any::<bool>(),
        0_i64..100_000,
        // A share names at most one officer, then units (and heads) that answer for it.
        proptest::collection::vec(
            (
                proptest::option::of(0_u8..4),
                proptest::collection::vec(0_u8..3, 0..3),
                0_i64..100,
            )
                .prop_map(|(officer, units, weight)| {
                    let mut subjects: Vec<Subject> = officer
                        .map(|o| Subject::Officer(OfficerId::new(format!("o{o}")).expect("id")))
                        .into_iter()
                        .collect();
                    subjects.extend(
                        units
                            .into_iter()
                            .map(|u| Subject::Unit(UnitId::new(format!("u{u}")).expect("id"))),
                    );
                    (subjects, weight)
                }),
            1..5,
        ),
        proptest::collection::vec(subjects.clone(), 0..4),
        proptest::collection::vec(
            (proptest::collection::vec(subjects, 0..3), any::<bool>()),
            0..4,
        ),
    )
        .prop_map(|(breach, lateness, charges, handled, steps)| {
            let lateness = if breach { lateness } else { 0 };
            let weights: Vec<i64> = charges.iter().map(|(_, w)| *w).collect();
            let amounts = split_exactly(lateness, &weights);
            FileCredits {
                breach,
                lateness: WorkingTime::seconds(lateness),
                charges: if breach {
                    charges
                        .into_iter()
                        .zip(amounts)
                        .map(|((subjects, _), amount)| Credit {
                            subjects,
                            amount: WorkingTime::seconds(amount),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                handled,
                steps: steps
                    .into_iter()
                    .map(|(subjects, on_time)| StepCredit { subjects, on_time })
                    .collect(),
            }
        })
}

proptest! {
    #[test]
    fn form_06a_identities_hold_for_any_files(
        files in proptest::collection::vec(facts_strategy(), 0..60),
        start in 0_i64..500,
        length in 0_i64..500,
    ) {
        let w = window(start, start + length);
        let form = form_06a(&files, &w);
        let mut sum = ReportRow::default();
        for row in form.rows.values().chain([&form.total]) {
            prop_assert_eq!(row.received(), row.online() + row.in_person_or_postal() + row.carried_over());
            prop_assert_eq!(row.received(), row.resolved() + row.in_progress());
            prop_assert_eq!(row.resolved(), row.early() + row.on_time() + row.late());
            prop_assert_eq!(row.in_progress(), row.within_time() + row.overdue());
        }
        for row in form.rows.values() {
            sum += *row;
        }
        prop_assert_eq!(sum, form.total);
        // The form, the index and the statistics cover the same files.
        let index = index_766(&files, &w);
        prop_assert_eq!(index.files_handled, form.total.received());
        let counts = tally(files.iter().map(|f| (f.field.clone(), f.coverage(&w)))).total;
        prop_assert_eq!(counts.judged(), form.total.received());
        prop_assert_eq!(counts.unjudged, form.unjudged);
    }

    #[test]
    fn reports_do_not_depend_on_the_order_of_files(
        files in proptest::collection::vec(facts_strategy(), 0..40),
        rotate in 0_usize..40,
        start in 0_i64..500,
        length in 0_i64..500,
    ) {
        let w = window(start, start + length);
        let other = reversed(&files, rotate);
        prop_assert_eq!(form_06a(&files, &w), form_06a(&other, &w));
        prop_assert_eq!(index_766(&files, &w), index_766(&other, &w));
        let by_field = |files: &[FileFacts]| tally(files.iter().map(|f| (f.field.clone(), f.coverage(&w))));
        prop_assert_eq!(by_field(&files), by_field(&other));
    }

    #[test]
    fn dense_tally_counts_as_the_map_tally(
        files in proptest::collection::vec(facts_strategy(), 0..40),
        keys in proptest::collection::vec(proptest::option::of(0_u32..6), 40),
        slots in 0_usize..6,
        start in 0_i64..500,
        length in 0_i64..500,
    ) {
        let w = window(start, start + length);
        let items: Vec<(Option<u32>, Coverage)> =
            files.iter().zip(&keys).map(|(f, k)| (*k, f.coverage(&w))).collect();
        let map = tally(items.iter().copied());
        let (rows, total) = tally_dense(slots, items.iter().copied());
        prop_assert_eq!(total, map.total);
        for (key, counts) in &map.rows {
            let slot = usize::try_from(*key).unwrap_or(usize::MAX);
            if slot < slots {
                prop_assert_eq!(rows[slot], *counts);
            }
        }
        let expected_rows: usize = map.rows.keys().filter(|k| usize::try_from(**k).unwrap_or(usize::MAX) < slots).count();
        prop_assert_eq!(rows.iter().filter(|r| **r != VerdictCounts::default()).count(), expected_rows);
    }

    #[test]
    fn leaderboards_of_disjoint_files_add_up(
        files in proptest::collection::vec(credits_strategy(), 0..20),
        split in 0_usize..20,
    ) {
        let split = split.min(files.len());
        for kind in [SubjectKind::Officers, SubjectKind::Units, SubjectKind::Heads] {
            let mut sum = Leaderboard::empty();
            sum += &leaderboard(kind, &files[..split]);
            sum += &leaderboard(kind, &files[split..]);
            prop_assert_eq!(&sum, &leaderboard(kind, &files));
        }
    }

    #[test]
    fn officer_shares_add_up_to_the_total_lateness(
        files in proptest::collection::vec(credits_strategy(), 0..20),
        rotate in 0_usize..20,
    ) {
        let board = leaderboard(SubjectKind::Officers, &files);
        let shares: WorkingTime = board.standings.values().map(|s| s.late_working_time).sum();
        prop_assert_eq!(shares + board.unassigned, board.total_lateness);
        let other = reversed(&files, rotate);
        prop_assert_eq!(&board, &leaderboard(SubjectKind::Officers, &other));
        prop_assert_eq!(leaderboard(SubjectKind::Units, &files), leaderboard(SubjectKind::Units, &other));
        let ranked = board.ranked(RankBy::LateWorkingTime, usize::MAX);
        for pair in ranked.windows(2) {
            prop_assert!(pair[0].0 <= pair[1].0);
            prop_assert!(pair[0].1.late_working_time >= pair[1].1.late_working_time);
        }
    }
}
