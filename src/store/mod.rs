//! Durable storage.
//!
//! Owns the event journal, the source of truth for every acknowledged event, and the derived
//! state in sled (`state`), which can always be rebuilt from the journal.
//! It must never let an engine type (`sled::IVec`, `sled::Tree`, `sled::Error`) leave this module.

pub mod alerts;
pub mod codec;
pub mod journal;
mod keys;
mod query;
pub mod state;

pub use alerts::{AlertRecord, EmittedAlert};
pub use state::{
    DedupeEntry, FileStatus, FileSummary, StateBatch, Store, StoreError, SummaryStanding,
};
