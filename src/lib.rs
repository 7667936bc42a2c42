//! dunghan: monitors administrative-procedure files against their published deadlines.

pub mod store;
