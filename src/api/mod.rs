//! The gRPC face of the service: conversions between the wire API (`dunghan.v1`) and the
//! domain types, and (in later work) the tonic services.
//!
//! This module must never be used by `store`, `alerts` or `domain`: dependencies point from
//! `api` inwards only.

pub mod convert;
