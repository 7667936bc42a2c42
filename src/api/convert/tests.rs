//! Tests of the wire conversions, each case routed through one helper so it reads as data.

use chrono::{FixedOffset, NaiveTime};
use dunghan_domain::calendar::vietnam_spec;
use dunghan_domain::catalog::{CountingRule, Officer, Procedure, Step, Term, Unit, UnitKind};
use dunghan_domain::ids::{CalendarId, FieldCode};
use dunghan_domain::WorkingTime;
use proptest::prelude::*;

use super::*;
use crate::store::codec::tests::arb_event;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn holder(officer: Option<&str>, unit: &str) -> Holder {
    Holder {
        officer: officer.map(|officer| OfficerId::new(officer).unwrap()),
        unit: UnitId::new(unit).unwrap(),
    }
}

/// One event of each of the 18 kinds.
fn every_kind() -> Vec<EventKind> {
    vec![
        EventKind::Submitted {
            procedure: ProcedureCode::new("1.004227").unwrap(),
            channel: Channel::Online,
        },
        EventKind::Received {
            procedure: ProcedureCode::new("1.004227").unwrap(),
            channel: Channel::InPerson,
            holder: holder(Some("nva"), "H56.17"),
            appointment: Some(utc("2025-01-20T10:00:00Z")),
        },
        EventKind::NotAccepted {
            reason: "thiếu bản sao".to_owned(),
        },
        EventKind::HandedOver {
            from: holder(Some("nva"), "H56.17"),
            to: holder(None, "H56.17.2"),
            step: Some(StepCode::new("THAM_DINH").unwrap()),
        },
        EventKind::SupplementRequested {
            officer: Some(OfficerId::new("ttb").unwrap()),
            reason: "missing copy".to_owned(),
            items: vec!["CCCD".to_owned(), "sổ hộ khẩu".to_owned()],
        },
        EventKind::SupplementReceived,
        EventKind::FinancialObligationRequested,
        EventKind::FinancialObligationFulfilled,
        EventKind::ConsultationRequested {
            consulted: UnitId::new("H56.20").unwrap(),
            deadline: Deadline {
                amount: 5,
                unit: DeadlineUnit::WorkingDays,
            },
        },
        EventKind::ConsultationAnswered {
            consulted: UnitId::new("H56.20").unwrap(),
        },
        EventKind::PauseStarted {
            wait: WaitKind::ExpertCouncil,
        },
        EventKind::PauseEnded {
            wait: WaitKind::SiteVisit,
        },
        EventKind::Extended {
            reason: "xin lỗi".to_owned(),
            new_due: utc("2025-01-25T10:00:00.5Z"),
        },
        EventKind::Withdrawn {
            reason: String::new(),
        },
        EventKind::Stopped {
            reason: "notice 12".to_owned(),
        },
        EventKind::Rejected {
            reason: "not eligible".to_owned(),
        },
        EventKind::Resolved,
        EventKind::Returned,
    ]
}

fn event(kind: EventKind) -> Event {
    Event {
        id: EventId::new("e-1").unwrap(),
        file_id: FileId::new("000.17.22.H56-210531-0001").unwrap(),
        occurred_at: utc("2025-01-06T02:30:00Z"),
        source: SourceId::new("motcua-hanoi").unwrap(),
        kind,
    }
}

/// A valid wire event (a handover) for the bad-input cases to spoil.
fn valid_pb() -> v1::Event {
    event_to_pb(&event(EventKind::HandedOver {
        from: holder(Some("nva"), "H56.17"),
        to: holder(Some("ttb"), "H56.17.2"),
        step: None,
    }))
}

#[track_caller]
fn check_rejected(spoil: impl FnOnce(&mut v1::Event), field: &str, reason: FieldReason) {
    let mut pb = valid_pb();
    spoil(&mut pb);
    let err = event_from_pb("events[3]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        (field, reason),
        "error: {err}"
    );
    assert!(!err.to_string().ends_with('.'), "no trailing period: {err}");
}

