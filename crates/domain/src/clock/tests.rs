//! Scenario tests of the file clock, verdicts, slip, attribution, rules, alerts and
//! re-judging. Each test reads as data through the [`Scenario`] helper.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use proptest::prelude::*;

use crate::alert::{alert_plan, AlertKind};
use crate::calendar::{vietnam_spec, Calendar, DayOverride, OverrideKind};
use crate::catalog::{
    Catalog, CountingRule, Deadline, DeadlineUnit, Officer, Procedure, Step, Term, Unit, UnitKind,
    Versioned, WaitKind,
};
use crate::clock::{judge, FileVerdict, Judgement, Policy, RuleSet, Standing, Verdict};
use crate::event::{Channel, Event, EventKind, FileHistory, Holder, InsertOutcome, RecordedEvent};
use crate::ids::{
    CalendarId, EventId, FieldCode, FileId, OfficerId, ProcedureCode, SourceId, StepCode, UnitId,
};
use crate::rejudge::rejudge;
use crate::rules::{rules_broken, Rule};
use crate::slip::{attribute, control_slip, roll_up, ShareBasis};
use crate::time::WorkingTime;

/// Local time in Vietnam (UTC+7), written `YYYY-MM-DD HH:MM`.
fn t(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").expect("test instant");
    FixedOffset::east_opt(7 * 3600)
        .expect("offset")
        .from_local_datetime(&naive)
        .single()
        .expect("unique local time")
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

fn officer_unit(officer: &str) -> &'static str {
    match officer {
        "desk" => "center",
        "an" | "binh" => "div-a",
        "chi" | "dung" => "div-b",
        _ => "dept",
    }
}

fn h(officer: &str) -> Holder {
    Holder {
        officer: Some(OfficerId::new(officer).expect("officer")),
        unit: UnitId::new(officer_unit(officer)).expect("unit"),
    }
}

fn code(s: &str) -> ProcedureCode {
    ProcedureCode::new(s).expect("procedure code")
}

struct Scenario {
    catalog: Catalog,
    policy: Policy,
    history: FileHistory,
    next_id: usize,
}

impl Scenario {
    /// A catalog with the shipped Vietnamese calendar, a province tree and procedure
    /// `P` with the given deadline and steps `(code, hours, unit)`.
    fn new(deadline: Deadline, steps: &[(&str, i64, &str)]) -> Scenario {
        Self::with_procedure(procedure(deadline, steps))
    }

    fn with_procedure(procedure: Procedure) -> Scenario {
        let mut catalog = Catalog::default();
        let calendar = Calendar::compile(vietnam_spec(CalendarId::new("vn").expect("id")))
            .expect("shipped calendar compiles");
        catalog
            .calendars
            .insert(CalendarId::new("vn").expect("id"), Arc::new(calendar));
        let since = date(2020, 1, 1);
        for (id, parent, kind, head) in [
            ("province", None, UnitKind::Province, Some("governor")),
            ("center", Some("province"), UnitKind::Center, None),
            (
                "dept",
                Some("province"),
                UnitKind::Department,
                Some("director"),
            ),
            ("div-a", Some("dept"), UnitKind::Division, Some("head-a")),
            ("div-b", Some("dept"), UnitKind::Division, Some("head-b")),
        ] {
            catalog.units.insert(
                UnitId::new(id).expect("id"),
                Versioned::single(
                    since,
                    Unit {
                        id: UnitId::new(id).expect("id"),
                        name: id.to_owned(),
                        parent: parent.map(|p| UnitId::new(p).expect("id")),
                        kind,
                        calendar: CalendarId::new("vn").expect("id"),
                        heads: head
                            .map(|o| Term::from(OfficerId::new(o).expect("id"), since))
                            .into_iter()
                            .collect(),
                        predecessors: Vec::new(),
                    },
                ),
            );
        }
        for officer in [
            "desk", "an", "binh", "chi", "dung", "director", "governor", "head-a", "head-b",
        ] {
            catalog.officers.insert(
                OfficerId::new(officer).expect("id"),
                Versioned::single(
                    since,
                    Officer {
                        id: OfficerId::new(officer).expect("id"),
                        name: officer.to_owned(),
                        memberships: vec![Term::from(
                            UnitId::new(officer_unit(officer)).expect("id"),
                            since,
                        )],
                    },
                ),
            );
        }
        catalog
            .procedures
            .insert(procedure.code.clone(), Versioned::single(since, procedure));
        Scenario {
            catalog,
            policy: Policy::default(),
            history: FileHistory::new(FileId::new("000.17.22.H56-250124-0001").expect("id")),
            next_id: 0,
        }
    }

