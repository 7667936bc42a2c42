//! Alert decisions (DOMAIN.md §8): for a file's judgement and an instant, which alert
//! conditions hold, and the exact next instant at which one will start to hold, so that a
//! timer can sleep until then instead of polling.
//!
//! `domain` decides; delivery lives elsewhere. Each condition has an identity
//! ([`AlertCondition::identity`]): an alert fires once per identity, and a condition that
//! held before but no longer does (a late event, a calendar change) is retracted.

use chrono::{DateTime, Utc};

use crate::clock::{ClockLine, Judgement, Policy, StepRef};
use crate::ids::StepCode;
use crate::rules::{rules_broken, Rule};
use crate::slip::control_slip;
use crate::time::WorkingTime;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// A step has used the due-soon share (75%) of its allotment.
    StepDueSoon,
    /// A step has used its whole allotment.
    StepOverdue,
    /// The file has the due-soon margin (1 working day) left.
    FileDueSoon,
    /// The file's due time passed while it was open.
    FileOverdue,
    /// A rule was broken.
    RuleBroken(Rule),
}

impl AlertKind {
    /// Snake-case name, e.g. `file_overdue` or `rule_second_extension`.
    pub fn name(self) -> String {
        match self {
            AlertKind::StepDueSoon => "step_due_soon".to_owned(),
            AlertKind::StepOverdue => "step_overdue".to_owned(),
            AlertKind::FileDueSoon => "file_due_soon".to_owned(),
            AlertKind::FileOverdue => "file_overdue".to_owned(),
            AlertKind::RuleBroken(rule) => format!("rule_{}", rule.name()),
        }
    }

    /// How urgent it is.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::StepDueSoon | AlertKind::FileDueSoon => Severity::Info,
            AlertKind::StepOverdue | AlertKind::RuleBroken(_) => Severity::Warning,
            AlertKind::FileOverdue => Severity::Critical,
        }
    }
}

/// Alert severity, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something is coming up.
    Info,
    /// Something went wrong that someone should look at.
    Warning,
    /// A file is overdue.
    Critical,
}

/// One condition that holds for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCondition {
    /// What.
    pub kind: AlertKind,
    /// The step, for step alerts.
    pub step: Option<StepCode>,
    /// Distinguishes occurrences of the same kind and step (a rule's occurrence key).
    pub key: String,
    /// When it started to hold.
    pub at: DateTime<Utc>,
    /// The due time in question (the file's, or the step's).
    pub due_at: Option<DateTime<Utc>>,
    /// What happened, in words.
    pub detail: String,
}

impl AlertCondition {
    /// The identity of the occurrence: one alert per identity per file.
    pub fn identity(&self) -> (AlertKind, Option<StepCode>, String) {
        (self.kind, self.step.clone(), self.key.clone())
    }
}

/// The alert conditions of a file at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPlan {
    /// Conditions that hold at `now`, ordered by instant.
    pub holding: Vec<AlertCondition>,
    /// The next instant after `now` at which a new condition will hold, if nothing else
    /// happens to the file.
    pub next_at: Option<DateTime<Utc>>,
}

/// Decides which alerts hold for `judgement` at `now`, and when the next one will.
pub fn alert_plan(judgement: &Judgement, policy: &Policy, now: DateTime<Utc>) -> AlertPlan {
    let mut all = deadline_conditions(judgement, policy, now);
    let mut next_at: Option<DateTime<Utc>> = None;
    let mut consider_future = |at: DateTime<Utc>| {
        if at > now {
            next_at = Some(next_at.map_or(at, |next| next.min(at)));
        }
    };
    for condition in &all {
        consider_future(condition.at);
    }
    all.retain(|condition| condition.at <= now);
    for breach in rules_broken(judgement, policy, now) {
        all.push(AlertCondition {
            kind: AlertKind::RuleBroken(breach.rule),
            step: None,
            key: breach.key,
            at: breach.at,
            due_at: judgement.due(),
            detail: format!("{} ({})", breach.detail, breach.basis),
        });
    }
    // A late file with no timely extension becomes a breach at the due time.
    if let Some(due) = judgement.due() {
        if judgement.finish.is_none() {
            consider_future(due);
        }
    }
    all.sort_by_key(|condition| (condition.at, condition.identity()));
    AlertPlan {
        holding: all,
        next_at,
    }
}

