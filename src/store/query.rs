//! Read-only views of stored files for queries and reports: the facts the pure reports
//! need ([`dunghan_domain::report::FileFacts`]), recovered from a stored summary and the
//! counter contributions kept with it, so no file is re-folded to count it.
//!
//! It only reads; every write goes through the engine.

use dunghan_domain::report::{FactStanding, FileFacts};
use dunghan_domain::stats::Counts;
use dunghan_domain::{OfficerId, WorkingTime};

use super::keys;
use super::state::{FileSummary, SummaryStanding};

impl FileSummary {
    /// The facts of the file that reports count.
    pub fn facts(&self) -> FileFacts {
        let standing = match self.standing {
            SummaryStanding::Judged => FactStanding::Judged,
            SummaryStanding::Unjudged(_) => FactStanding::Unjudged,
            SummaryStanding::NotReceived | SummaryStanding::NotAccepted => FactStanding::NotCounted,
        };
        FileFacts {
            standing,
            received_at: self.received_at,
            due: self.due,
            finished_at: self.finished_at,
            finished_verdict: self.finished_verdict,
            handling: self
                .finish_contribution()
                .map_or(WorkingTime::ZERO, |(_, counts)| {
                    WorkingTime::seconds(counts.handling_seconds)
                }),
            last_event_at: self.newest_event_at,
            channel: self.channel,
            field: self.field.clone(),
            procedure: self.procedure.clone(),
            supplement_requests: self.supplement_requests,
        }
    }

    /// The officer who held a finished file at its end (the officer its verdict is counted
    /// under), or the current holder's officer while it is open.
    pub fn last_officer(&self) -> Option<OfficerId> {
        if self.finished_at.is_none() {
            return self.holder.as_ref().and_then(|h| h.officer.clone());
        }
        self.finish_contribution().and_then(|(officer, _)| officer)
    }

    /// The counter contribution of the file's verdict: its officer and counts.
    fn finish_contribution(&self) -> Option<(Option<OfficerId>, Counts)> {
        self.contributions.iter().find_map(|(key, counts)| {
            if counts.finished() == 0 {
                return None;
            }
            let parsed = keys::parse_counter(key)?;
            Some((parsed.officer, *counts))
        })
    }
}