    fn event(&mut self, at: &str, kind: EventKind) -> &mut Self {
        self.next_id += 1;
        let event = Event {
            id: EventId::new(format!("e{:03}", self.next_id)).expect("id"),
            file_id: self.history.file_id().clone(),
            occurred_at: t(at),
            source: SourceId::new("one-stop").expect("id"),
            kind,
        };
        let outcome = self
            .history
            .insert(RecordedEvent {
                recorded_at: event.occurred_at,
                event,
            })
            .expect("same file");
        assert_eq!(outcome, InsertOutcome::Accepted);
        self
    }

    fn received(&mut self, at: &str) -> &mut Self {
        self.event(
            at,
            EventKind::Received {
                procedure: code("P"),
                channel: Channel::InPerson,
                holder: h("desk"),
                appointment: None,
            },
        )
    }

    fn hand(&mut self, at: &str, from: &str, to: &str, step: Option<&str>) -> &mut Self {
        self.event(
            at,
            EventKind::HandedOver {
                from: h(from),
                to: h(to),
                step: step.map(|s| StepCode::new(s).expect("step")),
            },
        )
    }

    fn judge(&self) -> Judgement {
        judge(&self.catalog, &self.policy, &self.history)
    }
}

fn procedure(deadline: Deadline, steps: &[(&str, i64, &str)]) -> Procedure {
    Procedure {
        code: code("P"),
        name: "Cấp giấy phép".to_owned(),
        field: FieldCode::new("construction").expect("field"),
        level: "province".to_owned(),
        deadline,
        counting: CountingRule::WorkingHours,
        cutoff: None,
        steps: steps
            .iter()
            .map(|(step, hours, unit)| Step {
                code: StepCode::new(*step).expect("step"),
                name: (*step).to_owned(),
                unit: Some(UnitId::new(*unit).expect("unit")),
                role: None,
                allotted: WorkingTime::hours(*hours),
            })
            .collect(),
        clock_stopping_waits: BTreeSet::new(),
    }
}

fn days(amount: u32) -> Deadline {
    Deadline {
        amount,
        unit: DeadlineUnit::WorkingDays,
    }
}

#[track_caller]
fn check_due(scenario: &Scenario, expected: &str) {
    let judgement = scenario.judge();
    assert_eq!(
        judgement.standing,
        Standing::Judged,
        "{:?}",
        judgement.standing
    );
    assert_eq!(
        judgement.due(),
        Some(t(expected)),
        "due {:?}",
        judgement
            .due()
            .map(|d| d.with_timezone(&FixedOffset::east_opt(7 * 3600).expect("offset")))
    );
}

#[track_caller]
fn check_verdict(scenario: &Scenario, now: &str, expected: Verdict) {
    assert_eq!(
        scenario.judge().verdict_at(t(now)),
        FileVerdict::Judged(expected)
    );
}

#[test]
fn received_friday_1630_with_two_working_days_is_due_tuesday_1630() {
    let mut s = Scenario::new(days(2), &[]);
    s.received("2025-03-07 16:30");
    check_due(&s, "2025-03-11 16:30");
}

#[test]
fn received_on_saturday_starts_at_monday_opening() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-08 09:00");
    check_due(&s, "2025-03-10 17:00");
}

#[test]
fn file_spanning_tet_2025_skips_the_whole_break() {
    // Tết 2025: Sat 25/1 – Sun 2/2 closed. 0.5h on Friday, then Mon 3/2, Tue 4/2, Wed 5/2.
    let mut s = Scenario::new(days(3), &[]);
    s.received("2025-01-24 16:30");
    check_due(&s, "2025-02-05 16:30");
}

#[test]
fn swapped_working_saturday_counts() {
    // Sat 26/4/2025 is a working day (swapped for Fri 2/5).
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-04-25 16:00");
    check_due(&s, "2025-04-26 16:00");
}

#[test]
fn received_after_cutoff_counts_from_next_working_day() {
    let mut proc = procedure(
        Deadline {
            amount: 4,
            unit: DeadlineUnit::WorkingHours,
        },
        &[],
    );
    proc.cutoff = NaiveTime::from_hms_opt(15, 0, 0);
    let mut s = Scenario::with_procedure(proc.clone());
    s.received("2025-03-10 15:30");
    check_due(&s, "2025-03-11 11:30");
    let mut before = Scenario::with_procedure(proc);
    // Before the cut-off: 2.5h on Monday, 1.5h on Tuesday morning.
    before.received("2025-03-10 14:30");
    check_due(&before, "2025-03-11 09:00");
}

#[test]
fn civil_code_ends_at_close_of_nth_working_day_after_receipt() {
    let mut proc = procedure(days(2), &[]);
    proc.counting = CountingRule::CivilCode;
    let mut s = Scenario::with_procedure(proc);
    s.received("2025-03-07 08:00");
    check_due(&s, "2025-03-11 17:00");
}

