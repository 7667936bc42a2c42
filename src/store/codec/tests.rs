//! Tests of the record codec: round trips, garbage, and the content hash.
//!
//! [`arb_event`] generates valid domain events; the wire conversion tests reuse it.

use chrono::TimeZone;
use dunghan_domain::calendar::vietnam_spec;
use proptest::prelude::*;

use super::*;

/// Generates valid domain events of every kind whose instants lie in 2000–2100 and which
/// the wire API can express (pauses only for expert councils and site visits).
pub(crate) fn arb_event() -> impl Strategy<Value = Event> {
    let id = "[A-Za-z0-9.\\-]{1,24}";
    (id, id, arb_instant(), id, arb_kind()).prop_map(
        |(event_id, file_id, occurred_at, source, kind)| Event {
            id: EventId::new(event_id).unwrap(),
            file_id: FileId::new(file_id).unwrap(),
            occurred_at,
            source: SourceId::new(source).unwrap(),
            kind,
        },
    )
}

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..4_133_980_800, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::<Utc>::from_timestamp(secs, nanos).unwrap())
}

fn arb_holder() -> impl Strategy<Value = Holder> {
    (proptest::option::of("[a-z0-9]{1,12}"), "[A-Z0-9.]{1,12}").prop_map(|(officer, unit)| Holder {
        officer: officer.map(|officer| OfficerId::new(officer).unwrap()),
        unit: UnitId::new(unit).unwrap(),
    })
}

fn arb_channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::InPerson),
        Just(Channel::Online),
        Just(Channel::Postal)
    ]
}

fn arb_deadline() -> impl Strategy<Value = Deadline> {
    (
        1u32..400,
        prop_oneof![
            Just(DeadlineUnit::WorkingHours),
            Just(DeadlineUnit::WorkingDays),
            Just(DeadlineUnit::CalendarDays)
        ],
    )
        .prop_map(|(amount, unit)| Deadline { amount, unit })
}

fn arb_kind() -> impl Strategy<Value = EventKind> {
    let text = "\\PC{0,40}";
    let code = "[0-9.]{1,10}";
    let wait = prop_oneof![Just(WaitKind::ExpertCouncil), Just(WaitKind::SiteVisit)];
    prop_oneof![
        (code, arb_channel()).prop_map(|(code, channel)| EventKind::Submitted {
            procedure: ProcedureCode::new(code).unwrap(),
            channel,
        }),
        (
            code,
            arb_channel(),
            arb_holder(),
            proptest::option::of(arb_instant())
        )
            .prop_map(|(code, channel, holder, appointment)| EventKind::Received {
                procedure: ProcedureCode::new(code).unwrap(),
                channel,
                holder,
                appointment,
            }),
        text.prop_map(|reason| EventKind::NotAccepted { reason }),
        (
            arb_holder(),
            arb_holder(),
            proptest::option::of("[A-Z_]{1,10}")
        )
            .prop_map(|(from, to, step)| EventKind::HandedOver {
                from,
                to,
                step: step.map(|step| StepCode::new(step).unwrap()),
            }),
        (
            proptest::option::of("[a-z]{1,8}"),
            text,
            proptest::collection::vec(text, 0..5)
        )
            .prop_map(|(officer, reason, items)| EventKind::SupplementRequested {
                officer: officer.map(|officer| OfficerId::new(officer).unwrap()),
                reason,
                items,
            }),
        Just(EventKind::SupplementReceived),
        Just(EventKind::FinancialObligationRequested),
        Just(EventKind::FinancialObligationFulfilled),
        ("[A-Z.]{1,8}", arb_deadline()).prop_map(|(unit, deadline)| {
            EventKind::ConsultationRequested {
                consulted: UnitId::new(unit).unwrap(),
                deadline,
            }
        }),
        "[A-Z.]{1,8}".prop_map(|unit| EventKind::ConsultationAnswered {
            consulted: UnitId::new(unit).unwrap(),
        }),
        wait.clone()
            .prop_map(|wait| EventKind::PauseStarted { wait }),
        wait.prop_map(|wait| EventKind::PauseEnded { wait }),
        (text, arb_instant()).prop_map(|(reason, new_due)| EventKind::Extended { reason, new_due }),
        text.prop_map(|reason| EventKind::Withdrawn { reason }),
        text.prop_map(|reason| EventKind::Stopped { reason }),
        text.prop_map(|reason| EventKind::Rejected { reason }),
        Just(EventKind::Resolved),
        Just(EventKind::Returned),
    ]
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn resolved_event(source: &str, occurred_at: &str) -> Event {
    Event {
        id: EventId::new("e-1").unwrap(),
        file_id: FileId::new("000.17.22.H56-210531-0001").unwrap(),
        occurred_at: utc(occurred_at),
        source: SourceId::new(source).unwrap(),
        kind: EventKind::Resolved,
    }
}

#[track_caller]
fn check_catalog_round_trip(object: CatalogObject) {
    let change = CatalogChangeEntry {
        effective_from: date("2025-07-01"),
        object,
        actor: "catalog-file:vn.toml".to_owned(),
        recorded_at: utc("2025-06-30T10:00:00Z"),
        revision: 42,
    };
    let decoded = decode_journal_record(&encode_catalog_change(&change)).unwrap();
    assert_eq!(decoded, JournalEntry::Catalog(change));
}

fn procedure() -> Procedure {
    Procedure {
        code: ProcedureCode::new("1.004227").unwrap(),
        name: "Cấp giấy chứng nhận".to_owned(),
        field: FieldCode::new("dat-dai").unwrap(),
        level: "provincial-ish".to_owned(),
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
                allotted: WorkingTime::minutes(4 * 60 + 30),
            },
        ],
        clock_stopping_waits: [WaitKind::Consultation, WaitKind::SiteVisit]
            .into_iter()
            .collect(),
    }
}

