//! Rules broken (DOMAIN.md §7), detected from a file's judgement as pure functions.
//!
//! Each breach names the rule, the instant it became true, the event that broke it (if
//! one did), a key that identifies the occurrence (so an alert fires once per occurrence),
//! and the legal basis under the file's rule set.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::clock::{FileVerdict, Judgement, Policy, RuleSet};
use crate::ids::EventId;
use crate::time::WorkingTime;

/// A rule of DOMAIN.md §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A second supplement request on one file: supplements are asked once, completely.
    SecondSupplementRequest,
    /// A supplement requested more than the window (3 working days) after receipt.
    LateSupplementRequest,
    /// A late file with no extension issued at least 1 working day before the due time.
    NoTimelyExtension,
    /// A second extension.
    SecondExtension,
    /// The file handed back to a holder it already left, repeatedly (A→B→A→B).
    RepeatedHandback,
    /// The source's appointment is later than the published deadline allows.
    AppointmentInflation,
    /// An event backdated beyond the tolerance, or recorded after the file was finished.
    AlteredRecord,
    /// A consultation answered after its own deadline.
    LateConsultationAnswer,
    /// A rejection issued after the due time.
    RejectionAfterDue,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::SecondSupplementRequest,
        Rule::LateSupplementRequest,
        Rule::NoTimelyExtension,
        Rule::SecondExtension,
        Rule::RepeatedHandback,
        Rule::AppointmentInflation,
        Rule::AlteredRecord,
        Rule::LateConsultationAnswer,
        Rule::RejectionAfterDue,
    ];

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::SecondSupplementRequest => "second_supplement_request",
            Rule::LateSupplementRequest => "late_supplement_request",
            Rule::NoTimelyExtension => "no_timely_extension",
            Rule::SecondExtension => "second_extension",
            Rule::RepeatedHandback => "repeated_handback",
            Rule::AppointmentInflation => "appointment_inflation",
            Rule::AlteredRecord => "altered_record",
            Rule::LateConsultationAnswer => "late_consultation_answer",
            Rule::RejectionAfterDue => "rejection_after_due",
        }
    }

    /// The legal basis of the rule under `rule_set`.
    ///
    /// Decree 118/2025 keeps these rules; where its article numbers are not pinned here
    /// the basis names the decree and the provision of Decree 61 it carries over.
    pub fn basis(self, rule_set: RuleSet) -> &'static str {
        match (rule_set, self) {
            (RuleSet::Decree61Of2018, Rule::SecondSupplementRequest) => {
                "NĐ 61/2018 Điều 15(3), Điều 17; Điều 5(1)(đ)"
            }
            (RuleSet::Decree61Of2018, Rule::LateSupplementRequest) => "NĐ 61/2018 Điều 19(4)",
            (RuleSet::Decree61Of2018, Rule::NoTimelyExtension | Rule::SecondExtension) => {
                "NĐ 61/2018 Điều 19(9)"
            }
            (RuleSet::Decree61Of2018, Rule::RepeatedHandback) => "NĐ 61/2018 Điều 5(1)(g)",
            (RuleSet::Decree61Of2018, Rule::AppointmentInflation) => {
                "NĐ 61/2018 Điều 19; thời hạn giải quyết đã công bố"
            }
            (RuleSet::Decree61Of2018, Rule::AlteredRecord) => "NĐ 61/2018 Điều 5(1)(c)",
            (RuleSet::Decree61Of2018, Rule::LateConsultationAnswer) => "NĐ 61/2018 Điều 19(5)",
            (RuleSet::Decree61Of2018, Rule::RejectionAfterDue) => "NĐ 61/2018 Điều 19(8)",
            (RuleSet::Decree118Of2025, Rule::SecondSupplementRequest) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 15(3), 17)"
            }
            (RuleSet::Decree118Of2025, Rule::LateSupplementRequest) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 19(4))"
            }
            (RuleSet::Decree118Of2025, Rule::NoTimelyExtension | Rule::SecondExtension) => {
                "NĐ 118/2025, TT 03/2025 (mẫu văn bản xin lỗi và gia hạn)"
            }
            (RuleSet::Decree118Of2025, Rule::RepeatedHandback) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 5(1)(g))"
            }
            (RuleSet::Decree118Of2025, Rule::AppointmentInflation) => {
                "NĐ 118/2025; thời hạn giải quyết đã công bố"
            }
            (RuleSet::Decree118Of2025, Rule::AlteredRecord) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 5(1)(c))"
            }
            (RuleSet::Decree118Of2025, Rule::LateConsultationAnswer) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 19(5))"
            }
            (RuleSet::Decree118Of2025, Rule::RejectionAfterDue) => {
                "NĐ 118/2025 (kế thừa NĐ 61/2018 Điều 19(8))"
            }
        }
    }
}

/// One occurrence of a broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleBreach {
    /// The rule.
    pub rule: Rule,
    /// When it became true.
    pub at: DateTime<Utc>,
    /// The event that broke it, if one did.
    pub event: Option<EventId>,
    /// Identifies the occurrence within the file and rule (empty when the rule can occur
    /// once per file; the event id otherwise).
    pub key: String,
    /// What happened, in words.
    pub detail: String,
    /// The legal basis under the file's rule set.
    pub basis: &'static str,
}

