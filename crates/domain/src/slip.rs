//! The control slip (Phiếu kiểm soát quá trình giải quyết hồ sơ) and attribution of
//! lateness (DOMAIN.md §6).
//!
//! Handover events cut a file's time into holder segments; each row of the slip is one
//! segment with its step, its used working time and the step's verdict. For a late file,
//! [`attribute`] splits the lateness over the steps that overran, in whole seconds, the
//! shares adding up to exactly the lateness; time waiting for the applicant is charged
//! to no one. [`roll_up`] then charges each share to the officer's unit at that time,
//! its ancestors, and their heads at that time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::clock::{FileVerdict, Judgement, StepRef, Verdict};
use crate::event::Holder;
use crate::ids::{OfficerId, UnitId};
use crate::time::WorkingTime;

/// One row of the control slip: one holder's time with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlipRow {
    /// Who held the file.
    pub holder: Holder,
    /// Which step.
    pub step: StepRef,
    /// Handed in.
    pub handed_in: DateTime<Utc>,
    /// Handed on; `None` while held.
    pub handed_on: Option<DateTime<Utc>>,
    /// The step's allotment (`None` for unplanned work).
    pub allotted: Option<WorkingTime>,
    /// Working time used in this row, less time charged to no one.
    pub used: WorkingTime,
    /// The step's verdict as of this row's end.
    pub verdict: Option<Verdict>,
}

/// One step's totals over all its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTotal {
    /// The step.
    pub step: StepRef,
    /// Allotted working time (`None` for unplanned work).
    pub allotted: Option<WorkingTime>,
    /// Used working time over all its rows.
    pub used: WorkingTime,
    /// When the allotment runs out, counted from the step's first handover in.
    pub due_at: Option<DateTime<Utc>>,
    /// Whether the step is still being worked on.
    pub open: bool,
    /// Verdict: early / on time / late once handed on; within time / overdue while open.
    pub verdict: Option<Verdict>,
    /// Overrun: `max(0, used - allotted)`.
    pub overrun: WorkingTime,
}

/// The control slip of a file at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSlip {
    /// Rows in order of handover.
    pub rows: Vec<SlipRow>,
    /// Totals per step, in the procedure's order, unplanned last.
    pub steps: Vec<StepTotal>,
}

/// What lateness is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareBasis {
    /// In proportion to each step's overrun.
    StepOverruns,
    /// No step overran: all of it goes to the holder at breach.
    HolderAtBreach,
}

/// One holder's share of a late file's lateness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Who.
    pub holder: Holder,
    /// For which step.
    pub step: StepRef,
    /// When this holder's time with the file began (for dated unit and head lookups).
    pub held_from: DateTime<Utc>,
    /// How much lateness, whole seconds.
    pub amount: WorkingTime,
}

/// Who answers for a late file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// The lateness `L`.
    pub lateness: WorkingTime,
    /// The instant the file became overdue (its due time).
    pub breach_at: DateTime<Utc>,
    /// Who held it then. Always recorded.
    pub holder_at_breach: Holder,
    /// How the shares were split.
    pub basis: ShareBasis,
    /// The shares, none of them zero; they add up to exactly `lateness` (no shares when a
    /// file finished after its due time without losing working time, e.g. at 17:01).
    pub shares: Vec<Share>,
}

/// A share charged to an officer, their unit at that time, its ancestors and their heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The officer, if the holder names one.
    pub officer: Option<OfficerId>,
    /// The holder's unit, then each ancestor up to the root, as in force at that time.
    pub units: Vec<UnitId>,
    /// The head of each unit in `units` at that time, where one was appointed.
    pub heads: Vec<(UnitId, OfficerId)>,
    /// The step.
    pub step: StepRef,
    /// The amount of lateness.
    pub amount: WorkingTime,
}

