//! Benchmarks folding a 20-event file into its judgement (target: under 20 µs), and the
//! control slip, attribution and alert plan on top of it.
//!
//! Run: `cargo bench -p dunghan-domain --bench fold`

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_main, Criterion};
use dunghan_domain::alert::alert_plan;
use dunghan_domain::calendar::{vietnam_spec, Calendar};
use dunghan_domain::catalog::{
    Catalog, CountingRule, Deadline, DeadlineUnit, Procedure, Step, Unit, UnitKind, Versioned,
};
use dunghan_domain::clock::{judge, Policy};
use dunghan_domain::event::{Channel, Event, EventKind, FileHistory, Holder, RecordedEvent};
use dunghan_domain::slip::{attribute, control_slip};
use dunghan_domain::{
    CalendarId, EventId, FieldCode, FileId, OfficerId, ProcedureCode, SourceId, StepCode, UnitId,
    WorkingTime,
};

fn id<T>(make: fn(String) -> Result<T, dunghan_domain::IdError>, s: &str) -> T {
    make(s.to_owned()).expect("valid id")
}

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    let calendar_id = id(CalendarId::new, "vn");
    let calendar = Calendar::compile(vietnam_spec(calendar_id.clone())).expect("compiles");
    catalog
        .calendars
        .insert(calendar_id.clone(), Arc::new(calendar));
    let since = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    for unit in ["center", "div-a", "div-b"] {
        catalog.units.insert(
            id(UnitId::new, unit),
            Versioned::single(
                since,
                Unit {
                    id: id(UnitId::new, unit),
                    name: unit.to_owned(),
                    parent: None,
                    kind: UnitKind::Division,
                    calendar: calendar_id.clone(),
                    heads: Vec::new(),
                    predecessors: Vec::new(),
                },
            ),
        );
    }
    let procedure = Procedure {
        code: id(ProcedureCode::new, "P"),
        name: "P".to_owned(),
        field: id(FieldCode::new, "land"),
        level: "province".to_owned(),
        deadline: Deadline {
            amount: 10,
            unit: DeadlineUnit::WorkingDays,
        },
        counting: CountingRule::WorkingHours,
        cutoff: None,
        steps: ["reception", "appraisal", "decision", "return"]
            .iter()
            .map(|code| Step {
                code: id(StepCode::new, code),
                name: (*code).to_owned(),
                unit: None,
                role: None,
                allotted: WorkingTime::hours(20),
            })
            .collect(),
        clock_stopping_waits: BTreeSet::new(),
    };
    catalog
        .procedures
        .insert(procedure.code.clone(), Versioned::single(since, procedure));
    catalog
}

fn twenty_events() -> FileHistory {
    let file_id = id(FileId::new, "000.17.22.H56-250303-0001");
    let mut history = FileHistory::new(file_id.clone());
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 3, 3, 1, 0, 0)
        .single()
        .expect("instant");
    let holder = |officer: &str, unit: &str| Holder {
        officer: Some(id(OfficerId::new, officer)),
        unit: id(UnitId::new, unit),
    };
    let people = [("an", "div-a"), ("chi", "div-b")];
    let mut kinds = vec![EventKind::Received {
        procedure: id(ProcedureCode::new, "P"),
        channel: Channel::Online,
        holder: holder("desk", "center"),
        appointment: None,
    }];
    let mut previous = holder("desk", "center");
    for idx in 0..16 {
        let (officer, unit) = people[idx % 2];
        let to = holder(officer, unit);
        let step = ["appraisal", "decision"][idx % 2];
        kinds.push(EventKind::HandedOver {
            from: previous.clone(),
            to: to.clone(),
            step: Some(id(StepCode::new, step)),
        });
        previous = to;
    }
    kinds.push(EventKind::SupplementRequested {
        officer: None,
        reason: "thiếu".to_owned(),
        items: Vec::new(),
    });
    kinds.push(EventKind::SupplementReceived);
    kinds.push(EventKind::Resolved);
    for (idx, kind) in kinds.into_iter().enumerate() {
        let occurred_at = start + Duration::hours(7 * idx as i64);
        let event = Event {
            id: id(EventId::new, &format!("e{idx:02}")),
            file_id: file_id.clone(),
            occurred_at,
            source: id(SourceId::new, "bench"),
            kind,
        };
        history
            .insert(RecordedEvent {
                event,
                recorded_at: occurred_at,
            })
            .expect("same file");
    }
    assert_eq!(history.len(), 20);
    history
}

fn bench_fold(c: &mut Criterion) {
    let catalog = catalog();
    let policy = Policy::default();
    let history = twenty_events();
    let now = Utc
        .with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .expect("instant");
    c.bench_function("judge 20-event file", |b| {
        b.iter(|| judge(black_box(&catalog), &policy, black_box(&history)))
    });
    let judgement = judge(&catalog, &policy, &history);
    c.bench_function("control slip + attribution", |b| {
        b.iter(|| {
            let slip = control_slip(black_box(&judgement), now);
            (slip, attribute(&judgement, now))
        })
    });
    c.bench_function("alert plan", |b| {
        b.iter(|| alert_plan(black_box(&judgement), &policy, now))
    });
}

// criterion_group! generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_fold);
}
use group::benches;
criterion_main!(benches);
