//! Re-judging (DOMAIN.md §10): when a calendar, procedure or rule set changes with an
//! earlier effective date, the files whose intervals it touches are judged again. The dry
//! run lists the verdicts that would change; the caller applies it and keeps the old
//! verdicts in its audit trail.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::Catalog;
use crate::clock::{judge, FileVerdict, Judgement, Policy};
use crate::event::FileHistory;
use crate::ids::FileId;

/// How one file's verdict changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    /// The file.
    pub file_id: FileId,
    /// Verdict under the old catalog.
    pub before: FileVerdict,
    /// Verdict under the new catalog.
    pub after: FileVerdict,
    /// Due time under the old catalog.
    pub due_before: Option<DateTime<Utc>>,
    /// Due time under the new catalog.
    pub due_after: Option<DateTime<Utc>>,
}

/// Counts of changes by (before, after), for the "12 files flip from late to on time" line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejudgeSummary {
    /// Files examined.
    pub examined: usize,
    /// Files whose verdict or due time changes.
    pub changed: usize,
    /// Number of files per (before, after) verdict name.
    pub flips: BTreeMap<(String, String), usize>,
}

/// Whether a change effective from `effective_from` can touch the file: its interval from
/// receipt to finish (or `now` while open) reaches that date. Files not received are never
/// touched.
pub fn touches(judgement: &Judgement, effective_from: NaiveDate, now: DateTime<Utc>) -> bool {
    let Some(received) = judgement.received_at else {
        return false;
    };
    let end = judgement
        .finish
        .as_ref()
        .map_or(now, |finish| finish.at)
        .max(received);
    // Due times may fall after the finish; a change before the due date still matters.
    let end = judgement.due().map_or(end, |due| end.max(due));
    let end_date = judgement
        .local_date(end)
        .unwrap_or_else(|| end.date_naive());
    end_date >= effective_from
}

/// Judges each history under `before` and `after` and lists the files whose verdict at
/// `now` or whose due time changes, in file-id order.
pub fn rejudge<'a>(
    before: &Catalog,
    after: &Catalog,
    policy: &Policy,
    histories: impl IntoIterator<Item = &'a FileHistory>,
    now: DateTime<Utc>,
) -> (Vec<VerdictChange>, RejudgeSummary) {
    let mut changes = Vec::new();
    let mut summary = RejudgeSummary::default();
    for history in histories {
        summary.examined += 1;
        let old = judge(before, policy, history);
        let new = judge(after, policy, history);
        let (verdict_before, verdict_after) = (old.verdict_at(now), new.verdict_at(now));
        if verdict_before == verdict_after && old.due() == new.due() {
            continue;
        }
        summary.changed += 1;
        if verdict_before != verdict_after {
            *summary
                .flips
                .entry((verdict_name(&verdict_before), verdict_name(&verdict_after)))
                .or_default() += 1;
        }
        changes.push(VerdictChange {
            file_id: history.file_id().clone(),
            before: verdict_before,
            after: verdict_after,
            due_before: old.due(),
            due_after: new.due(),
        });
    }
    changes.sort_by(|a, b| a.file_id.cmp(&b.file_id));
    (changes, summary)
}

/// The name of a file verdict: a verdict's name, `not_counted` or `unjudged`.
pub fn verdict_name(verdict: &FileVerdict) -> String {
    match verdict {
        FileVerdict::Judged(verdict) => verdict.name().to_owned(),
        FileVerdict::NotCounted => "not_counted".to_owned(),
        FileVerdict::Unjudged => "unjudged".to_owned(),
    }
}

impl fmt::Display for RejudgeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files examined, {} change",
            self.examined, self.changed
        )?;
        for ((from, to), count) in &self.flips {
            let from = from.replace('_', " ");
            let to = to.replace('_', " ");
            write!(f, "; {count} files flip from {from} to {to}")?;
        }
        Ok(())
    }
}