#[test]
fn calendar_days_ending_on_sunday_move_to_monday_close() {
    let mut s = Scenario::new(
        Deadline {
            amount: 9,
            unit: DeadlineUnit::CalendarDays,
        },
        &[],
    );
    s.received("2025-03-07 10:00");
    check_due(&s, "2025-03-17 17:00");
}

#[test]
fn supplement_request_restarts_the_clock_from_zero() {
    let mut s = Scenario::new(days(5), &[]);
    s.received("2025-03-03 08:00").event(
        "2025-03-05 10:00",
        EventKind::SupplementRequested {
            officer: Some(OfficerId::new("an").expect("id")),
            reason: "thiếu bản vẽ".to_owned(),
            items: vec!["bản vẽ".to_owned()],
        },
    );
    // While the applicant is asked, the clock is stopped: no due time, within time.
    assert_eq!(s.judge().due(), None);
    check_verdict(&s, "2025-04-30 10:00", Verdict::WithinTime);
    s.event("2025-03-10 09:00", EventKind::SupplementReceived);
    // 40h from Mon 10/3 09:00: 6.5h Monday, 32h Tue–Fri, 1.5h on Mon 17/3.
    check_due(&s, "2025-03-17 09:00");
    assert_eq!(s.judge().explanation.restarts, vec![t("2025-03-10 09:00")]);
}

#[test]
fn supplement_requested_after_due_does_not_erase_the_breach() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-03 07:30")
        .event(
            "2025-03-04 09:00",
            EventKind::SupplementRequested {
                officer: None,
                reason: "late".to_owned(),
                items: Vec::new(),
            },
        )
        .event("2025-03-05 09:00", EventKind::SupplementReceived)
        .event("2025-03-05 10:00", EventKind::Resolved);
    check_due(&s, "2025-03-03 17:00");
    check_verdict(&s, "2025-03-06 10:00", Verdict::Late);
    // Lateness: Tue 4/3 07:30–09:00 (1.5h) before the request, then Wed 5/3 09:00–10:00
    // (1h) after the dossier came back; the applicant's time in between is nobody's.
    assert_eq!(
        s.judge().lateness_at(t("2025-03-06 10:00")),
        WorkingTime::minutes(150)
    );
}

#[test]
fn second_supplement_request_is_a_broken_rule() {
    let mut s = Scenario::new(days(10), &[]);
    let ask = || EventKind::SupplementRequested {
        officer: None,
        reason: "thiếu".to_owned(),
        items: Vec::new(),
    };
    s.received("2025-03-03 08:00")
        .event("2025-03-04 08:00", ask())
        .event("2025-03-05 08:00", EventKind::SupplementReceived)
        .event("2025-03-06 08:00", ask());
    let rules: Vec<Rule> = rules_broken(&s.judge(), &s.policy, t("2025-03-07 08:00"))
        .iter()
        .map(|b| b.rule)
        .collect();
    assert_eq!(rules, vec![Rule::SecondSupplementRequest]);
}

#[test]
fn supplement_requested_after_three_working_days_is_a_broken_rule() {
    let mut s = Scenario::new(days(10), &[]);
    s.received("2025-03-03 08:00").event(
        "2025-03-07 08:00",
        EventKind::SupplementRequested {
            officer: None,
            reason: "late ask".to_owned(),
            items: Vec::new(),
        },
    );
    let breaches = rules_broken(&s.judge(), &s.policy, t("2025-03-07 09:00"));
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].rule, Rule::LateSupplementRequest);
    assert_eq!(breaches[0].basis, "NĐ 61/2018 Điều 19(4)");
}

#[test]
fn extension_issued_too_late_is_a_broken_rule_and_verdict_stays_against_original() {
    let mut s = Scenario::new(days(2), &[]);
    s.received("2025-03-03 07:30")
        // Due Tue 4/3 17:00; the apology comes Tue 4/3 10:00, less than a day before.
        .event(
            "2025-03-04 10:00",
            EventKind::Extended {
                reason: "cần xác minh".to_owned(),
                new_due: t("2025-03-07 17:00"),
            },
        )
        .event("2025-03-06 10:00", EventKind::Resolved);
    let judgement = s.judge();
    assert_eq!(judgement.due(), Some(t("2025-03-04 17:00")));
    assert_eq!(judgement.extended_due(), Some(t("2025-03-07 17:00")));
    assert_eq!(
        judgement.verdict_at(t("2025-03-07 00:00")),
        FileVerdict::Judged(Verdict::Late)
    );
    assert_eq!(
        judgement.extended_verdict_at(t("2025-03-07 00:00")),
        FileVerdict::Judged(Verdict::Early)
    );
    let breaches = rules_broken(&judgement, &s.policy, t("2025-03-07 00:00"));
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0].rule, Rule::NoTimelyExtension);
    // Tue 10:00–11:30 and 13:00–17:00: 5h30 of working time before the due time.
    assert!(
        breaches[0].detail.contains("5h30m00s"),
        "{}",
        breaches[0].detail
    );
}

