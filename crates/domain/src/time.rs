//! Spans of instants and lengths of working time.
//!
//! Instants are `DateTime<Utc>` everywhere in the domain; local time exists only inside
//! [`crate::calendar`]. Intervals are half-open `[start, end)`, and [`Span`] checks
//! `start <= end` once, in its constructor. Lengths of working time are [`WorkingTime`],
//! whole seconds, never negative.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A half-open interval of instants `[start, end)` with `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A span whose end lies before its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("span ends at {end} before it starts at {start}")]
pub struct SpanError {
    /// The requested start.
    pub start: DateTime<Utc>,
    /// The requested end, earlier than `start`.
    pub end: DateTime<Utc>,
}

impl Span {
    /// Makes the span `[start, end)`.
    ///
    /// # Errors
    /// [`SpanError`] if `end < start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, SpanError> {
        if end < start {
            return Err(SpanError { start, end });
        }
        Ok(Self { start, end })
    }

    /// The first instant of the span.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The first instant after the span.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Whether `instant` lies in `[start, end)`.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }

    /// The overlap of two spans, if they share at least one instant.
    pub fn intersection(&self, other: &Span) -> Option<Span> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(Span { start, end })
    }

    /// Whether the span has no instants.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}

/// A length of working time, in whole seconds, never negative.
///
/// Working time is counted on a calendar's working-time line: an hour of working time
/// may span a lunch break or a weekend in wall-clock time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkingTime(i64);

impl WorkingTime {
    /// No working time.
    pub const ZERO: WorkingTime = WorkingTime(0);

    /// `secs` seconds of working time; negative values are clamped to zero.
    pub const fn seconds(secs: i64) -> Self {
        if secs < 0 {
            Self(0)
        } else {
            Self(secs)
        }
    }

    /// `minutes` minutes of working time; negative values are clamped to zero.
    pub const fn minutes(minutes: i64) -> Self {
        Self::seconds(minutes.saturating_mul(60))
    }

    /// `hours` hours of working time; negative values are clamped to zero.
    pub const fn hours(hours: i64) -> Self {
        Self::seconds(hours.saturating_mul(3600))
    }

    /// The length in whole seconds.
    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// Whether this is no time at all.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self - other`, or zero if `other` is longer.
    pub const fn saturating_sub(self, other: WorkingTime) -> WorkingTime {
        Self::seconds(self.0 - other.0)
    }

    /// `self + other`, saturating at the largest representable length.
    pub const fn saturating_add(self, other: WorkingTime) -> WorkingTime {
        Self(self.0.saturating_add(other.0))
    }

    /// `self * factor`, saturating.
    pub const fn saturating_mul(self, factor: i64) -> WorkingTime {
        Self::seconds(self.0.saturating_mul(factor))
    }

    /// The same length as a `chrono::Duration`.
    pub fn to_duration(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0)
    }
}

impl Add for WorkingTime {
    type Output = WorkingTime;
    fn add(self, rhs: WorkingTime) -> WorkingTime {
        self.saturating_add(rhs)
    }
}

impl AddAssign for WorkingTime {
    fn add_assign(&mut self, rhs: WorkingTime) {
        *self = self.saturating_add(rhs);
    }
}

impl Sum for WorkingTime {
    fn sum<I: Iterator<Item = WorkingTime>>(iter: I) -> WorkingTime {
        iter.fold(WorkingTime::ZERO, Add::add)
    }
}

impl fmt::Display for WorkingTime {
    /// Formats as `HhMMmSSs` working time, e.g. `16h00m00s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        write!(
            f,
            "{}h{:02}m{:02}s",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 6, h, 0, 0).unwrap()
    }

    #[test]
    fn span_refuses_reversed_bounds() {
        assert_eq!(
            Span::new(at(5), at(4)),
            Err(SpanError {
                start: at(5),
                end: at(4)
            })
        );
        assert!(Span::new(at(4), at(4)).unwrap().is_empty());
    }

    #[test]
    fn span_is_half_open() {
        let span = Span::new(at(1), at(3)).unwrap();
        assert!(span.contains(at(1)));
        assert!(!span.contains(at(3)));
    }

    #[test]
    fn working_time_never_negative() {
        assert_eq!(WorkingTime::seconds(-5), WorkingTime::ZERO);
        assert_eq!(
            WorkingTime::hours(1).saturating_sub(WorkingTime::hours(2)),
            WorkingTime::ZERO
        );
        assert_eq!(WorkingTime::hours(16).to_string(), "16h00m00s");
    }
}
