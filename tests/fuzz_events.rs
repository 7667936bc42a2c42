//! Fuzzing by property test: random wire events (most plausible, some hostile, some random
//! bytes) go through decoding, validation and the fold; whatever comes in, nothing panics
//! and the invariants hold: counters never negative, a file never counted finished more
//! than once or finished on time more than it finished, attribution adds up to the lateness.
//!
//! The suite runs a few hundred cases; the long run is
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz_events`.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use dunghan::api::convert::event_from_pb;
use dunghan::catalog_file::{default_catalog, parse, Format};
use dunghan::proto::v1 as pb;
use dunghan::proto::wkt::Timestamp;
use dunghan_domain::catalog::Catalog;
use dunghan_domain::clock::{judge, FileVerdict, Policy};
use dunghan_domain::event::{FileHistory, RecordedEvent};
use dunghan_domain::slip::attribute;
use dunghan_domain::stats::contribution;
use dunghan_domain::FileId;
use proptest::prelude::*;
use prost::Message;

/// The example catalog, compiled once for every case.
fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        let text = std::fs::read_to_string("examples/catalog.toml").unwrap();
        parse(&text, Format::Toml)
            .unwrap()
            .merge_into(&default_catalog(), &text, Format::Toml)
            .unwrap()
    })
}

const OFFICERS: [(&str, &str); 5] = [
    ("cb-mot-cua-1", "ttphvhcc"),
    ("cv-qlxd-1", "so-xd-qlxd"),
    ("truong-phong-qlxd", "so-xd-qlxd"),
    ("giam-doc-xd", "so-xd"),
    ("nobody", "nowhere"),
];
const STEPS: [&str; 5] = [
    "tiep-nhan",
    "tham-dinh",
    "phe-duyet",
    "tra-ket-qua",
    "unknown",
];
const PROCEDURES: [&str; 3] = ["1.009972", "2.000488", "9.999999"];

fn kind() -> impl Strategy<Value = pb::event::Kind> {
    use pb::event::Kind;
    let who = 0..OFFICERS.len();
    prop_oneof![
        (0..PROCEDURES.len(), 0..4_i32, who.clone()).prop_map(|(p, channel, o)| Kind::Received(
            pb::event::Received {
                procedure_code: PROCEDURES[p].to_owned(),
                channel,
                receiving_unit_id: OFFICERS[o].1.to_owned(),
                receiving_officer_id: OFFICERS[o].0.to_owned(),
                appointment_at: None,
            }
        )),
        (who.clone(), who.clone(), 0..STEPS.len()).prop_map(|(a, b, s)| Kind::HandedOver(
            pb::event::HandedOver {
                from_officer_id: OFFICERS[a].0.to_owned(),
                from_unit_id: OFFICERS[a].1.to_owned(),
                to_officer_id: OFFICERS[b].0.to_owned(),
                to_unit_id: OFFICERS[b].1.to_owned(),
                step_code: STEPS[s].to_owned(),
            }
        )),
        Just(Kind::SupplementRequested(pb::event::SupplementRequested {
            officer_id: "cv-qlxd-1".to_owned(),
            reason: "thiếu giấy tờ".to_owned(),
            items: vec!["bản vẽ".to_owned()],
        })),
        Just(Kind::SupplementReceived(pb::event::SupplementReceived {})),
        Just(Kind::FinancialObligationRequested(
            pb::event::FinancialObligationRequested::default()
        )),
        Just(Kind::FinancialObligationFulfilled(
            pb::event::FinancialObligationFulfilled {}
        )),
        (0..40_u32).prop_map(|days| Kind::Extended(pb::event::Extended {
            reason: "xin lỗi".to_owned(),
            new_due_at: Some(Timestamp {
                seconds: 1_741_000_000 + i64::from(days) * 86_400,
                nanos: 0
            }),
        })),
        (1..6_i32).prop_map(|w| Kind::PauseStarted(pb::event::PauseStarted {
            reason: w,
            note: String::new()
        })),
        (1..6_i32).prop_map(|w| Kind::PauseEnded(pb::event::PauseEnded { reason: w })),
        Just(Kind::Resolved(pb::event::Resolved::default())),
        Just(Kind::Rejected(pb::event::Rejected {
            reason: "không đủ điều kiện".to_owned()
        })),
        Just(Kind::Withdrawn(pb::event::Withdrawn {
            reason: "rút".to_owned()
        })),
        Just(Kind::Stopped(pb::event::Stopped {
            reason: "dừng".to_owned()
        })),
        Just(Kind::Returned(pb::event::Returned {})),
        Just(Kind::NotAccepted(pb::event::NotAccepted {
            reason: "sai".to_owned()
        })),
    ]
}

fn wire_event() -> impl Strategy<Value = pb::Event> {
    // Times from 2025-03-01 over ~40 days, at any second; ids from small pools so events
    // collide and repeat.
    (
        0..12_u32,
        0..3_u32,
        0..3_500_000_i64,
        proptest::option::weighted(0.95, kind()),
    )
        .prop_map(|(id, file, offset, kind)| pb::Event {
            event_id: format!("e{id}"),
            file_id: format!("f{file}"),
            occurred_at: Some(Timestamp {
                seconds: 1_740_787_200 + offset,
                nanos: 0,
            }),
            source: "fuzz".to_owned(),
            kind,
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => wire_event().prop_map(|event| event.encode_to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => (wire_event(), proptest::collection::vec((0..200_usize, any::<u8>()), 1..4)).prop_map(|(event, flips)| {
            let mut bytes = event.encode_to_vec();
            for (at, byte) in flips {
                if !bytes.is_empty() {
                    let len = bytes.len();
                    bytes[at % len] = byte;
                }
            }
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn whatever_comes_in_the_invariants_hold(inputs in proptest::collection::vec(input(), 1..30)) {
        let catalog = catalog();
        let policy = Policy::default();
        let now: DateTime<Utc> = DateTime::from_timestamp(1_746_000_000, 0).unwrap();
        let mut histories: Vec<FileHistory> = (0..3).map(|f| FileHistory::new(FileId::new(format!("f{f}")).unwrap())).collect();
        for bytes in inputs {
            // Decoding and validation either refuse with a field error or give a valid event.
            let Ok(wire) = pb::Event::decode(bytes.as_slice()) else { continue };
            let Ok(event) = event_from_pb("events[0]", &wire) else { continue };
            let Some(history) = histories.iter_mut().find(|h| h.file_id() == &event.file_id) else { continue };
            let _ = history.insert(RecordedEvent { recorded_at: event.occurred_at, event });
        }
        for history in &histories {
            let judgement = judge(catalog, &policy, history);
            for (_, counts) in contribution(&judgement) {
                prop_assert!(!counts.has_negative(), "{counts:?}");
                prop_assert!(counts.finished() <= 1 && counts.received <= 1, "{counts:?}");
                prop_assert!(counts.early + counts.on_time <= counts.finished());
            }
            if let Some(attribution) = attribute(&judgement, now) {
                let total: i64 = attribution.shares.iter().map(|s| s.amount.as_secs()).sum();
                prop_assert_eq!(total, attribution.lateness.as_secs());
            }
            if let FileVerdict::Judged(verdict) = judgement.verdict_at(now) {
                prop_assert_eq!(verdict.is_breach(), !judgement.lateness_at(now).is_zero() || judgement.due().is_some_and(|due| judgement.finish.as_ref().map_or(now, |f| f.at) > due));
            }
        }
    }
}