#[test]
fn timely_extension_breaks_no_rule_and_second_one_does() {
    let mut s = Scenario::new(days(2), &[]);
    let extend = |at: &str| EventKind::Extended {
        reason: "xác minh".to_owned(),
        new_due: t(at),
    };
    s.received("2025-03-03 07:30")
        .event("2025-03-03 09:00", extend("2025-03-07 17:00"))
        .event("2025-03-06 09:00", extend("2025-03-12 17:00"))
        .event("2025-03-11 10:00", EventKind::Resolved);
    let rules: Vec<Rule> = rules_broken(&s.judge(), &s.policy, t("2025-03-12 00:00"))
        .iter()
        .map(|b| b.rule)
        .collect();
    assert_eq!(rules, vec![Rule::SecondExtension]);
    assert_eq!(s.judge().extended_due(), Some(t("2025-03-07 17:00")));
}

#[test]
fn three_step_late_file_shares_add_up_to_lateness() {
    // 3 working days = 24h: reception 8h, appraisal 8h at div-a, decision 8h at div-b.
    let mut s = Scenario::new(
        days(3),
        &[
            ("reception", 8, "center"),
            ("appraisal", 8, "div-a"),
            ("decision", 8, "div-b"),
        ],
    );
    s.received("2025-03-03 07:30")
        .hand("2025-03-03 17:00", "desk", "an", Some("appraisal"))
        // appraisal takes Tue, Wed, Thu morning: 20h used, 12h over.
        .hand("2025-03-06 11:30", "an", "chi", Some("decision"))
        // decision takes Thu afternoon to Mon 11:30: 4 + 8 + 4 = 16h used, 8h over.
        .event("2025-03-10 11:30", EventKind::Resolved);
    let judgement = s.judge();
    assert_eq!(judgement.due(), Some(t("2025-03-05 17:00")));
    let now = t("2025-03-11 00:00");
    let attribution = attribute(&judgement, now).expect("late file");
    // Lateness: Thu 8h + Fri 8h + Mon 4h = 20h.
    assert_eq!(attribution.lateness, WorkingTime::hours(20));
    assert_eq!(attribution.basis, ShareBasis::StepOverruns);
    assert_eq!(attribution.holder_at_breach, h("an"));
    let shares: Vec<(String, i64)> = attribution
        .shares
        .iter()
        .map(|s| (s.holder.to_string(), s.amount.as_secs()))
        .collect();
    // Overruns 12h and 8h split 20h as 12h and 8h.
    assert_eq!(
        shares,
        vec![
            ("an@div-a".to_owned(), 12 * 3600),
            ("chi@div-b".to_owned(), 8 * 3600)
        ]
    );
    let total: WorkingTime = attribution.shares.iter().map(|s| s.amount).sum();
    assert_eq!(total, attribution.lateness);
    let slip = control_slip(&judgement, now);
    let verdicts: Vec<Option<Verdict>> = slip.steps.iter().map(|s| s.verdict).collect();
    assert_eq!(
        verdicts,
        vec![
            Some(Verdict::OnTime),
            Some(Verdict::Late),
            Some(Verdict::Late)
        ]
    );
    let charges = roll_up(&s.catalog, &judgement, &attribution);
    assert_eq!(
        charges[0]
            .units
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>(),
        ["div-a", "dept", "province"]
    );
    assert_eq!(
        charges[0]
            .heads
            .iter()
            .map(|(_, o)| o.to_string())
            .collect::<Vec<_>>(),
        ["head-a", "director", "governor"]
    );
}

#[test]
fn late_file_with_no_overrunning_step_goes_to_holder_at_breach() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-03 07:30")
        .hand("2025-03-03 15:00", "desk", "binh", None)
        .event("2025-03-04 09:30", EventKind::Resolved);
    let attribution = attribute(&s.judge(), t("2025-03-05 00:00")).expect("late");
    assert_eq!(attribution.basis, ShareBasis::HolderAtBreach);
    assert_eq!(attribution.holder_at_breach, h("binh"));
    assert_eq!(attribution.shares.len(), 1);
    assert_eq!(attribution.shares[0].amount, WorkingTime::hours(2));
}

#[test]
fn file_handed_back_and_forth_is_a_broken_rule() {
    let mut s = Scenario::new(days(10), &[]);
    s.received("2025-03-03 08:00")
        .hand("2025-03-03 09:00", "desk", "an", None)
        .hand("2025-03-03 10:00", "an", "chi", None)
        .hand("2025-03-03 11:00", "chi", "an", None);
    let at = t("2025-03-04 08:00");
    assert!(rules_broken(&s.judge(), &s.policy, at).is_empty());
    s.hand("2025-03-03 14:00", "an", "chi", None);
    let breaches = rules_broken(&s.judge(), &s.policy, at);
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].rule, Rule::RepeatedHandback);
    assert_eq!(breaches[0].at, t("2025-03-03 14:00"));
}

