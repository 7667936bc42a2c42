//! The pure core of dunghan: everything that decides whether an administrative-procedure
//! file is late and who answers for it.
//!
//! It owns the working calendar ([`calendar`]), the catalog model ([`catalog`]), events
//! ([`event`]), the file clock and verdicts ([`clock`]), the control slip and attribution
//! ([`slip`]), rules broken ([`rules`]), alert decisions ([`alert`]), re-judging
//! ([`rejudge`]) and reports ([`report`]).
//!
//! Invariants, enforced by this crate's `Cargo.toml` and by review:
//! - No I/O, no tokio, sled, tonic, prost or tracing.
//! - It never reads the clock: `now` is always an argument (chrono's `clock` feature is off).
//! - It never panics on input: bad input is an `Err` value.
//! - It is deterministic: the same input gives the same output (`BTreeMap`, or sorted).
//! - It works on validated domain types, never on wire messages.

pub mod alert;
pub mod calendar;
pub mod catalog;
pub mod clock;
pub mod event;
pub mod ids;
pub mod rejudge;
pub mod report;
pub mod rules;
pub mod slip;
pub mod stats;
pub mod time;

pub use ids::{
    CalendarId, EventId, FieldCode, FileId, IdError, OfficerId, ProcedureCode, SourceId, StepCode,
    UnitId,
};
pub use time::{Span, SpanError, WorkingTime};