fn handed_over(pb: &mut v1::Event) -> &mut v1::event::HandedOver {
    match pb.kind.as_mut() {
        Some(v1::event::Kind::HandedOver(handed_over)) => handed_over,
        other => panic!("valid_pb is a handover, got {other:?}"),
    }
}

fn timestamp(seconds: i64, nanos: i32) -> Option<crate::proto::wkt::Timestamp> {
    Some(crate::proto::wkt::Timestamp { seconds, nanos })
}

#[test]
fn every_event_kind_round_trips() {
    let kinds = every_kind();
    let names: std::collections::BTreeSet<&str> = kinds.iter().map(EventKind::name).collect();
    assert_eq!(names.len(), 18, "one sample per kind");
    for kind in kinds {
        let original = event(kind);
        let pb = event_to_pb(&original);
        assert_eq!(
            event_from_pb("", &pb).unwrap(),
            original,
            "{}",
            original.kind.name()
        );
        assert_eq!(event_to_pb(&event_from_pb("", &pb).unwrap()), pb);
    }
}

#[test]
fn missing_kind_is_missing_field() {
    check_rejected(|pb| pb.kind = None, "events[3].kind", FieldReason::Missing);
}

#[test]
fn missing_occurred_at_is_missing_field() {
    check_rejected(
        |pb| pb.occurred_at = None,
        "events[3].occurred_at",
        FieldReason::Missing,
    );
}

#[test]
fn far_future_timestamp_is_invalid_and_named_in_rfc3339() {
    let mut pb = valid_pb();
    pb.occurred_at = timestamp(4_200_000_000, 0);
    let err = event_from_pb("events[3]", &pb).unwrap_err();
    assert_eq!(err.reason, FieldReason::Invalid);
    assert_eq!(err.value, "2103-02-04T02:40:00Z");
}

#[test]
fn pre_1970_timestamp_is_invalid() {
    check_rejected(
        |pb| pb.occurred_at = timestamp(-1, 0),
        "events[3].occurred_at",
        FieldReason::Invalid,
    );
}

#[test]
fn timestamp_before_2000_is_invalid() {
    check_rejected(
        |pb| pb.occurred_at = timestamp(900_000_000, 0),
        "events[3].occurred_at",
        FieldReason::Invalid,
    );
}

#[test]
fn nanos_out_of_range_are_invalid_and_named_raw() {
    let mut pb = valid_pb();
    pb.occurred_at = timestamp(1_736_000_000, 1_000_000_000);
    let err = event_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason, err.value.as_str()),
        (
            "occurred_at",
            FieldReason::Invalid,
            "seconds=1736000000 nanos=1000000000"
        )
    );
}

#[test]
fn empty_file_id_is_missing() {
    check_rejected(
        |pb| pb.file_id.clear(),
        "events[3].file_id",
        FieldReason::Missing,
    );
}

#[test]
fn id_of_200_bytes_is_too_long() {
    check_rejected(
        |pb| pb.event_id = "x".repeat(200),
        "events[3].event_id",
        FieldReason::TooLong,
    );
}

#[test]
fn control_character_in_nested_id_is_invalid() {
    check_rejected(
        |pb| handed_over(pb).to_unit_id = "H56\n17".to_owned(),
        "events[3].handed_over.to_unit_id",
        FieldReason::Invalid,
    );
}

#[test]
fn empty_receiving_unit_of_handover_is_missing() {
    check_rejected(
        |pb| handed_over(pb).to_unit_id.clear(),
        "events[3].handed_over.to_unit_id",
        FieldReason::Missing,
    );
}