#[test]
fn holiday_added_retroactively_turns_a_late_file_on_time() {
    // Mon 24/11/2025 was an ordinary working day when the file was judged; Vietnam Culture
    // Day arrives later as dated data.
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-11-21 13:00")
        .event("2025-11-25 10:00", EventKind::Resolved);
    let now = t("2025-11-26 00:00");
    check_verdict(&s, "2025-11-26 00:00", Verdict::Late);
    let before = s.catalog.clone();
    let mut spec = vietnam_spec(CalendarId::new("vn").expect("id"));
    spec.version += 1;
    spec.overrides.push(DayOverride {
        date: date(2025, 11, 24),
        kind: OverrideKind::Holiday,
        hours: None,
        note: "Ngày Văn hóa Việt Nam".to_owned(),
        source: "test".to_owned(),
    });
    let mut after = before.clone();
    after.calendars.insert(
        CalendarId::new("vn").expect("id"),
        Arc::new(Calendar::compile(spec).expect("compiles")),
    );
    let (changes, summary) = rejudge(&before, &after, &s.policy, [&s.history], now);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].before, FileVerdict::Judged(Verdict::Late));
    assert_eq!(changes[0].after, FileVerdict::Judged(Verdict::OnTime));
    // Fri 13:00–17:00, then the 4 hours of Tue morning: Mon 24/11 is now closed.
    assert_eq!(changes[0].due_before, Some(t("2025-11-24 11:30")));
    assert_eq!(changes[0].due_after, Some(t("2025-11-25 11:30")));
    assert!(
        summary
            .to_string()
            .contains("1 files flip from late to on time"),
        "{summary}"
    );
}

#[test]
fn early_on_time_late_and_open_verdicts() {
    let mut s = Scenario::new(days(2), &[]);
    s.received("2025-03-03 07:30");
    check_verdict(&s, "2025-03-04 17:00", Verdict::WithinTime);
    check_verdict(&s, "2025-03-04 17:01", Verdict::Overdue);
    let mut early = Scenario::new(days(2), &[]);
    early
        .received("2025-03-03 07:30")
        .event("2025-03-03 16:00", EventKind::Resolved);
    check_verdict(&early, "2025-03-10 00:00", Verdict::Early);
    let mut on_time = Scenario::new(days(2), &[]);
    on_time
        .received("2025-03-03 07:30")
        .event("2025-03-04 17:00", EventKind::Resolved);
    check_verdict(&on_time, "2025-03-10 00:00", Verdict::OnTime);
    let mut withdrawn = Scenario::new(days(2), &[]);
    withdrawn.received("2025-03-03 07:30").event(
        "2025-03-05 08:00",
        EventKind::Withdrawn {
            reason: "applicant".to_owned(),
        },
    );
    check_verdict(&withdrawn, "2025-03-10 00:00", Verdict::Late);
}

#[test]
fn not_accepted_and_submitted_files_are_not_counted() {
    let mut s = Scenario::new(days(2), &[]);
    s.event(
        "2025-03-03 08:00",
        EventKind::NotAccepted {
            reason: "sai thủ tục".to_owned(),
        },
    );
    assert_eq!(
        s.judge().verdict_at(t("2025-03-10 00:00")),
        FileVerdict::NotCounted
    );
    let mut pre = Scenario::new(days(2), &[]);
    pre.event(
        "2025-03-01 08:00",
        EventKind::Submitted {
            procedure: code("P"),
            channel: Channel::Online,
        },
    );
    assert_eq!(pre.judge().standing, Standing::NotReceived);
}

#[test]
fn unknown_procedure_is_kept_unjudged_then_judged_when_catalog_has_it() {
    let mut s = Scenario::new(days(2), &[]);
    s.event(
        "2025-03-03 08:00",
        EventKind::Received {
            procedure: code("2.000001"),
            channel: Channel::Online,
            holder: h("desk"),
            appointment: None,
        },
    );
    let judgement = s.judge();
    assert_eq!(
        judgement.standing,
        Standing::Unjudged {
            reasons: vec![crate::clock::UnjudgedReason::UnknownProcedure(code(
                "2.000001"
            ))]
        }
    );
    assert_eq!(
        judgement.verdict_at(t("2025-03-10 00:00")),
        FileVerdict::Unjudged
    );
    let mut proc = procedure(days(2), &[]);
    proc.code = code("2.000001");
    s.catalog
        .procedures
        .insert(proc.code.clone(), Versioned::single(date(2020, 1, 1), proc));
    // 7.5h on Monday from 08:00, 8h on Tuesday, 0.5h on Wednesday.
    assert_eq!(s.judge().due(), Some(t("2025-03-05 08:00")));
}