/// The control slip of `judgement` at `now` (open rows run until `now`).
pub fn control_slip(judgement: &Judgement, now: DateTime<Utc>) -> ControlSlip {
    let (Some(calendar), Some(started)) = (
        judgement.calendar.as_deref(),
        judgement.explanation.clock_started_at,
    ) else {
        return ControlSlip {
            rows: Vec::new(),
            steps: Vec::new(),
        };
    };
    let end_of_file = judgement.finish.as_ref().map_or(now, |f| f.at);
    let allotted_of = |step: &StepRef| match (step, &judgement.procedure) {
        (StepRef::Planned(code), Some(procedure)) => procedure.step(code).map(|s| s.allotted),
        _ => None,
    };
    let mut totals: BTreeMap<StepRef, (WorkingTime, DateTime<Utc>, bool)> = BTreeMap::new();
    let mut rows = Vec::with_capacity(judgement.segments.len());
    for segment in &judgement.segments {
        let from = segment.start.max(started);
        let to = segment.end.unwrap_or(end_of_file).min(end_of_file);
        let used = if to > from {
            calendar
                .elapsed(from, to)
                .saturating_sub(judgement.excluded_time(calendar, from, to))
        } else {
            WorkingTime::ZERO
        };
        let entry =
            totals
                .entry(segment.step.clone())
                .or_insert((WorkingTime::ZERO, segment.start, false));
        entry.0 += used;
        entry.2 = segment.end.is_none() && judgement.finish.is_none();
        let allotted = allotted_of(&segment.step);
        let verdict = allotted.map(|allotted| {
            if entry.0 > allotted {
                if entry.2 {
                    Verdict::Overdue
                } else {
                    Verdict::Late
                }
            } else if entry.2 {
                Verdict::WithinTime
            } else {
                Verdict::OnTime
            }
        });
        rows.push(SlipRow {
            holder: segment.holder.clone(),
            step: segment.step.clone(),
            handed_in: segment.start,
            handed_on: segment.end,
            allotted,
            used,
            verdict,
        });
    }
    let mut steps: Vec<StepTotal> = totals
        .into_iter()
        .map(|(step, (used, first_in, open))| {
            let allotted = allotted_of(&step);
            let due_at = allotted.and_then(|allotted| {
                let line = judgement.clock.as_ref()?;
                line.instant_after(calendar, first_in.max(started), allotted)
                    .ok()
                    .flatten()
            });
            let last_out = rows
                .iter()
                .filter(|row| row.step == step)
                .filter_map(|row| row.handed_on)
                .max();
            let verdict = allotted.map(|allotted| match (open, used > allotted) {
                (true, true) => Verdict::Overdue,
                (true, false) => Verdict::WithinTime,
                (false, true) => Verdict::Late,
                (false, false) => match (last_out, due_at) {
                    (Some(out), Some(due))
                        if calendar.local_date(out) < calendar.local_date(due) =>
                    {
                        Verdict::Early
                    }
                    _ => Verdict::OnTime,
                },
            });
            StepTotal {
                overrun: allotted.map_or(WorkingTime::ZERO, |a| used.saturating_sub(a)),
                step,
                allotted,
                used,
                due_at,
                open,
                verdict,
            }
        })
        .collect();
    let order = |step: &StepRef| match (step, &judgement.procedure) {
        (StepRef::Planned(code), Some(procedure)) => {
            procedure.step_index(code).unwrap_or(usize::MAX - 1)
        }
        _ => usize::MAX,
    };
    steps.sort_by_key(|total| order(&total.step));
    ControlSlip { rows, steps }
}