#[test]
fn unknown_channel_value_9_is_invalid_and_named() {
    let mut pb = event_to_pb(&event(every_kind().remove(0)));
    if let Some(v1::event::Kind::Submitted(submitted)) = pb.kind.as_mut() {
        submitted.channel = 9;
    }
    let err = event_from_pb("events[3]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason, err.value.as_str()),
        ("events[3].submitted.channel", FieldReason::Invalid, "9")
    );
    assert!(err.to_string().contains("events[3].submitted.channel"));
    assert_eq!(err.rejection_reason(), v1::RejectionReason::InvalidValue);
}

#[test]
fn unspecified_channel_is_invalid() {
    let mut pb = event_to_pb(&event(every_kind().remove(1)));
    if let Some(v1::event::Kind::Received(received)) = pb.kind.as_mut() {
        received.channel = 0;
    }
    let err = event_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("received.channel", FieldReason::Invalid)
    );
}

#[test]
fn oversized_reason_is_too_long() {
    let mut pb = event_to_pb(&event(EventKind::Rejected {
        reason: String::new(),
    }));
    if let Some(v1::event::Kind::Rejected(rejected)) = pb.kind.as_mut() {
        rejected.reason = "a".repeat(MAX_TEXT_LEN + 1);
    }
    let err = event_from_pb("events[3]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("events[3].rejected.reason", FieldReason::TooLong)
    );
    assert_eq!(err.value.chars().count(), MAX_QUOTED_VALUE_CHARS);
    assert_eq!(err.rejection_reason(), v1::RejectionReason::TooLong);
}

#[test]
fn too_many_supplement_items_are_too_long() {
    let mut pb = event_to_pb(&event(every_kind().remove(4)));
    if let Some(v1::event::Kind::SupplementRequested(requested)) = pb.kind.as_mut() {
        requested.items = vec!["x".to_owned(); MAX_ITEMS + 1];
    }
    let err = event_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("supplement_requested.items", FieldReason::TooLong)
    );
}

#[test]
fn pause_for_a_supplement_is_invalid() {
    let mut pb = event_to_pb(&event(every_kind().remove(10)));
    if let Some(v1::event::Kind::PauseStarted(started)) = pb.kind.as_mut() {
        started.reason = v1::WaitKind::Supplement.into();
    }
    let err = event_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("pause_started.reason", FieldReason::Invalid)
    );
}

#[test]
fn consultation_without_deadline_is_missing() {
    let mut pb = event_to_pb(&event(every_kind().remove(8)));
    if let Some(v1::event::Kind::ConsultationRequested(requested)) = pb.kind.as_mut() {
        requested.deadline = None;
    }
    let err = event_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("consultation_requested.deadline", FieldReason::Missing)
    );
    assert_eq!(err.rejection_reason(), v1::RejectionReason::MissingField);
}

#[test]
fn display_names_field_and_value() {
    let err = FieldError::invalid("events[0].source".to_owned(), "a\u{7}b", "bad source");
    assert_eq!(
        err.to_string(),
        "events[0].source = \"a\\u{7}b\": bad source"
    );
    let err = FieldError::missing("events[0].kind".to_owned(), "event has no kind");
    assert_eq!(err.to_string(), "events[0].kind: event has no kind");
}

#[test]
fn enums_map_one_to_one() {
    assert_eq!(verdict_to_pb(FileVerdict::Unjudged), v1::Verdict::Unjudged);
    assert_eq!(
        verdict_to_pb(FileVerdict::Judged(Verdict::Overdue)),
        v1::Verdict::Overdue
    );
    assert_eq!(severity_to_pb(Severity::Critical), v1::Severity::Critical);
    assert_eq!(
        alert_kind_to_pb(AlertKind::RuleBroken(Rule::SecondExtension)),
        v1::AlertKind::SecondExtension
    );
    let rules: std::collections::BTreeSet<i32> = Rule::ALL
        .iter()
        .map(|rule| rule_to_pb(*rule) as i32)
        .collect();
    assert_eq!(
        rules.len(),
        Rule::ALL.len(),
        "no two rules share a wire kind"
    );
}