#[test]
fn rule_set_follows_receipt_date() {
    let mut old = Scenario::new(days(2), &[]);
    old.received("2025-06-30 16:00");
    assert_eq!(
        old.judge().explanation.rule_set,
        Some(RuleSet::Decree61Of2018)
    );
    let mut new = Scenario::new(days(2), &[]);
    new.received("2025-07-01 08:00");
    assert_eq!(
        new.judge().explanation.rule_set,
        Some(RuleSet::Decree118Of2025)
    );
}

#[test]
fn appointment_later_than_deadline_allows_is_flagged() {
    let mut s = Scenario::new(days(2), &[]);
    s.event(
        "2025-03-03 07:30",
        EventKind::Received {
            procedure: code("P"),
            channel: Channel::InPerson,
            holder: h("desk"),
            appointment: Some(t("2025-03-06 17:00")),
        },
    );
    let judgement = s.judge();
    assert_eq!(
        judgement.explanation.appointment,
        Some(t("2025-03-06 17:00"))
    );
    let rules: Vec<Rule> = rules_broken(&judgement, &s.policy, t("2025-03-03 08:00"))
        .iter()
        .map(|b| b.rule)
        .collect();
    assert_eq!(rules, vec![Rule::AppointmentInflation]);
}

#[test]
fn financial_obligation_stops_the_clock_only_where_the_procedure_says() {
    let mut proc = procedure(days(2), &[]);
    let run = |proc: Procedure| {
        let mut s = Scenario::with_procedure(proc);
        s.received("2025-03-03 07:30")
            .event("2025-03-03 13:00", EventKind::FinancialObligationRequested)
            .event("2025-03-04 13:00", EventKind::FinancialObligationFulfilled);
        s.judge().due()
    };
    assert_eq!(run(proc.clone()), Some(t("2025-03-04 17:00")));
    proc.clock_stopping_waits
        .insert(WaitKind::FinancialObligation);
    // 8h stopped (Mon 13:00 – Tue 13:00): due moves a working day later.
    assert_eq!(run(proc), Some(t("2025-03-05 17:00")));
}

#[test]
fn consultation_answered_after_its_deadline_is_flagged() {
    let mut s = Scenario::new(days(10), &[]);
    s.received("2025-03-03 07:30")
        .event(
            "2025-03-03 08:00",
            EventKind::ConsultationRequested {
                consulted: UnitId::new("div-b").expect("id"),
                deadline: days(1),
            },
        )
        .event(
            "2025-03-05 08:00",
            EventKind::ConsultationAnswered {
                consulted: UnitId::new("div-b").expect("id"),
            },
        );
    let rules: Vec<Rule> = rules_broken(&s.judge(), &s.policy, t("2025-03-06 00:00"))
        .iter()
        .map(|b| b.rule)
        .collect();
    assert_eq!(rules, vec![Rule::LateConsultationAnswer]);
}

#[test]
fn rejection_after_due_is_flagged() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-03 07:30").event(
        "2025-03-04 08:00",
        EventKind::Rejected {
            reason: "không đủ điều kiện".to_owned(),
        },
    );
    let rules: Vec<Rule> = rules_broken(&s.judge(), &s.policy, t("2025-03-05 00:00"))
        .iter()
        .map(|b| b.rule)
        .collect();
    assert_eq!(
        rules,
        vec![Rule::NoTimelyExtension, Rule::RejectionAfterDue]
    );
}

#[test]
fn backdated_event_and_change_to_finished_file_are_flagged() {
    let mut s = Scenario::new(days(2), &[]);
    s.received("2025-03-03 07:30")
        .event("2025-03-04 09:00", EventKind::Resolved);
    let late = Event {
        id: EventId::new("late-handover").expect("id"),
        file_id: s.history.file_id().clone(),
        occurred_at: t("2025-03-03 10:00"),
        source: SourceId::new("one-stop").expect("id"),
        kind: EventKind::HandedOver {
            from: h("desk"),
            to: h("an"),
            step: None,
        },
    };
    s.history
        .insert(RecordedEvent {
            event: late,
            recorded_at: t("2025-03-10 10:00"),
        })
        .expect("same file");
    let breaches = rules_broken(&s.judge(), &s.policy, t("2025-03-11 00:00"));
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].rule, Rule::AlteredRecord);
    assert!(
        breaches[0].detail.contains("7 days"),
        "{}",
        breaches[0].detail
    );
    assert!(breaches[0].detail.contains("after the file was finished"));
}