/// Who answers for the lateness of a late or overdue file at `now`; `None` if the file is
/// not late (or not judged).
pub fn attribute(judgement: &Judgement, now: DateTime<Utc>) -> Option<Attribution> {
    let FileVerdict::Judged(verdict) = judgement.verdict_at(now) else {
        return None;
    };
    if !verdict.is_breach() {
        return None;
    }
    let breach_at = judgement.due()?;
    let breach_segment = judgement.holder_at(breach_at)?;
    let lateness = judgement.lateness_at(now);
    let slip = control_slip(judgement, now);
    let overrunning: Vec<&StepTotal> = slip
        .steps
        .iter()
        .filter(|total| !total.overrun.is_zero())
        .collect();
    let mut shares = Vec::new();
    let basis = if overrunning.is_empty() {
        if !lateness.is_zero() {
            shares.push(Share {
                holder: breach_segment.holder.clone(),
                step: breach_segment.step.clone(),
                held_from: breach_segment.start,
                amount: lateness,
            });
        }
        ShareBasis::HolderAtBreach
    } else {
        let weights: Vec<i64> = overrunning.iter().map(|t| t.overrun.as_secs()).collect();
        let step_amounts = split_exactly(lateness.as_secs(), &weights);
        for (total, step_amount) in overrunning.iter().zip(step_amounts) {
            let rows: Vec<&SlipRow> = slip.rows.iter().filter(|r| r.step == total.step).collect();
            let row_weights: Vec<i64> = rows.iter().map(|r| r.used.as_secs()).collect();
            for (row, amount) in rows.iter().zip(split_exactly(step_amount, &row_weights)) {
                if amount > 0 {
                    shares.push(Share {
                        holder: row.holder.clone(),
                        step: row.step.clone(),
                        held_from: row.handed_in,
                        amount: WorkingTime::seconds(amount),
                    });
                }
            }
        }
        ShareBasis::StepOverruns
    };
    Some(Attribution {
        lateness,
        breach_at,
        holder_at_breach: breach_segment.holder.clone(),
        basis,
        shares,
    })
}

/// Charges each share to the holder's unit at that time, its ancestors, and their heads.
pub fn roll_up(catalog: &Catalog, judgement: &Judgement, attribution: &Attribution) -> Vec<Charge> {
    attribution
        .shares
        .iter()
        .map(|share| {
            let date = judgement
                .local_date(share.held_from)
                .unwrap_or_else(|| share.held_from.date_naive());
            let units = catalog.ancestry_at(&share.holder.unit, date);
            let heads = units
                .iter()
                .filter_map(|unit| Some((unit.clone(), catalog.head_at(unit, date)?.clone())))
                .collect();
            Charge {
                officer: share.holder.officer.clone(),
                units,
                heads,
                step: share.step.clone(),
                amount: share.amount,
            }
        })
        .collect()
}

/// Splits `total` into parts proportional to `weights`, in whole units, adding up to
/// exactly `total`.
///
/// Each part is first rounded down; the remainder goes one unit at a time to the parts
/// with the largest fractional remainder, ties to the earlier part (the fixed rule).
/// With no positive weight, everything goes to the first part. Negative weights count as 0.
pub fn split_exactly(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let total = total.max(0);
    let weights: Vec<i128> = weights.iter().map(|w| i128::from((*w).max(0))).collect();
    let sum: i128 = weights.iter().sum();
    let mut parts = vec![0_i64; weights.len()];
    if sum == 0 {
        parts[0] = total;
        return parts;
    }
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (idx, weight) in weights.iter().enumerate() {
        let exact = i128::from(total) * weight;
        let part = exact / sum;
        given += part;
        parts[idx] = i64::try_from(part).unwrap_or(i64::MAX);
        remainders.push((exact % sum, idx));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = i64::try_from(i128::from(total) - given).unwrap_or(0);
    for (_, idx) in remainders.iter().take(usize::try_from(left).unwrap_or(0)) {
        parts[*idx] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn split_gives_remainder_to_largest_fraction_then_earliest() {
        assert_eq!(split_exactly(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(split_exactly(10, &[1, 2]), [3, 7]);
        assert_eq!(split_exactly(7, &[0, 0]), [7, 0]);
        assert_eq!(split_exactly(0, &[5, 5]), [0, 0]);
    }

    proptest! {
        #[test]
        fn split_adds_up_exactly(total in 0_i64..10_000_000_000, weights in proptest::collection::vec(0_i64..1_000_000_000, 1..12)) {
            let parts = split_exactly(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            prop_assert!(parts.iter().all(|p| *p >= 0));
            let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            if sum > 0 {
                for (part, weight) in parts.iter().zip(&weights) {
                    // Each part is within one unit of its exact proportional value.
                    let exact = i128::from(total) * i128::from(*weight);
                    let scaled = i128::from(*part) * sum;
                    prop_assert!((scaled - exact).abs() < sum);
                }
            }
        }
    }
}
