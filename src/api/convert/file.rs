//! A file's judgement as the wire `File`: timeline, control slip, step totals, verdict with
//! its explanation, attribution and rules broken.

use chrono::{DateTime, Utc};
use dunghan_domain::catalog::{Catalog, WaitKind};
use dunghan_domain::clock::{
    FileVerdict, FinishKind, Judgement, Policy, RuleSet, Standing, StepRef, UnjudgedReason,
};
use dunghan_domain::event::{FileHistory, Holder};
use dunghan_domain::rules::rules_broken;
use dunghan_domain::slip::{attribute, control_slip, roll_up, ShareBasis};
use dunghan_domain::WorkingTime;

use super::{event_to_pb, instant_to_pb, rule_to_pb, verdict_to_pb, working_time_to_pb};
use crate::proto::v1;

/// The wire form of a file judged at `now`.
pub fn file_to_pb(
    catalog: &Catalog,
    policy: &Policy,
    history: &FileHistory,
    judgement: &Judgement,
    now: DateTime<Utc>,
) -> v1::File {
    let slip = control_slip(judgement, now);
    let step_name = |step: &StepRef| match (step, &judgement.procedure) {
        (StepRef::Planned(code), Some(procedure)) => procedure
            .step(code)
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let control_slip_rows = slip
        .rows
        .iter()
        .map(|row| v1::ControlSlipRow {
            step_code: step_code(&row.step),
            step_name: step_name(&row.step),
            holder_officer_id: row
                .holder
                .officer
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            holder_unit_id: row.holder.unit.to_string(),
            handed_in_at: Some(instant_to_pb(row.handed_in)),
            handed_on_at: row.handed_on.map(instant_to_pb),
            allotted: row.allotted.map(working_time_to_pb),
            used: Some(working_time_to_pb(row.used)),
            verdict: row.verdict.map_or(v1::Verdict::Unspecified, |v| {
                verdict_to_pb(FileVerdict::Judged(v))
            }) as i32,
        })
        .collect();
    let steps = slip
        .steps
        .iter()
        .map(|total| v1::StepTotal {
            step_code: step_code(&total.step),
            allotted: total.allotted.map(working_time_to_pb),
            used: Some(working_time_to_pb(total.used)),
            overrun: Some(working_time_to_pb(total.overrun)),
            verdict: total.verdict.map_or(v1::Verdict::Unspecified, |v| {
                verdict_to_pb(FileVerdict::Judged(v))
            }) as i32,
        })
        .collect();
    let attribution = attribute(judgement, now).map(|attribution| {
        let charges = roll_up(catalog, judgement, &attribution);
        v1::Attribution {
            holder_at_breach: Some(holder_to_pb(&attribution.holder_at_breach, None)),
            breached_at: Some(instant_to_pb(attribution.breach_at)),
            lateness: Some(working_time_to_pb(attribution.lateness)),
            shares: attribution
                .shares
                .iter()
                .zip(charges)
                .map(|(share, charge)| v1::Share {
                    officer_id: share
                        .holder
                        .officer
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    unit_id: share.holder.unit.to_string(),
                    head_officer_id: charge
                        .heads
                        .first()
                        .filter(|(unit, _)| unit == &share.holder.unit)
                        .map(|(_, head)| head.to_string())
                        .unwrap_or_default(),
                    step_code: step_code(&share.step),
                    late_working_time: Some(working_time_to_pb(share.amount)),
                    basis: match attribution.basis {
                        ShareBasis::StepOverruns => v1::ShareBasis::StepOverrun,
                        ShareBasis::HolderAtBreach => v1::ShareBasis::HolderAtBreach,
                    } as i32,
                })
                .collect(),
        }
    });
    let rules = rules_broken(judgement, policy, now)
        .into_iter()
        .map(|breach| v1::RuleBreach {
            rule: rule_to_pb(breach.rule) as i32,
            event_id: breach.event.map(|e| e.to_string()).unwrap_or_default(),
            step_code: String::new(),
            detected_at: Some(instant_to_pb(breach.at)),
            detail: format!("{} ({})", breach.detail, breach.basis),
            alert_sequence: 0,
            retracted: false,
        })
        .collect();
    let timeline = history
        .ordered()
        .into_iter()
        .map(|recorded| v1::TimelineEntry {
            event: Some(event_to_pb(&recorded.event)),
            recorded_at: Some(instant_to_pb(recorded.recorded_at)),
            recorded_by: String::new(),
        })
        .collect();
    v1::File {
        file_id: judgement.file_id.to_string(),
        procedure_code: judgement
            .procedure_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        field_code: judgement
            .field
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        channel: judgement
            .channel
            .map_or(v1::Channel::Unspecified, super::channel_to_pb) as i32,
        receiving_unit_id: judgement
            .receiving
            .as_ref()
            .map(|h| h.unit.to_string())
            .unwrap_or_default(),
        receiving_officer_id: judgement
            .receiving
            .as_ref()
            .and_then(|h| h.officer.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        status: status_of(judgement) as i32,
        holder: judgement
            .segments
            .last()
            .filter(|_| judgement.finish.is_none())
            .map(|segment| holder_to_pb(&segment.holder, Some((&segment.step, segment.start)))),
        received_at: judgement.received_at.map(instant_to_pb),
        finished_at: judgement.finish.as_ref().map(|f| instant_to_pb(f.at)),
        timeline,
        control_slip: control_slip_rows,
        steps,
        judgment: Some(judgment_to_pb(judgement, now)),
        attribution,
        rules_broken: rules,
    }
}

fn judgment_to_pb(judgement: &Judgement, now: DateTime<Utc>) -> v1::Judgment {
    let explanation = &judgement.explanation;
    let calendar = judgement.calendar.as_deref();
    let pauses = judgement
        .waits
        .iter()
        .map(|wait| v1::Pause {
            kind: match wait.kind {
                WaitKind::Supplement => v1::WaitKind::Supplement,
                WaitKind::FinancialObligation => v1::WaitKind::FinancialObligation,
                WaitKind::Consultation => v1::WaitKind::Consultation,
                WaitKind::ExpertCouncil => v1::WaitKind::ExpertCouncil,
                WaitKind::SiteVisit => v1::WaitKind::SiteVisit,
            } as i32,
            start: Some(instant_to_pb(wait.start)),
            end: wait.end.map(instant_to_pb),
            stopped_clock: wait.stops_clock,
            restarted_clock: wait.kind == WaitKind::Supplement
                && wait
                    .end
                    .is_some_and(|end| explanation.restarts.iter().any(|restart| *restart >= end)),
            working_time: calendar
                .map(|c| working_time_to_pb(c.elapsed(wait.start, wait.end.unwrap_or(now)))),
        })
        .collect();
    let provisional = match (calendar, judgement.due()) {
        (Some(calendar), Some(due)) => {
            use chrono::Datelike;
            calendar.year_status(calendar.local_date(due).year())
                == dunghan_domain::calendar::YearStatus::Provisional
        }
        _ => false,
    };
    let lateness = judgement.lateness_at(now);
    let verdict = judgement.verdict_at(now);
    v1::Judgment {
        verdict: verdict_to_pb(verdict.clone()) as i32,
        unjudged_reason: unjudged_reason(&judgement.standing),
        verdict_against_extension: if judgement.extended_due().is_some() {
            verdict_to_pb(judgement.extended_verdict_at(now)) as i32
        } else {
            v1::Verdict::Unspecified as i32
        },
        explanation: Some(v1::Explanation {
            calendar_id: explanation
                .calendar
                .as_ref()
                .map(|(id, _)| id.to_string())
                .unwrap_or_default(),
            calendar_revision: explanation
                .calendar
                .as_ref()
                .map_or(0, |(_, v)| u64::from(*v)),
            rule_set: match explanation.rule_set {
                None => v1::RuleSet::Unspecified,
                Some(RuleSet::Decree61Of2018) => v1::RuleSet::Decree612018,
                Some(RuleSet::Decree118Of2025) => v1::RuleSet::Decree1182025,
            } as i32,
            procedure_revision: 0,
            deadline: judgement
                .procedure
                .as_ref()
                .map(|p| super::deadline_to_pb(p.deadline)),
            counting_rule: judgement
                .procedure
                .as_ref()
                .map_or(v1::CountingRule::Unspecified, |p| {
                    super::counting_rule_to_pb(p.counting, p.deadline.unit)
                }) as i32,
            clock_started_at: explanation.clock_started_at.map(instant_to_pb),
            pauses,
            due_at: explanation.due.map(instant_to_pb),
            appointment_at: explanation.appointment.map(instant_to_pb),
            appointment_inflated: matches!(
                (explanation.appointment, explanation.due),
                (Some(appointment), Some(due)) if appointment > due
            ),
            extended_due_at: explanation.extended_due.map(instant_to_pb),
            extended_at: judgement
                .extensions
                .first()
                .map(|e| instant_to_pb(e.issued_at)),
            lateness: (!lateness.is_zero()).then(|| working_time_to_pb(lateness)),
            provisional,
            summary: summary(judgement, &verdict, lateness),
        }),
        // A file finished by `now` keeps the verdict of its finish; an open one is judged now.
        judged_at: Some(instant_to_pb(
            judgement
                .finish
                .as_ref()
                .map_or(now, |finish| finish.at.min(now)),
        )),
    }
}

fn summary(judgement: &Judgement, verdict: &FileVerdict, lateness: WorkingTime) -> String {
    let explanation = &judgement.explanation;
    let mut parts = Vec::new();
    if let Some((calendar, version)) = &explanation.calendar {
        parts.push(format!("calendar {calendar} v{version}"));
    }
    if let Some(rule_set) = explanation.rule_set {
        parts.push(rule_set.label().to_owned());
    }
    if let Some(start) = explanation.clock_started_at {
        parts.push(format!("clock started {}", start.to_rfc3339()));
    }
    for restart in &explanation.restarts {
        parts.push(format!(
            "restarted {} after a complete supplement",
            restart.to_rfc3339()
        ));
    }
    if let Some(budget) = explanation.budget {
        parts.push(format!("budget {budget}"));
    }
    match explanation.due {
        Some(due) => parts.push(format!("due {}", due.to_rfc3339())),
        None if judgement.is_judged() => parts.push("clock stopped: waiting".to_owned()),
        None => {}
    }
    parts.push(format!(
        "verdict {}",
        dunghan_domain::rejudge::verdict_name(verdict)
    ));
    if !lateness.is_zero() {
        parts.push(format!("late by {lateness} of working time"));
    }
    parts.join("; ")
}

fn unjudged_reason(standing: &Standing) -> Option<v1::UnjudgedReason> {
    let Standing::Unjudged { reasons } = standing else {
        return match standing {
            Standing::NotReceived => Some(v1::UnjudgedReason {
                cause: v1::UnjudgedCause::NotReceived as i32,
                missing_id: String::new(),
                detail: "the file has not been received yet".to_owned(),
            }),
            Standing::NotAccepted { .. } | Standing::Judged | Standing::Unjudged { .. } => None,
        };
    };
    let first = reasons.first()?;
    let (cause, missing_id) = match first {
        UnjudgedReason::UnknownProcedure(code) => {
            (v1::UnjudgedCause::UnknownProcedure, code.to_string())
        }
        UnjudgedReason::UnknownUnit(unit) => (v1::UnjudgedCause::UnknownUnit, unit.to_string()),
        UnjudgedReason::UnknownCalendar(id) => {
            (v1::UnjudgedCause::CalendarNotCovered, id.to_string())
        }
        UnjudgedReason::Calendar(_) => (v1::UnjudgedCause::CalendarNotCovered, String::new()),
    };
    Some(v1::UnjudgedReason {
        cause: cause as i32,
        missing_id,
        detail: reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })
}

fn status_of(judgement: &Judgement) -> v1::FileStatus {
    if let Standing::NotAccepted { .. } = judgement.standing {
        return v1::FileStatus::NotAccepted;
    }
    if let Some(finish) = &judgement.finish {
        return match finish.kind {
            FinishKind::Resolved if judgement.returned_at.is_some() => v1::FileStatus::Returned,
            FinishKind::Resolved => v1::FileStatus::Resolved,
            FinishKind::Rejected => v1::FileStatus::Rejected,
            FinishKind::Stopped => v1::FileStatus::Stopped,
            FinishKind::Withdrawn => v1::FileStatus::Withdrawn,
        };
    }
    if judgement.received_at.is_none() {
        return v1::FileStatus::Submitted;
    }
    match judgement
        .waits
        .iter()
        .rev()
        .find(|w| w.end.is_none())
        .map(|w| w.kind)
    {
        Some(WaitKind::Supplement) => v1::FileStatus::WaitingSupplement,
        Some(WaitKind::FinancialObligation) => v1::FileStatus::WaitingFinancialObligation,
        Some(WaitKind::Consultation | WaitKind::ExpertCouncil | WaitKind::SiteVisit) => {
            v1::FileStatus::Paused
        }
        None => v1::FileStatus::InProgress,
    }
}

fn holder_to_pb(holder: &Holder, step: Option<(&StepRef, DateTime<Utc>)>) -> v1::Holder {
    v1::Holder {
        officer_id: holder
            .officer
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        unit_id: holder.unit.to_string(),
        step_code: step.map(|(s, _)| step_code(s)).unwrap_or_default(),
        since: step.map(|(_, at)| instant_to_pb(at)),
    }
}

fn step_code(step: &StepRef) -> String {
    match step {
        StepRef::Planned(code) => code.to_string(),
        StepRef::Unplanned => String::new(),
    }
}