#[test]
fn alerts_fire_at_exact_instants_and_plan_the_next_one() {
    let mut s = Scenario::new(
        days(2),
        &[("reception", 4, "center"), ("appraisal", 12, "div-a")],
    );
    s.received("2025-03-03 07:30");
    // Reception: 75% of 4h = 3h → 10:30; overdue at 11:30. File due soon at 1 day left.
    let plan = alert_plan(&s.judge(), &s.policy, t("2025-03-03 07:30"));
    assert!(plan.holding.is_empty());
    assert_eq!(plan.next_at, Some(t("2025-03-03 10:30")));
    let plan = alert_plan(&s.judge(), &s.policy, t("2025-03-03 10:30"));
    assert_eq!(plan.holding.len(), 1);
    assert_eq!(plan.holding[0].kind, AlertKind::StepDueSoon);
    assert_eq!(plan.next_at, Some(t("2025-03-03 11:30")));
    let plan = alert_plan(&s.judge(), &s.policy, t("2025-03-03 17:00"));
    let kinds: Vec<AlertKind> = plan.holding.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AlertKind::StepDueSoon,
            AlertKind::StepOverdue,
            AlertKind::FileDueSoon
        ]
    );
    assert_eq!(plan.next_at, Some(t("2025-03-04 17:00")));
    let plan = alert_plan(&s.judge(), &s.policy, t("2025-03-04 17:00"));
    assert!(plan
        .holding
        .iter()
        .any(|c| c.kind == AlertKind::FileOverdue));
    // At the due time itself the file is not yet overdue (`now <= due` is within time).
    assert!(!plan
        .holding
        .iter()
        .any(|c| c.kind == AlertKind::RuleBroken(Rule::NoTimelyExtension)));
    let later = alert_plan(&s.judge(), &s.policy, t("2025-03-04 17:01"));
    assert!(later
        .holding
        .iter()
        .any(|c| c.kind == AlertKind::RuleBroken(Rule::NoTimelyExtension)));
}

#[test]
fn a_late_resolution_event_retracts_the_overdue_condition() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-03 07:30");
    let now = t("2025-03-04 09:00");
    let overdue = |j: &Judgement| {
        alert_plan(j, &Policy::default(), now)
            .holding
            .iter()
            .any(|c| c.kind == AlertKind::FileOverdue)
    };
    assert!(overdue(&s.judge()));
    // The resolution arrives late but happened before the due time.
    s.event("2025-03-03 16:00", EventKind::Resolved);
    assert!(!overdue(&s.judge()));
}

#[test]
fn duplicate_is_a_no_op_and_same_id_different_content_is_a_conflict() {
    let mut s = Scenario::new(days(2), &[]);
    s.received("2025-03-03 07:30");
    let stored = s.history.ordered()[0].clone();
    assert_eq!(
        s.history.insert(stored.clone()),
        Ok(InsertOutcome::Duplicate)
    );
    let mut changed = stored.clone();
    changed.event.occurred_at = t("2025-03-03 08:00");
    assert_eq!(
        s.history.insert(changed),
        Ok(InsertOutcome::Conflict {
            stored: Box::new(stored.event.clone())
        })
    );
    assert_eq!(s.judge().received_at, Some(t("2025-03-03 07:30")));
}

/// Everything observable about a judgement, for comparing two folds.
fn observable(judgement: &Judgement, now: DateTime<Utc>) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        judgement.standing,
        judgement.explanation,
        judgement.segments,
        judgement.finish,
        judgement.anomalies,
        judgement.verdict_at(now),
        control_slip(judgement, now),
        attribute(judgement, now),
        crate::stats::contribution(judgement),
    )
}

#[test]
fn a_late_file_contributes_its_receipt_and_its_verdict_and_a_late_event_moves_them() {
    let mut s = Scenario::new(days(1), &[]);
    s.received("2025-03-03 07:30")
        .hand("2025-03-03 09:00", "desk", "an", None);
    let open = crate::stats::contribution(&s.judge());
    assert_eq!(open.len(), 1, "an open file contributes its receipt only");
    let (receipt, counts) = open.iter().next().unwrap();
    assert_eq!((receipt.day, counts.received), (date(2025, 3, 3), 1));
    assert_eq!(receipt.officer, Some(OfficerId::new("desk").unwrap()));
    s.event("2025-03-05 09:30", EventKind::Resolved);
    let late = crate::stats::contribution(&s.judge());
    let (finish, counts) = late.iter().nth(1).unwrap();
    assert_eq!(finish.day, date(2025, 3, 5));
    assert_eq!(finish.officer, Some(OfficerId::new("an").unwrap()));
    // Due Mon 17:00; Tue 8h and Wed 07:30–09:30 2h late.
    assert_eq!((counts.late, counts.late_seconds), (1, 10 * 3600));
    let delta = crate::stats::difference(&open, &late);
    assert_eq!(delta.len(), 1, "only the finish entry changes");
    // A resolution that arrives late but happened on Monday moves the file to on time.
    s.event("2025-03-03 16:00", EventKind::Resolved);
    let on_time = crate::stats::contribution(&s.judge());
    let delta = crate::stats::difference(&late, &on_time);
    let moved: Vec<(NaiveDate, i64, i64)> = delta
        .iter()
        .map(|(k, c)| (k.day, c.late, c.on_time + c.early))
        .collect();
    assert_eq!(
        moved,
        vec![(date(2025, 3, 3), 0, 1), (date(2025, 3, 5), -1, 0)]
    );
}