/// Every rule the file has broken by `now`, ordered by instant, then rule.
pub fn rules_broken(judgement: &Judgement, policy: &Policy, now: DateTime<Utc>) -> Vec<RuleBreach> {
    let rule_set = judgement
        .explanation
        .rule_set
        .unwrap_or(RuleSet::Decree118Of2025);
    let mut breaches = Vec::new();
    let mut push =
        |rule: Rule, at: DateTime<Utc>, event: Option<&EventId>, key: String, detail: String| {
            if at <= now {
                breaches.push(RuleBreach {
                    rule,
                    at,
                    event: event.cloned(),
                    key,
                    detail,
                    basis: rule.basis(rule_set),
                });
            }
        };
    let calendar = judgement.calendar.as_deref();
    let standard_day = calendar.map_or(WorkingTime::hours(8), |c| c.standard_day());

    if let Some((event, at)) = judgement.supplement_requests.get(1) {
        push(
            Rule::SecondSupplementRequest,
            *at,
            Some(event),
            String::new(),
            format!(
                "{} supplement requests; the first was {}",
                judgement.supplement_requests.len(),
                judgement.supplement_requests[0].0
            ),
        );
    }
    if let (Some(calendar), Some(started)) = (calendar, judgement.explanation.clock_started_at) {
        let window = standard_day.saturating_mul(i64::from(policy.supplement_window_days));
        for (event, at) in &judgement.supplement_requests {
            let used = calendar.elapsed(started, *at);
            if used > window {
                push(
                    Rule::LateSupplementRequest,
                    *at,
                    Some(event),
                    event.to_string(),
                    format!(
                        "requested {used} of working time after receipt; the limit is {window}"
                    ),
                );
            }
        }
    }
    if let Some(second) = judgement.extensions.get(1) {
        push(
            Rule::SecondExtension,
            second.issued_at,
            Some(&second.event),
            String::new(),
            format!(
                "{} extensions; at most one is allowed",
                judgement.extensions.len()
            ),
        );
    }
    if let (Some(calendar), Some(due)) = (calendar, judgement.due()) {
        let late = matches!(
            judgement.verdict_at(now),
            FileVerdict::Judged(verdict) if verdict.is_breach()
        );
        let notice = standard_day.saturating_mul(i64::from(policy.extension_notice_days));
        let timely = judgement
            .extensions
            .first()
            .is_some_and(|e| e.issued_at <= due && calendar.elapsed(e.issued_at, due) >= notice);
        if late && !timely {
            let detail = match judgement.extensions.first() {
                Some(e) => format!(
                    "the extension was issued {} before the due time; {notice} is required",
                    calendar.elapsed(e.issued_at, due)
                ),
                None => "late with no extension issued".to_owned(),
            };
            push(Rule::NoTimelyExtension, due, None, String::new(), detail);
        }
        if let Some(appointment) = judgement.explanation.appointment {
            if appointment > due {
                push(
                    Rule::AppointmentInflation,
                    judgement.received_at.unwrap_or(due),
                    None,
                    String::new(),
                    format!(
                        "appointment {} is later than the computed due time {}",
                        appointment.to_rfc3339(),
                        due.to_rfc3339()
                    ),
                );
            }
        }
        if let Some(finish) = &judgement.finish {
            if finish.kind == crate::clock::FinishKind::Rejected && finish.at > due {
                push(
                    Rule::RejectionAfterDue,
                    finish.at,
                    Some(&finish.event),
                    String::new(),
                    format!("rejected after the due time {}", due.to_rfc3339()),
                );
            }
        }
    }
    handbacks(judgement, policy, &mut push);
    for change in &judgement.record_changes {
        let mut what = Vec::new();
        if change.backdated {
            what.push(format!(
                "recorded {} after it occurred",
                humanize(change.recorded_at - change.occurred_at)
            ));
        }
        if change.after_finish {
            what.push("recorded after the file was finished".to_owned());
        }
        push(
            Rule::AlteredRecord,
            change.recorded_at,
            Some(&change.event),
            change.event.to_string(),
            what.join("; "),
        );
    }
    for consultation in &judgement.consultations {
        if let (Some(answered), Some(due)) = (consultation.answered_at, consultation.due) {
            if answered > due {
                push(
                    Rule::LateConsultationAnswer,
                    answered,
                    Some(&consultation.event),
                    consultation.event.to_string(),
                    format!(
                        "{} answered after its due time {}",
                        consultation.consulted,
                        due.to_rfc3339()
                    ),
                );
            }
        }
    }
    breaches.sort_by(|a, b| (a.at, a.rule, &a.key).cmp(&(b.at, b.rule, &b.key)));
    breaches
}

fn handbacks(
    judgement: &Judgement,
    policy: &Policy,
    push: &mut impl FnMut(Rule, DateTime<Utc>, Option<&EventId>, String, String),
) {
    // A holder is the officer where one is named, else the unit.
    let identity = |segment: &crate::clock::Segment| {
        segment.holder.officer.as_ref().map_or_else(
            || format!("unit {}", segment.holder.unit),
            |o| format!("officer {o}"),
        )
    };
    let mut last_left: BTreeMap<String, usize> = BTreeMap::new();
    let mut returns = Vec::new();
    for (idx, segment) in judgement.segments.iter().enumerate() {
        let who = identity(segment);
        if idx > 0 && last_left.contains_key(&who) && identity(&judgement.segments[idx - 1]) != who
        {
            returns.push((idx, who.clone()));
        }
        last_left.insert(who, idx);
    }
    if policy.handback_returns > 0 && returns.len() >= policy.handback_returns as usize {
        let (idx, _) = &returns[policy.handback_returns as usize - 1];
        let segment = &judgement.segments[*idx];
        let path: Vec<String> = judgement.segments.iter().map(identity).collect();
        push(
            Rule::RepeatedHandback,
            segment.start,
            Some(&segment.event),
            String::new(),
            format!("handed back {} times: {}", returns.len(), path.join(" → ")),
        );
    }
}

fn humanize(duration: chrono::Duration) -> String {
    let hours = duration.num_hours();
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    }
}