/// Deadline conditions at every instant they hold or will hold if the file stays as is
/// (past and future; the caller splits them at `now`).
fn deadline_conditions(
    judgement: &Judgement,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<AlertCondition> {
    let mut conditions = Vec::new();
    let (Some(calendar), Some(line)) = (judgement.calendar.as_deref(), judgement.clock.as_ref())
    else {
        return conditions;
    };
    let finish_at = judgement.finish.as_ref().map(|f| f.at);
    let open_at = |at: DateTime<Utc>| finish_at.is_none_or(|finish| finish > at);
    if let Some(due) = judgement.due() {
        let margin = calendar
            .standard_day()
            .saturating_mul(i64::from(policy.file_due_soon_days));
        let soon_budget = line.budget.saturating_sub(margin);
        if let Ok(Some(soon_at)) = line.instant_after(calendar, line.start, soon_budget) {
            if open_at(soon_at) && soon_at < due {
                conditions.push(AlertCondition {
                    kind: AlertKind::FileDueSoon,
                    step: None,
                    key: String::new(),
                    at: soon_at,
                    due_at: Some(due),
                    detail: format!("{margin} of working time left"),
                });
            }
        }
        if open_at(due) {
            conditions.push(AlertCondition {
                kind: AlertKind::FileOverdue,
                step: None,
                key: String::new(),
                at: due,
                due_at: Some(due),
                detail: "the due time passed with the file open".to_owned(),
            });
        }
    }
    // Step alerts: the instant a step's used time crosses a threshold while it is held.
    let charged_line = ClockLine {
        start: line.start,
        budget: line.budget,
        stops: judgement.excluded_spans(),
    };
    let slip = control_slip(judgement, now);
    for total in &slip.steps {
        let (StepRef::Planned(code), Some(allotted)) = (&total.step, total.allotted) else {
            continue;
        };
        let soon = WorkingTime::seconds(
            allotted.as_secs() * i64::from(policy.step_due_soon_percent.min(100)) / 100,
        );
        for (kind, threshold) in [
            (AlertKind::StepDueSoon, soon),
            (AlertKind::StepOverdue, allotted),
        ] {
            if let Some(at) = crossing(judgement, calendar, &charged_line, &total.step, threshold) {
                conditions.push(AlertCondition {
                    kind,
                    step: Some(code.clone()),
                    key: String::new(),
                    at,
                    due_at: total.due_at,
                    detail: format!("step {code}: {threshold} of {allotted} used"),
                });
            }
        }
    }
    conditions
}

/// The instant at which a step's used time, summed over its rows, first exceeds
/// `threshold` (reaches it, for a zero threshold) while a holder of that step has the file;
/// future instants are included for the open row.
fn crossing(
    judgement: &Judgement,
    calendar: &crate::calendar::Calendar,
    charged_line: &ClockLine,
    step: &StepRef,
    threshold: WorkingTime,
) -> Option<DateTime<Utc>> {
    let started = judgement.explanation.clock_started_at?;
    let finish_at = judgement.finish.as_ref().map(|f| f.at);
    let mut used = WorkingTime::ZERO;
    for segment in judgement.segments.iter().filter(|s| &s.step == step) {
        let from = segment.start.max(started);
        let end = match (segment.end, finish_at) {
            (Some(end), _) => Some(end),
            (None, Some(finish)) => Some(finish),
            (None, None) => None,
        };
        let remaining = threshold.saturating_sub(used);
        let at = charged_line
            .instant_after(calendar, from, remaining)
            .ok()
            .flatten()?;
        match end {
            Some(end) if at >= end => {
                used += charged_line.counted(calendar, from, end);
            }
            _ => return Some(at),
        }
    }
    None
}