fn rich_scenario() -> Scenario {
    let mut s = Scenario::new(
        days(3),
        &[
            ("reception", 8, "center"),
            ("appraisal", 8, "div-a"),
            ("decision", 8, "div-b"),
        ],
    );
    s.received("2025-03-03 07:30")
        .hand("2025-03-03 17:00", "desk", "an", Some("appraisal"))
        .event(
            "2025-03-04 09:00",
            EventKind::SupplementRequested {
                officer: None,
                reason: "x".to_owned(),
                items: Vec::new(),
            },
        )
        .event("2025-03-05 09:00", EventKind::SupplementReceived)
        .hand("2025-03-06 11:30", "an", "chi", Some("decision"))
        .hand("2025-03-07 11:30", "chi", "an", None)
        .hand("2025-03-10 11:30", "an", "chi", None)
        .event(
            "2025-03-10 13:00",
            EventKind::Extended {
                reason: "x".to_owned(),
                new_due: t("2025-03-14 17:00"),
            },
        )
        .event("2025-03-12 11:30", EventKind::Resolved)
        .event("2025-03-12 15:00", EventKind::Returned);
    s
}

proptest! {
    #[test]
    fn any_order_of_arrival_gives_the_same_state(seed in any::<u64>()) {
        let s = rich_scenario();
        let now = t("2025-03-20 00:00");
        let expected = observable(&s.judge(), now);
        let mut events: Vec<RecordedEvent> = s.history.ordered().into_iter().cloned().collect();
        // Deterministic shuffle from the seed.
        let mut state = seed | 1;
        for idx in (1..events.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            events.swap(idx, (state % (idx as u64 + 1)) as usize);
        }
        let mut shuffled = FileHistory::new(s.history.file_id().clone());
        for event in events.iter().chain(events.iter().take((seed % 4) as usize)) {
            shuffled.insert(event.clone()).expect("same file");
        }
        prop_assert_eq!(shuffled.len(), s.history.len());
        let got = observable(&judge(&s.catalog, &s.policy, &shuffled), now);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn attribution_shares_add_up_to_lateness(
        hand_minutes in proptest::collection::vec(30_i64..3000, 1..6),
        finish_extra in 0_i64..5000,
    ) {
        let mut s = Scenario::new(
            days(2),
            &[("reception", 4, "center"), ("appraisal", 8, "div-a"), ("decision", 4, "div-b")],
        );
        s.received("2025-03-03 07:30");
        let mut at = t("2025-03-03 07:30");
        let people = ["desk", "an", "chi", "an", "dung", "binh"];
        let steps = [None, Some("appraisal"), Some("decision"), Some("appraisal"), None, Some("decision")];
        for (idx, minutes) in hand_minutes.iter().enumerate() {
            at += chrono::Duration::minutes(*minutes);
            let local = at.with_timezone(&FixedOffset::east_opt(7 * 3600).expect("offset"));
            s.hand(
                &local.format("%Y-%m-%d %H:%M").to_string(),
                people[idx],
                people[idx + 1],
                steps[idx + 1],
            );
        }
        at += chrono::Duration::minutes(finish_extra);
        let local = at.with_timezone(&FixedOffset::east_opt(7 * 3600).expect("offset"));
        s.event(&local.format("%Y-%m-%d %H:%M").to_string(), EventKind::Resolved);
        let judgement = s.judge();
        let now = t("2025-06-01 00:00");
        if let Some(attribution) = attribute(&judgement, now) {
            let total: WorkingTime = attribution.shares.iter().map(|s| s.amount).sum();
            // Lateness may be zero working time: finished at 17:01 after a 17:00 due
            // time is late by the clock but loses no working time.
            prop_assert_eq!(total, attribution.lateness);
            prop_assert_eq!(attribution.shares.is_empty(), attribution.lateness.is_zero());
            prop_assert!(attribution.shares.iter().all(|s| !s.amount.is_zero()));
        } else {
            prop_assert!(!matches!(judgement.verdict_at(now), FileVerdict::Judged(Verdict::Late)));
        }
    }
}