#[test]
fn procedure_round_trips_with_free_text_level_and_consultation_wait() {
    check_catalog_round_trip(CatalogObject::Procedure(procedure()));
}

#[test]
fn unit_round_trips_with_heads_and_predecessors() {
    check_catalog_round_trip(CatalogObject::Unit(Unit {
        id: UnitId::new("H56.17").unwrap(),
        name: "Sở Tài nguyên".to_owned(),
        parent: Some(UnitId::new("H56").unwrap()),
        kind: UnitKind::Department,
        calendar: CalendarId::new("vn").unwrap(),
        heads: vec![
            Term {
                value: OfficerId::new("nva").unwrap(),
                from: date("2020-01-01"),
                until: Some(date("2025-07-01")),
            },
            Term::from(OfficerId::new("ttb").unwrap(), date("2025-07-01")),
        ],
        predecessors: vec![UnitId::new("H56.17-old").unwrap()],
    }));
}

#[test]
fn officer_round_trips_with_memberships() {
    check_catalog_round_trip(CatalogObject::Officer(Officer {
        id: OfficerId::new("nva").unwrap(),
        name: String::new(),
        memberships: vec![Term::from(
            UnitId::new("H56.17").unwrap(),
            date("2020-01-01"),
        )],
    }));
}

#[test]
fn shipped_calendar_round_trips_exactly() {
    check_catalog_round_trip(CatalogObject::Calendar(vietnam_spec(
        CalendarId::new("vn").unwrap(),
    )));
}

#[test]
fn calendar_with_other_offset_and_no_holiday_rule_round_trips() {
    let mut spec = vietnam_spec(CalendarId::new("utc-minus-5").unwrap());
    spec.utc_offset = FixedOffset::west_opt(5 * 3600).unwrap();
    spec.holiday_rule = HolidayRule::None;
    spec.first_year = 2010;
    spec.last_year = 2030;
    spec.version = 7;
    check_catalog_round_trip(CatalogObject::Calendar(spec));
}

