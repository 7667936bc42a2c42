//! dunghan: monitors administrative-procedure files against their published deadlines.
//!
//! The service crate: configuration, the catalog document, storage, gRPC API and alert
//! delivery around the pure core in `dunghan-domain`.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod backup;
pub mod catalog_file;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod index;
pub mod metrics;
pub mod proto;
pub mod server;
pub mod store;
pub mod tls;
