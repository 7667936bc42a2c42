//! The gRPC face of the service: conversions between the wire API (`dunghan.v1`) and the
//! domain types, the tonic services, and the mapping of errors to statuses.
//!
//! This module must never be used by `store`, `alerts` or `domain`: dependencies point from
//! `api` inwards only.

pub mod alerts;
pub mod catalog;
pub mod convert;
pub mod ingest;
pub mod query;
mod status;