#[test]
fn rejudge_round_trips() {
    let entry = RejudgeEntry {
        audit_id: "audit-1".to_owned(),
        reason: "calendar 2026 official".to_owned(),
        actor: "admin".to_owned(),
        applied_at: utc("2026-01-10T03:00:00Z"),
        scope: "calendar vn".to_owned(),
        replaced: vec![VerdictReplacement {
            file_id: FileId::new("f-1").unwrap(),
            old_verdict: FileVerdict::Judged(Verdict::Late),
            new_verdict: FileVerdict::Judged(Verdict::OnTime),
            old_due_at: Some(utc("2026-01-05T10:00:00Z")),
            new_due_at: None,
        }],
    };
    let decoded = decode_journal_record(&encode_rejudge(&entry)).unwrap();
    assert_eq!(decoded, JournalEntry::Rejudge(entry));
}

#[test]
fn garbage_is_a_decode_error() {
    let garbage = [0xFFu8, 0xFF, 0xFF, 0x01, 0x02];
    assert!(matches!(
        decode_journal_record(&garbage),
        Err(CodecError::Decode {
            what: "journal record",
            ..
        })
    ));
    assert!(matches!(
        decode_stored_event(&garbage),
        Err(CodecError::Decode {
            what: "stored event",
            ..
        })
    ));
}

#[test]
fn empty_record_is_missing_its_payload() {
    assert_eq!(
        decode_journal_record(&[]),
        Err(CodecError::Missing {
            what: "journal record",
            field: "record".to_owned(),
        })
    );
}

#[test]
fn stored_event_with_unknown_channel_names_the_field() {
    let recorded = RecordedEvent {
        event: Event {
            kind: EventKind::Submitted {
                procedure: ProcedureCode::new("1.1").unwrap(),
                channel: Channel::Online,
            },
            ..resolved_event("s", "2025-01-06T02:00:00Z")
        },
        recorded_at: utc("2025-01-06T02:00:01Z"),
    };
    let mut envelope =
        pb::EventEnvelope::decode(encode_stored_event(&recorded).as_slice()).unwrap();
    if let Some(pb::event::Kind::Submitted(submitted)) = envelope
        .event
        .as_mut()
        .and_then(|event| event.kind.as_mut())
    {
        submitted.channel = 9;
    }
    assert_eq!(
        decode_stored_event(&envelope.encode_to_vec()),
        Err(CodecError::Invalid {
            what: "stored event",
            field: "event.submitted.channel".to_owned(),
            value: "9".to_owned(),
        })
    );
}

#[test]
fn content_hash_ignores_source() {
    assert_eq!(
        content_hash(&resolved_event("motcua-hanoi", "2025-01-06T02:00:00Z")),
        content_hash(&resolved_event("dvcqg-sync", "2025-01-06T02:00:00Z")),
    );
}

#[test]
fn content_hash_sees_occurred_at() {
    assert_ne!(
        content_hash(&resolved_event("motcua-hanoi", "2025-01-06T02:00:00Z")),
        content_hash(&resolved_event("motcua-hanoi", "2025-01-06T02:00:01Z")),
    );
}

#[test]
fn content_hash_is_stable_across_releases() {
    // Frozen: the dedupe index on disk stores these bytes. If this changes, every stored
    // hash turns every duplicate into a conflict; migrate instead.
    let hash = content_hash(&resolved_event("any", "2025-01-06T02:00:00Z"));
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(hex, FROZEN_RESOLVED_HASH);
}

const FROZEN_RESOLVED_HASH: &str =
    "b201b013a9c847e0938ac2c650929fb7fd8c735e30824f60af281b01ac204433";

proptest! {
    #[test]
    fn journal_event_record_round_trips(event in arb_event(), recorded_by in "[a-z]{0,10}") {
        let recorded = RecordedEvent {
            recorded_at: Utc.timestamp_opt(1_750_000_000, 0).unwrap(),
            event,
        };
        let hash = content_hash(&recorded.event);
        let decoded = decode_journal_record(&encode_event_record(&recorded, &recorded_by, hash)).unwrap();
        prop_assert_eq!(decoded, JournalEntry::Event { recorded, recorded_by, content_hash: hash });
    }

    #[test]
    fn stored_event_round_trips(event in arb_event(), recorded_at in arb_instant()) {
        let recorded = RecordedEvent { event, recorded_at };
        prop_assert_eq!(decode_stored_event(&encode_stored_event(&recorded)).unwrap(), recorded);
    }
}