fn procedure() -> Procedure {
    Procedure {
        code: ProcedureCode::new("1.004227").unwrap(),
        name: "Cấp giấy chứng nhận".to_owned(),
        field: FieldCode::new("dat-dai").unwrap(),
        level: "province".to_owned(),
        deadline: Deadline {
            amount: 10,
            unit: DeadlineUnit::WorkingDays,
        },
        counting: CountingRule::CivilCode,
        cutoff: NaiveTime::from_hms_opt(15, 0, 0),
        steps: vec![
            Step {
                code: StepCode::new("TIEP_NHAN").unwrap(),
                name: "Tiếp nhận".to_owned(),
                unit: Some(UnitId::new("H56.17").unwrap()),
                role: None,
                allotted: WorkingTime::hours(4),
            },
            Step {
                code: StepCode::new("THAM_DINH").unwrap(),
                name: String::new(),
                unit: None,
                role: Some("appraisal".to_owned()),
                allotted: WorkingTime::minutes(270),
            },
        ],
        clock_stopping_waits: [WaitKind::FinancialObligation, WaitKind::SiteVisit]
            .into_iter()
            .collect(),
    }
}

#[test]
fn procedure_round_trips() {
    let pb = procedure_to_pb(date("2025-07-01"), &procedure());
    assert_eq!(
        procedure_from_pb("", &pb).unwrap(),
        (date("2025-07-01"), procedure())
    );
}

#[test]
fn calendar_day_procedure_round_trips_through_its_counting_rule() {
    let mut calendar_days = procedure();
    calendar_days.counting = CountingRule::WorkingHours;
    calendar_days.deadline.unit = DeadlineUnit::CalendarDays;
    let pb = procedure_to_pb(date("2025-07-01"), &calendar_days);
    assert_eq!(pb.counting_rule, i32::from(v1::CountingRule::CalendarDays));
    assert_eq!(procedure_from_pb("", &pb).unwrap().1, calendar_days);
}

#[test]
fn step_allotment_in_seconds_is_invalid() {
    let mut pb = procedure_to_pb(date("2025-07-01"), &procedure());
    pb.steps[1].allotted = Some(crate::proto::wkt::Duration {
        seconds: 90,
        nanos: 0,
    });
    let err = procedure_from_pb("procedures[2]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("procedures[2].steps[1].allotted", FieldReason::Invalid)
    );
}

#[test]
fn procedure_without_effective_date_is_missing() {
    let mut pb = procedure_to_pb(date("2025-07-01"), &procedure());
    pb.effective_from = None;
    let err = procedure_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("effective_from", FieldReason::Missing)
    );
}

#[test]
fn unit_round_trips() {
    let unit = Unit {
        id: UnitId::new("H56.17").unwrap(),
        name: "Sở Tài nguyên".to_owned(),
        parent: Some(UnitId::new("H56").unwrap()),
        kind: UnitKind::Center,
        calendar: CalendarId::new("vn-sat").unwrap(),
        heads: vec![
            Term {
                value: OfficerId::new("nva").unwrap(),
                from: date("2020-01-01"),
                until: Some(date("2025-07-01")),
            },
            Term::from(OfficerId::new("ttb").unwrap(), date("2025-07-01")),
        ],
        predecessors: vec![UnitId::new("H56.17-old").unwrap()],
    };
    let pb = unit_to_pb(date("2025-07-01"), &unit);
    assert_eq!(unit_from_pb("", &pb).unwrap(), (date("2025-07-01"), unit));
}

#[test]
fn unit_without_calendar_works_by_the_shipped_calendar() {
    let pb = v1::Unit {
        id: "H56".to_owned(),
        name: "Tỉnh".to_owned(),
        kind: v1::UnitKind::Province.into(),
        effective_from: Some(v1::Date {
            year: 2025,
            month: 1,
            day: 1,
        }),
        ..Default::default()
    };
    let (_, unit) = unit_from_pb("", &pb).unwrap();
    assert_eq!(unit.calendar.as_str(), DEFAULT_CALENDAR_ID);
}

