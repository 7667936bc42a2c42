//! Durable storage.
//!
//! Owns the event journal, the source of truth for every acknowledged event.
//! It must never let an engine type (`sled::IVec`, `sled::Tree`, `sled::Error`) leave this module.

pub mod codec;
pub mod journal;