#[test]
fn head_term_ending_before_it_starts_is_invalid() {
    let pb = v1::Unit {
        id: "H56".to_owned(),
        name: "Tỉnh".to_owned(),
        heads: vec![v1::HeadTerm {
            officer_id: "nva".to_owned(),
            from: Some(v1::Date {
                year: 2025,
                month: 1,
                day: 1,
            }),
            until: Some(v1::Date {
                year: 2024,
                month: 1,
                day: 1,
            }),
        }],
        effective_from: Some(v1::Date {
            year: 2025,
            month: 1,
            day: 1,
        }),
        ..Default::default()
    };
    let err = unit_from_pb("units[0]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("units[0].heads[0].until", FieldReason::Invalid)
    );
}

#[test]
fn officer_round_trips() {
    let officer = Officer {
        id: OfficerId::new("nva").unwrap(),
        name: "Nguyễn Văn A".to_owned(),
        memberships: vec![
            Term::from(UnitId::new("H56.17").unwrap(), date("2020-01-01")),
            Term::from(UnitId::new("H56.18").unwrap(), date("2022-01-01")),
        ],
    };
    let pb = officer_to_pb(date("2020-01-01"), &officer);
    assert_eq!(
        officer_from_pb("", &pb).unwrap(),
        (date("2020-01-01"), officer)
    );
}

#[test]
fn shipped_calendar_round_trips() {
    let spec = vietnam_spec(CalendarId::new("vn").unwrap());
    let pb = calendar_to_pb(&spec);
    assert_eq!(pb.time_zone, "Asia/Ho_Chi_Minh");
    assert_eq!(calendar_from_pb("", &pb).unwrap(), spec);
}

#[track_caller]
fn check_zone(zone: &str, expected_offset_secs: Option<i32>) {
    let result = utc_offset_from_zone("time_zone".to_owned(), zone);
    match expected_offset_secs {
        Some(secs) => assert_eq!(result.unwrap(), FixedOffset::east_opt(secs).unwrap()),
        None => assert_eq!(result.unwrap_err().reason, FieldReason::Invalid, "{zone}"),
    }
}

#[test]
fn time_zones_resolve_to_fixed_offsets() {
    check_zone("", Some(7 * 3600));
    check_zone("Asia/Ho_Chi_Minh", Some(7 * 3600));
    check_zone("+07:00", Some(7 * 3600));
    check_zone("-05:30", Some(-(5 * 3600 + 1800)));
    check_zone("Asia/Bangkok", Some(7 * 3600));
    check_zone("Europe/Paris", None);
    check_zone("Mars/Olympus_Mons", None);
    check_zone("+7 hours", None);
}

#[test]
fn calendar_with_duplicate_weekday_is_invalid() {
    let mut pb = calendar_to_pb(&vietnam_spec(CalendarId::new("vn").unwrap()));
    let monday = pb.weeks[0].days[0].clone();
    pb.weeks[0].days.push(monday);
    let err = calendar_from_pb("calendars[0]", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        (
            "calendars[0].weeks[0].days[5].weekday",
            FieldReason::Invalid
        )
    );
}

#[test]
fn calendar_with_end_of_day_24_00_is_invalid() {
    let mut pb = calendar_to_pb(&vietnam_spec(CalendarId::new("vn").unwrap()));
    pb.weeks[0].days[0].hours[1].end = Some(v1::TimeOfDay {
        hour: 24,
        minute: 0,
    });
    let err = calendar_from_pb("", &pb).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("weeks[0].days[0].hours[1].end", FieldReason::Invalid)
    );
}

proptest! {
    #[test]
    fn valid_events_round_trip(event in arb_event()) {
        let pb = event_to_pb(&event);
        let back = event_from_pb("", &pb).unwrap();
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(event_to_pb(&back), pb);
    }
}
